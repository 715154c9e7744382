"""The writer's desk at /desk: server-rendered pages (Jinja2) with htmx for the small
interactions. Views parse, call one service, render.

Guards, for every route here: a session cookie (Secure, HttpOnly, SameSite=Lax) names the
signed-in user; every POST carries a CSRF token (a signed double submit: the form's token
must be the HMAC of this browser's `parlour_csrf` cookie) and, when the browser sends an
Origin, it must be Parlour's own. Errors are shown on the page, with a 4xx status.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parlour.domain import errors
from parlour.domain.model import User, is_id
from parlour.services import accounts, rules
from parlour.services.clock import iso
from parlour.services.context import Context
from parlour.web import http
from parlour.web.errors import status_of
from parlour.web.pages import templates

SESSION_COOKIE = "parlour_session"
CSRF_COOKIE = "parlour_csrf"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # sign-in links carry their token in the URL
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
}
Page = Callable[[Request], Awaitable[Response]]


class Desk:
    """What a desk view knows about its request: the context, the user, the CSRF token."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.ctx: Context = http.context(request)
        self.nonce = request.cookies.get(CSRF_COOKIE) or ""
        self.new_nonce = "" if self.nonce else secrets.token_urlsafe(18)
        self.user: User | None = None
        self.ip_hash = self.ctx.signer.ip_hash(http.client_address(request, self.ctx.settings))

    @property
    def me(self) -> User:
        """The signed-in user, in views wrapped by @signed_in."""
        assert self.user is not None
        return self.user

    @property
    def csrf(self) -> str:
        return accounts.csrf_token(self.ctx, self.nonce or self.new_nonce)

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        html = templates.get_template(f"desk/{template}").render(
            user=self.user, csrf=self.csrf, iso=iso, request_path=self.request.url.path, **values
        )
        return self.finish(HTMLResponse(html, status_code=status, headers=HEADERS))

    def redirect(self, to: str) -> Response:
        return self.finish(RedirectResponse(to, status_code=303, headers=HEADERS))

    def finish(self, response: Response) -> Response:
        if self.new_nonce:
            # Lax, like the session: a Strict cookie is not sent when the widget opens the desk
            # in a popup from the blog, and a fresh one would break forms in open tabs.
            self.set_cookie(response, CSRF_COOKIE, self.new_nonce)
        return response

    def set_cookie(self, response: Response, name: str, value: str, samesite: str = "lax") -> None:
        response.set_cookie(
            name, value, max_age=self.ctx.settings.session_days * 86_400, path="/desk",
            secure=True, httponly=True, samesite=samesite,  # type: ignore[arg-type]
        )  # fmt: skip

    def sign_in(self, response: Response, user: User) -> Response:
        self.set_cookie(response, SESSION_COOKIE, accounts.new_session(self.ctx, user))
        return response

    def public_url(self) -> str | None:
        """Parlour's address as readers use it: PARLOUR_PUBLIC_URL, and nothing taken from
        the request (a forged `Host` must not end up in a link)."""
        return self.ctx.settings.public_url.rstrip("/") or None

    def request_base(self) -> str:
        """This request's own address (with the scheme a trusted proxy reports, since TLS
        usually ends there): only for checking where a form came from, never for links."""
        settings = self.ctx.settings
        base = str(self.request.base_url).rstrip("/")
        proto = (
            self.request.headers.get("x-forwarded-proto")
            if http.from_trusted_proxy(self.request, settings)
            else None
        )
        if proto in ("http", "https"):
            base = proto + base[base.index(":") :]
        return base

    def own_origins(self) -> set[str]:
        found = {str(self.request.base_url).rstrip("/"), self.request_base(), self.public_url() or ""}
        return {"://".join(urlsplit(url)[:2]) for url in found if url}

    async def form(self) -> FormData:
        """The POSTed form, after the CSRF and Origin checks."""
        origin = self.request.headers.get("origin")
        if origin is not None and origin not in self.own_origins():
            raise errors.CsrfCheckFailed("This form may only be sent from Parlour's own pages.")
        form = await self.request.form()
        token = form.get("csrf") or self.request.headers.get("x-csrf-token")
        accounts.check_csrf(self.ctx, self.nonce, token if isinstance(token, str) else None)
        for name, value in form.multi_items():  # the same answer on SQLite and PostgreSQL
            if isinstance(value, str):
                rules.storable_text(value, name)
        return form

    def check_query(self) -> None:
        """Query parameters with characters no database stores get a 422 on any desk page
        (but the search box's `q`, which search cleans itself: a stray control character
        pasted into it should still find something)."""
        for name, value in self.request.query_params.multi_items():
            if name != "q":
                rules.storable_text(value, name)

    async def call(self, work: Callable[[], Any]) -> Any:
        """A service call; in a worker thread, as password hashing takes tens of milliseconds."""
        return await self.ctx.db.run(work, heavy=True)


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def safe_next(raw: str | None) -> str:
    """Where to go after signing in: a desk page of this server, nothing else."""
    if raw and raw.startswith("/desk") and not raw.startswith("//"):
        return raw
    return "/desk/inbox"


def signed_in(view: Callable[[Desk], Awaitable[Response]]) -> Page:
    """A page for signed-in people; others go to the sign-in page (or get a 401 fragment)."""

    async def page(request: Request) -> Response:
        desk = Desk(request)
        desk.user = await desk.call(
            lambda: accounts.session_user(desk.ctx, request.cookies.get(SESSION_COOKIE))
        )
        if desk.user is None:
            if request.method != "GET":
                return desk.render("error.html", 401, error=errors.SignInRequired())
            return desk.redirect(
                "/desk/sign-in?next="
                + quote(request.url.path + ("?" + request.url.query if request.url.query else ""))
            )
        try:
            desk.check_query()
            return await view(desk)
        except errors.ParlourError as exc:
            return desk.render("error.html", status_of(exc), error=exc)

    return page


def public(view: Callable[[Desk], Awaitable[Response]]) -> Page:
    """A page anyone may open (setting up, signing in); errors are shown on it."""

    async def page(request: Request) -> Response:
        desk = Desk(request)
        try:
            desk.check_query()
            return await view(desk)
        except errors.ParlourError as exc:
            return desk.render("error.html", status_of(exc), error=exc)

    return page


# Setting up and signing in.


@public
async def home(desk: Desk) -> Response:
    if await desk.call(lambda: accounts.needs_setup(desk.ctx)):
        return desk.redirect("/desk/setup")
    return desk.redirect("/desk/inbox")


@public
async def setup(desk: Desk) -> Response:
    """The first visit creates the owner's account."""
    if not await desk.call(lambda: accounts.needs_setup(desk.ctx)):
        return desk.redirect("/desk/sign-in")
    if desk.request.method == "GET":
        return desk.render("setup.html")
    form = await desk.form()
    email = form_text(form, "email")
    try:
        user = await desk.call(
            lambda: accounts.set_up_owner(
                desk.ctx, email, form_text(form, "password"), form_text(form, "code")
            )
        )
    except (errors.InvalidInput, errors.WrongSetupCode) as exc:
        return desk.render("setup.html", status_of(exc), error=exc, email=email)
    return desk.sign_in(desk.redirect("/desk/inbox"), user)


@public
async def sign_in(desk: Desk) -> Response:
    next_url = safe_next(desk.request.query_params.get("next"))
    if desk.request.method == "GET":
        return desk.render("sign_in.html", next=next_url)
    form = await desk.form()
    email = form_text(form, "email")
    try:
        user = await desk.call(
            lambda: accounts.sign_in(desk.ctx, email, form_text(form, "password"), desk.ip_hash)
        )
    except (errors.SignInFailed, errors.RateLimited, errors.InvalidInput) as exc:
        return desk.render("sign_in.html", status_of(exc), error=exc, email=email, next=next_url)
    return desk.sign_in(desk.redirect(safe_next(form_text(form, "next"))), user)


@public
async def send_link(desk: Desk) -> Response:
    form = await desk.form()
    email = form_text(form, "email")
    try:
        await desk.call(lambda: accounts.send_sign_in_link(desk.ctx, email, desk.ip_hash))
    except (errors.RateLimited, errors.InvalidInput, errors.PublicUrlMissing) as exc:
        return desk.render("sign_in.html", status_of(exc), error=exc, email=email, next="/desk/inbox")
    return desk.render("link_sent.html", email=email)


@public
async def use_link(desk: Desk) -> Response:
    """GET shows a button; POST signs in. Mail scanners that follow links use nothing up."""
    if desk.request.method == "GET":
        return desk.render("use_link.html", token=desk.request.query_params.get("token", ""))
    form = await desk.form()
    user = await desk.call(lambda: accounts.use_sign_in_link(desk.ctx, form_text(form, "token")))
    return desk.sign_in(desk.redirect("/desk/inbox"), user)


@signed_in
async def sign_out(desk: Desk) -> Response:
    await desk.form()
    token = desk.request.cookies.get(SESSION_COOKIE)
    await desk.call(lambda: accounts.sign_out(desk.ctx, token))
    response = desk.redirect("/desk/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/desk", secure=True, httponly=True, samesite="lax")
    return response


@signed_in
async def sign_out_everywhere(desk: Desk) -> Response:
    await desk.form()
    user = desk.me
    await desk.call(lambda: accounts.sign_out_everywhere(desk.ctx, user))
    response = desk.redirect("/desk/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/desk", secure=True, httponly=True, samesite="lax")
    return response


def path_comment_id(desk: Desk) -> int:
    try:
        value = int(desk.request.path_params["comment_id"])
    except ValueError:
        raise errors.UnknownComment() from None
    if not is_id(value):
        raise errors.UnknownComment()
    return value
