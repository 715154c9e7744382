"""The reader's sign-in popup on Parlour's own origin (services/reader_accounts.py).

First-party pages, so their cookie works with third-party cookies blocked: the form
that mails the link (and sets the cookie naming this browser), the link's page with one
button, and the wait the popup does until the link is used, before it hands the session
to the widget by postMessage, to the page's origin only (one of the site's).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from parlour.domain import errors
from parlour.services import reader_accounts
from parlour.services.sites import known_site
from parlour.web import http
from parlour.web.errors import status_of
from parlour.web.pages import templates

BROWSER_COOKIE = "parlour_reader_browser"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The link's token is in its URL: no Referer leaves Parlour (and with `no-referrer`
    # browsers would send `Origin: null` with the forms, which the origin check refuses).
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}


def _page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(f"readers/{template}").render(**values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _error(exc: errors.ParlourError) -> Response:
    return _page("error.html", status_of(exc), message=exc.message)


def _same_origin(request: Request) -> None:
    """A form of these pages may only be sent from them (the Origin a browser sends)."""
    origin = request.headers.get("origin")
    ctx = http.context(request)
    own = {"://".join(urlsplit(str(request.base_url))[:2])}
    if ctx.settings.public_url:
        own.add("://".join(urlsplit(ctx.settings.public_url)[:2]))
    if origin is not None and origin not in own:
        raise errors.CsrfCheckFailed("This form may only be sent from Parlour's own pages.")


def _target(request: Request, site_id: str, origin: str) -> tuple[str, str, str]:
    """The site (id, name) and the page's origin the popup hands the session to: one the
    site lists."""
    ctx = http.context(request)
    site = known_site(ctx, site_id)
    if origin not in site.origins:
        raise errors.OriginNotAllowed(
            f"The site {site_id!r} does not list {origin!r} as its own.", origin=origin
        )
    return site.id, site.name, origin


async def sign_in(request: Request) -> Response:
    """GET: the popup's form; POST: mail the link, and wait for it."""
    ctx = http.context(request)
    try:
        if request.method == "GET":
            p = request.query_params
            site_id, name, origin = _target(request, p.get("site", ""), p.get("origin", ""))
            return _page("sign_in.html", site=site_id, site_name=name, origin=origin)
        _same_origin(request)
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        site_id, name, origin = _target(request, fields.get("site", ""), fields.get("origin", ""))
        # One value per browser: a second link asked for does not break the first.
        known = request.cookies.get(BROWSER_COOKIE) or ""
        browser = known if 20 <= len(known) <= 64 and known.isascii() else secrets.token_urlsafe(24)
        ip_hash = ctx.signer.ip_hash(http.client_address(request, ctx.settings))
        await http.call(
            ctx,
            lambda: reader_accounts.start(
                ctx, site_id, fields.get("email"), fields.get("name"), browser, ip_hash
            ),
        )
    except errors.ParlourError as exc:
        return _error(exc)
    response = _page("check_mail.html", site=site_id, site_name=name, origin=origin)
    response.set_cookie(BROWSER_COOKIE, browser, max_age=86_400, path="/readers", secure=True,
                        httponly=True, samesite="lax")  # fmt: skip
    return response


async def wait(request: Request) -> Response:
    """The popup asks, every few seconds, whether this browser's link was used."""
    ctx = http.context(request)
    browser = request.cookies.get(BROWSER_COOKIE)
    site_id = request.query_params.get("site", "")
    done = await http.call(ctx, lambda: reader_accounts.waiting(ctx, browser, site_id))
    body = {"status": "waiting"} if done is None else {"status": "done", **done}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def use_link(request: Request) -> Response:
    """GET: a page with one button (mail scanners press nothing); POST: sign in."""
    ctx = http.context(request)
    if request.method == "GET":
        return _page("use_link.html", token=request.query_params.get("token", ""))
    try:
        _same_origin(request)
        form = await request.form()
        token = form.get("token")
        browser = request.cookies.get(BROWSER_COOKIE)
        site_name = await http.call(ctx, lambda: reader_accounts.finish(ctx, token, browser))
    except errors.ParlourError as exc:
        return _error(exc)
    return _page("signed_in.html", site_name=site_name)
