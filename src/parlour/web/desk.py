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

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parlour.domain import errors
from parlour.domain.model import User
from parlour.services import accounts, inbox, moderation, records
from parlour.services import sites as site_service
from parlour.services.clock import iso
from parlour.services.context import Context
from parlour.web import http
from parlour.web.errors import STATUS
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
        self.ip_hash = self.ctx.signer.ip_hash(http.client_address(request, self.ctx.settings.trust_proxy))

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

    def base_url(self) -> str:
        """Parlour's address as readers use it: PARLOUR_PUBLIC_URL, else this request's
        (with the scheme a trusted proxy reports, since TLS usually ends there)."""
        settings = self.ctx.settings
        if settings.public_url:
            return settings.public_url.rstrip("/")
        base = str(self.request.base_url).rstrip("/")
        proto = self.request.headers.get("x-forwarded-proto") if settings.trust_proxy else None
        if proto in ("http", "https"):
            base = proto + base[base.index(":") :]
        return base

    def own_origins(self) -> set[str]:
        found = {str(self.request.base_url).rstrip("/"), self.base_url()}
        return {"://".join(urlsplit(url)[:2]) for url in found}

    async def form(self) -> FormData:
        """The POSTed form, after the CSRF and Origin checks."""
        origin = self.request.headers.get("origin")
        if origin is not None and origin not in self.own_origins():
            raise errors.CsrfCheckFailed("This form may only be sent from Parlour's own pages.")
        form = await self.request.form()
        token = form.get("csrf") or self.request.headers.get("x-csrf-token")
        accounts.check_csrf(self.ctx, self.nonce, token if isinstance(token, str) else None)
        return form

    async def call(self, work: Callable[[], Any]) -> Any:
        """A service call; in a worker thread, as password hashing takes tens of milliseconds."""
        return await run_in_threadpool(work)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _next(raw: str | None) -> str:
    """Where to go after signing in: a desk page of this server, nothing else."""
    if raw and raw.startswith("/desk") and not raw.startswith("//"):
        return raw
    return "/desk/inbox"


def signed_in(view: Callable[[Desk], Awaitable[Response]]) -> Page:
    """A page for signed-in people; others go to the sign-in page (or get a 401 fragment)."""

    async def page(request: Request) -> Response:
        desk = Desk(request)
        desk.user = await run_in_threadpool(
            accounts.session_user, desk.ctx, request.cookies.get(SESSION_COOKIE)
        )
        if desk.user is None:
            if request.method != "GET":
                return desk.render("error.html", 401, error=errors.SignInRequired())
            return desk.redirect(
                "/desk/sign-in?next="
                + quote(request.url.path + ("?" + request.url.query if request.url.query else ""))
            )
        try:
            return await view(desk)
        except errors.ParlourError as exc:
            return desk.render("error.html", STATUS[exc.kind], error=exc)

    return page


def public(view: Callable[[Desk], Awaitable[Response]]) -> Page:
    """A page anyone may open (setting up, signing in); errors are shown on it."""

    async def page(request: Request) -> Response:
        desk = Desk(request)
        try:
            return await view(desk)
        except errors.ParlourError as exc:
            return desk.render("error.html", STATUS[exc.kind], error=exc)

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
    email = _text(form, "email")
    try:
        user = await desk.call(
            lambda: accounts.set_up_owner(desk.ctx, email, _text(form, "password"), _text(form, "code"))
        )
    except (errors.InvalidInput, errors.WrongSetupCode) as exc:
        return desk.render("setup.html", STATUS[exc.kind], error=exc, email=email)
    return desk.sign_in(desk.redirect("/desk/inbox"), user)


@public
async def sign_in(desk: Desk) -> Response:
    next_url = _next(desk.request.query_params.get("next"))
    if desk.request.method == "GET":
        return desk.render("sign_in.html", next=next_url)
    form = await desk.form()
    email = _text(form, "email")
    try:
        user = await desk.call(
            lambda: accounts.sign_in(desk.ctx, email, _text(form, "password"), desk.ip_hash)
        )
    except (errors.SignInFailed, errors.RateLimited, errors.InvalidInput) as exc:
        return desk.render("sign_in.html", STATUS[exc.kind], error=exc, email=email, next=next_url)
    return desk.sign_in(desk.redirect(_next(_text(form, "next"))), user)


@public
async def send_link(desk: Desk) -> Response:
    form = await desk.form()
    email = _text(form, "email")
    try:
        await desk.call(lambda: accounts.send_sign_in_link(desk.ctx, email, desk.ip_hash, desk.base_url()))
    except (errors.RateLimited, errors.InvalidInput) as exc:
        return desk.render("sign_in.html", STATUS[exc.kind], error=exc, email=email, next="/desk/inbox")
    return desk.render("link_sent.html", email=email)


@public
async def use_link(desk: Desk) -> Response:
    """GET shows a button; POST signs in. Mail scanners that follow links use nothing up."""
    if desk.request.method == "GET":
        return desk.render("use_link.html", token=desk.request.query_params.get("token", ""))
    form = await desk.form()
    user = await desk.call(lambda: accounts.use_sign_in_link(desk.ctx, _text(form, "token")))
    return desk.sign_in(desk.redirect("/desk/inbox"), user)


@signed_in
async def sign_out(desk: Desk) -> Response:
    await desk.form()
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


# The reply inbox.


@signed_in
async def inbox_page(desk: Desk) -> Response:
    user = desk.me
    site = desk.request.query_params.get("site") or None
    items, weeks, roles = await desk.call(
        lambda: (
            inbox.waiting(desk.ctx, user, site),
            inbox.weekly(desk.ctx, user),
            accounts.roles(desk.ctx, user),
        )
    )
    return desk.render(
        "inbox.html", items=items, weeks=weeks, roles=roles, site=site, asks=inbox.asks_something
    )


def _comment_id(desk: Desk) -> int:
    try:
        value = int(desk.request.path_params["comment_id"])
    except ValueError:
        raise errors.UnknownComment() from None
    if not 1 <= value <= 2**62:
        raise errors.UnknownComment()
    return value


@signed_in
async def inbox_reply(desk: Desk) -> Response:
    user, comment_id = desk.me, _comment_id(desk)
    form = await desk.form()
    body = _text(form, "body")
    try:
        reply = await desk.call(lambda: inbox.reply(desk.ctx, user, comment_id, body, desk.ip_hash))
    except errors.InvalidInput as exc:
        # The message goes next to the box, which keeps the text (htmx: retarget the swap).
        response = desk.render("inbox_reply_error.html", STATUS[exc.kind], error=exc)
        response.headers["HX-Retarget"] = f"#reply-error-{comment_id}"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return desk.render("inbox_done.html", comment_id=comment_id, reply=reply, done="answered")


@signed_in
async def inbox_heart(desk: Desk) -> Response:
    user, comment_id = desk.me, _comment_id(desk)
    form = await desk.form()
    on = _text(form, "on") == "1"
    result = await desk.call(lambda: inbox.heart(desk.ctx, user, comment_id, on, desk.ip_hash))
    return desk.render("inbox_heart.html", comment_id=comment_id, liked=result["liked_by_writer"])


@signed_in
async def inbox_mark_done(desk: Desk) -> Response:
    user, comment_id = desk.me, _comment_id(desk)
    await desk.form()
    await desk.call(lambda: inbox.mark_done(desk.ctx, user, comment_id))
    return desk.render("inbox_done.html", comment_id=comment_id, reply=None, done="no_reply_needed")


# Moderation: the queue of held comments, site settings, blocks, the audit log.


@signed_in
async def queue_page(desk: Desk) -> Response:
    user = desk.me
    site = desk.request.query_params.get("site") or None
    held = await desk.call(lambda: moderation.queue(desk.ctx, user, site))
    return desk.render("queue.html", held=held, site=site, decided=desk.request.query_params.get("decided"))


@signed_in
async def queue_decide(desk: Desk) -> Response:
    """Approve, reject or mark as spam: one comment (htmx) or the ticked ones (the form)."""
    user = desk.me
    form = await desk.form()
    action = _text(form, "action")
    try:
        ids = [int(v) for v in form.getlist("id") if isinstance(v, str)]
    except ValueError:
        raise errors.InvalidInput("Tick the comments to act on.", field="id") from None
    if not ids or not all(1 <= i <= 2**62 for i in ids):
        raise errors.InvalidInput("Tick the comments to act on.", field="id")
    changed = await desk.call(lambda: moderation.decide(desk.ctx, user, ids, action, _text(form, "reason")))
    if desk.request.headers.get("hx-request") and len(ids) == 1:
        return desk.render("queue_done.html", comment_id=ids[0], action=action)
    return desk.redirect(f"/desk/queue?decided={changed}")


@signed_in
async def remove_comment(desk: Desk) -> Response:
    user, comment_id = desk.me, _comment_id(desk)
    form = await desk.form()
    await desk.call(lambda: moderation.remove(desk.ctx, user, comment_id, _text(form, "reason")))
    return desk.render("inbox_done.html", comment_id=comment_id, reply=None, done="removed")


@signed_in
async def sites_page(desk: Desk) -> Response:
    """The user's sites; the instance owner also adds sites here."""
    user = desk.me
    status, error, values = 200, None, {}
    if desk.request.method == "POST":
        form = await desk.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not user.is_owner:
            raise errors.NotPermitted("Only the owner adds sites.")
        origin = values.get("origin", "").strip()
        try:
            site = await desk.call(
                lambda: site_service.create_site(
                    desk.ctx, values.get("site_id", "").strip(), values.get("name", "").strip(),
                    values.get("writer_name", "").strip(), [origin] if origin else [],
                )
            )  # fmt: skip
            await desk.call(lambda: moderation.record(desk.ctx, user, site.id, "create_site"))
            return desk.redirect(f"/desk/sites/{site.id}")
        except (errors.InvalidInput, errors.SiteExists) as exc:
            status, error = STATUS[exc.kind], exc
    roles = await desk.call(lambda: accounts.roles(desk.ctx, user))
    found = await desk.call(lambda: [s for s in site_service.list_sites(desk.ctx) if s.id in roles])
    return desk.render("sites.html", status, sites=found, roles=roles, error=error, form=values)


@signed_in
async def site_page(desk: Desk) -> Response:
    """A site's settings, snippets, locked threads and blocks; owners change settings."""
    user = desk.me
    site_id = desk.request.path_params["site_id"]
    role = await desk.call(lambda: accounts.require_site(desk.ctx, user, site_id))
    status, saved, error = 200, False, None
    if desk.request.method == "POST":
        form = await desk.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            settings = moderation.read_settings(values)
            await desk.call(lambda: moderation.save_settings(desk.ctx, user, site_id, settings))
            saved = True
        except (errors.InvalidInput, errors.NotPermitted) as exc:
            status, error = STATUS[exc.kind], exc
    site = await desk.call(lambda: site_service.get_site(desk.ctx, site_id))
    blocks = await desk.call(lambda: [b for b in moderation.blocks(desk.ctx, user) if b.site_id == site_id])
    return desk.render(
        "site.html",
        status,
        site=site,
        role=role,
        saved=saved,
        error=error,
        blocks=blocks,
        base=desk.base_url(),
    )


@signed_in
async def block_reader(desk: Desk) -> Response:
    user = desk.me
    site_id = desk.request.path_params["site_id"]
    form = await desk.form()
    days_raw = _text(form, "days").strip()
    try:
        days = int(days_raw) if days_raw else None
    except ValueError:
        raise errors.InvalidInput("A block lasts a whole number of days.", field="days") from None
    await desk.call(
        lambda: moderation.block(
            desk.ctx, user, site_id, _text(form, "kind"), _text(form, "value"), _text(form, "reason"), days
        )
    )
    return desk.redirect(f"/desk/sites/{site_id}#blocks")


@signed_in
async def unblock_reader(desk: Desk) -> Response:
    user = desk.me
    site_id = desk.request.path_params["site_id"]
    form = await desk.form()
    try:
        block_id = int(_text(form, "block"))
    except ValueError:
        raise errors.InvalidInput("There is no such block.", field="block") from None
    if not 1 <= block_id <= 2**62:
        raise errors.InvalidInput("There is no such block.", field="block")
    await desk.call(lambda: moderation.unblock(desk.ctx, user, site_id, block_id))
    return desk.redirect(f"/desk/sites/{site_id}#blocks")


@signed_in
async def lock_thread(desk: Desk) -> Response:
    user = desk.me
    site_id = desk.request.path_params["site_id"]
    form = await desk.form()
    locked = _text(form, "locked") == "1"
    await desk.call(
        lambda: moderation.set_thread_locked(
            desk.ctx, user, site_id, _text(form, "thread"), locked, _text(form, "reason")
        )
    )
    return desk.redirect(f"/desk/sites/{site_id}#threads")


@signed_in
async def audit_page(desk: Desk) -> Response:
    user = desk.me
    entries = await desk.call(lambda: moderation.audit_entries(desk.ctx, user))
    return desk.render("audit.html", entries=entries)


# Posts, search and readers.


@signed_in
async def posts_page(desk: Desk) -> Response:
    user = desk.me
    found = await desk.call(lambda: records.posts(desk.ctx, user))
    return desk.render("posts.html", posts=found)


@signed_in
async def search_page(desk: Desk) -> Response:
    user, p = desk.me, desk.request.query_params
    filters = {name: p.get(name, "") for name in ("q", "site", "thread", "author", "status")}
    results = await desk.call(
        lambda: records.search(
            desk.ctx, user, filters["q"], filters["site"] or None, filters["thread"] or None,
            filters["author"] or None, filters["status"] or None,
        )
    )  # fmt: skip
    roles = await desk.call(lambda: accounts.roles(desk.ctx, user))
    searched = any(filters.values())
    return desk.render("search.html", results=results, filters=filters, roles=roles, searched=searched)


@signed_in
async def reader_page(desk: Desk) -> Response:
    user = desk.me
    key = desk.request.query_params.get("key", "")
    found = await desk.call(lambda: records.reader(desk.ctx, user, key))
    return desk.render("reader.html", reader=found)


# The writer in the widget.


@signed_in
async def widget_handoff(desk: Desk) -> Response:
    """Opened by the widget in a popup: hand it a writer token for its site, by postMessage
    to the page's origin, which must be one the site allows."""
    user, p = desk.me, desk.request.query_params
    site_id, origin = p.get("site", ""), p.get("origin", "")
    site = await desk.call(lambda: site_service.get_site(desk.ctx, site_id))
    if origin not in site.origins:
        raise errors.OriginNotAllowed(
            f"The site {site_id!r} does not list {origin!r} as its own.", origin=origin
        )
    token = await desk.call(lambda: accounts.widget_token(desk.ctx, user, site_id))
    return desk.render("widget.html", site=site, origin=origin, token=token)


@signed_in
async def block_author(desk: Desk) -> Response:
    """Block the author of a comment (from a reader's page): by identity, email or address."""
    user, comment_id = desk.me, _comment_id(desk)
    form = await desk.form()
    days_raw = _text(form, "days").strip()
    try:
        days = int(days_raw) if days_raw else None
    except ValueError:
        raise errors.InvalidInput("A block lasts a whole number of days.", field="days") from None
    await desk.call(
        lambda: moderation.block_author(
            desk.ctx, user, comment_id, _text(form, "kind"), _text(form, "reason"), days
        )
    )
    return desk.redirect(_next(_text(form, "next")) if _text(form, "next") else "/desk/sites")
