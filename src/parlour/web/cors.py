"""CORS for the API, answered per origin from the sites' allowed origins.

An origin that any site allows may read the public API and send writes; the service then
checks that a write's origin belongs to *that* site. No credentials are involved: the
widget authenticates with headers (reader, edit and writer tokens), never cookies, so it
works with third-party cookies blocked.
"""

from __future__ import annotations

from collections.abc import Container

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Idempotency-Key, X-Parlour-Reader, X-Parlour-SSO, X-Parlour-Account"
)
EXPOSE_HEADERS = "ETag"


class SiteCors:
    def __init__(self, app: ASGIApp, origins: Container[str], prefix: str = "/api/") -> None:
        self.app = app
        self.origins = origins
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = origin in self.origins
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response = Response(status_code=204 if allowed else 403, headers={"Vary": "Origin"})
            if allowed:
                response.headers.update(
                    {
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": ALLOW_METHODS,
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": "600",
                    }
                )
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["Access-Control-Allow-Origin"] = origin
                    out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)
