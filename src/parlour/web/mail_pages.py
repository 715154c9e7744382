"""The pages reply mail links to: confirm an address, stop mail (services/notifications.py).

Each link opens a page with one button, and only the button's POST changes anything, so
a mail scanner that follows links confirms or stops nothing. A POST to a leave link is
also RFC 8058's one-click unsubscribe: mail clients send `List-Unsubscribe=One-Click`
as a form (urlencoded or multipart); the token is in the URL, so the body is not read.
The token is in the URL, so these pages send no Referer, and are never cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from parlour.domain import errors
from parlour.services import notifications
from parlour.web import http
from parlour.web.errors import status_of
from parlour.web.pages import templates

HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
}


def _page(template: str, status: int = 200, **values: Any) -> Response:
    html = templates.get_template(f"mail/{template}").render(**values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


async def _answer(request: Request, template: str, service: Callable[[str], Any]) -> Response:
    ctx = http.context(request)
    token = request.query_params.get("token", "")
    try:
        found = await http.call(ctx, lambda: service(token))
    except errors.ParlourError as exc:
        return _page("error.html", status_of(exc), message=exc.message)
    return _page(template, found=found, action=f"{request.url.path}?{urlencode({'token': token})}")


async def confirm(request: Request) -> Response:
    """GET shows the button; POST confirms the address."""
    ctx = http.context(request)
    if request.method == "GET":
        return await _answer(request, "confirm.html", lambda t: notifications.confirmation(ctx, t))
    return await _answer(request, "confirmed.html", lambda t: notifications.confirm(ctx, t))


async def leave(request: Request) -> Response:
    """GET shows the button; POST (the button, or a mail client's one-click) stops the mail."""
    ctx = http.context(request)
    if request.method == "GET":
        return await _answer(request, "leave.html", lambda t: notifications.leaving(ctx, t))
    return await _answer(request, "left.html", lambda t: notifications.leave(ctx, t))
