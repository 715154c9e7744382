"""CORS for the API, answered per origin from the sites' allowed origins.

An origin that any site allows may read the public API and send writes; the service then
checks that a write's origin belongs to *that* site. No credentials are involved: the
widget authenticates with headers (reader, edit and writer tokens), never cookies, so it
works with third-party cookies blocked.

A read from an origin that no site allows gets no data, but a 403 `origin_not_allowed`
that the page may read (its preflight is answered too): a widget on a blog whose origin
was never added can then say so, instead of failing like a network error.
"""

from __future__ import annotations

from collections.abc import Container

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlour.domain.errors import OriginNotAllowed
from parlour.web.errors import error_for

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
        refused_read = not allowed and origin != _own_origin(scope, headers)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            read = headers["access-control-request-method"] in ("GET", "HEAD")
            response = Response(status_code=204 if allowed or read else 403, headers={"Vary": "Origin"})
            if allowed or read:
                response.headers.update(
                    {
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": ALLOW_METHODS if allowed else "GET, HEAD",
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": "600",
                    }
                )
            await response(scope, receive, send)
            return
        if refused_read and scope["method"] in ("GET", "HEAD"):
            message = (
                f"No site here lists {origin} as its origin: add it to the site's origins "
                f"(parlour site set SITE --origin {origin}, with the origins it has)."
            )
            response = error_for(OriginNotAllowed(message, origin=origin))
            response.headers.update({"Vary": "Origin", "Access-Control-Allow-Origin": origin})
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


def _own_origin(scope: Scope, headers: Headers) -> str | None:
    """Parlour's own origin as this request names it (its own pages are always allowed)."""
    host = headers.get("host")
    return f"{scope['scheme']}://{host}" if host else None
