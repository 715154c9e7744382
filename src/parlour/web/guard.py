"""Checks on every request body, before any route sees it: the content type each part of
Parlour takes (JSON for the API, a urlencoded form for the desk; multipart for the few
bytes of a mail client's one-click unsubscribe, which nothing parses, and for the desk's
import page, whose upload of up to IMPORT_MAX_BYTES Starlette spools to a temporary
file), and not too big."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlour.domain import errors
from parlour.web.errors import error_for

_BODY_METHODS = {b"POST", b"PUT", b"PATCH", b"DELETE"}


FORM_MAX_BYTES = 262_144  # the desk's largest form: a site's settings with long word lists
IMPORT_MAX_BYTES = 50_000_000  # the desk's import page: an export file, spooled to disk
MAIL_LINK_MAX_BYTES = 4_096  # a mail link's button, or RFC 8058's "List-Unsubscribe=One-Click"
_JSON = b"application/json"
_FORM = b"application/x-www-form-urlencoded"
_MULTIPART = b"multipart/form-data"


class BodyGuard:
    """Refuse a request body of the wrong type (415) or larger than its limit (413),
    before any of it is parsed: API bodies are JSON of at most `max_bytes`, desk forms are
    urlencoded, at most FORM_MAX_BYTES (or `max_bytes` if larger), mail links' POSTs a
    form of at most MAIL_LINK_MAX_BYTES; no other path takes a body.

    A JSON content type also makes every cross-site browser write to the API a
    CORS-preflighted request, which is half of Parlour's CSRF defence (the other half is
    the Origin check).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.api_max = max_bytes
        self.form_max = max(max_bytes, FORM_MAX_BYTES)

    def _rule(self, path: str) -> tuple[tuple[bytes, ...], int]:
        """The content types a path takes, and how many bytes of them."""
        if path.startswith("/api/"):
            return (_JSON,), self.api_max
        if path.startswith("/desk/sites/") and path.endswith("/import"):  # web/desk_imports.py
            return (_MULTIPART, _FORM), IMPORT_MAX_BYTES
        if path.startswith("/desk/") or path == "/desk":
            return (_FORM,), self.form_max
        if path.startswith("/mail/"):  # the views never read these bodies (web/mail_pages.py)
            return (_FORM, _MULTIPART), MAIL_LINK_MAX_BYTES
        if path.startswith("/readers/"):  # the reader's sign-in popup: two small forms
            return (_FORM,), MAIL_LINK_MAX_BYTES
        return (), 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"].encode() not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        expected, limit = self._rule(scope["path"])
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
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type not in expected:
            text = (
                f"Send the request body as {expected[0].decode()}."
                if expected
                else "This address takes no body."
            )
            refusal = errors.UnsupportedMediaType(text, expected=expected[0].decode() if expected else None)
            await self._refuse(refusal, scope, receive, send)
            return
        coding = headers.get(b"content-encoding", b"").strip().lower()
        if coding not in (b"", b"identity"):  # RFC 9110, 15.5.16: a coding not taken is a 415
            refusal = errors.UnsupportedMediaType(
                "Send the request body as it is, without a Content-Encoding.",
                content_encoding=coding.decode("latin-1")[:40],
            )
            await self._refuse(refusal, scope, receive, send, {"Accept-Encoding": "identity"})
            return
        if declared is not None and declared > limit:
            await self._refuse(errors.RequestTooLarge(limit_bytes=limit), scope, receive, send)
            return

        if declared is not None:
            await self.app(scope, receive, send)  # the server holds a body to its Content-Length
            return
        # Chunked: read it all here so that too much is a 413 before any route starts
        # parsing. Held in memory, so never more than a form's worth, even where a declared
        # length may be larger (an import's upload: browsers always declare it).
        limit = min(limit, self.form_max)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._refuse(errors.RequestTooLarge(limit_bytes=limit), scope, receive, send)
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
    async def _refuse(
        exc: errors.ParlourError,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str] | None = None,
    ) -> None:
        response = error_for(exc)
        response.headers.update(headers or {})
        await response(scope, receive, send)
