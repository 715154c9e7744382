"""Checks on every API request body, before any route sees it: JSON only, and not too big."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlour.domain import errors
from parlour.web.errors import STATUS, error_response

_BODY_METHODS = {b"POST", b"PUT", b"PATCH", b"DELETE"}


class BodyGuard:
    """Refuse a request body that is not JSON (415) or is larger than `max_bytes` (413).

    A JSON content type also makes every cross-site browser write a CORS-preflighted
    request, which is half of Parlour's CSRF defence (the other half is the Origin check).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/api/") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].encode() not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        try:
            declared = int(length) if length is not None else None
        except ValueError:
            declared = None
        has_body = chunked or (declared is not None and declared > 0)
        if not has_body:
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await self._refuse(errors.RequestTooLarge(limit_bytes=self.max_bytes), scope, receive, send)
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json":
            await self._refuse(errors.UnsupportedMediaType(), scope, receive, send)
            return

        if declared is not None:
            await self.app(scope, receive, send)  # the server holds a body to its Content-Length
            return
        # Chunked: read it all here (it is small by definition) so that too much is a 413
        # before any route starts parsing.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(errors.RequestTooLarge(limit_bytes=self.max_bytes), scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(exc: errors.ParlourError, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(STATUS[exc.kind], exc.code(), exc.message, exc.details)
        await response(scope, receive, send)
