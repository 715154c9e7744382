"""The writer's desk, answering readers: the reply inbox, posts, search, readers' pages,
and handing the widget a writer sign-in. Guards as in web/desk.py."""

from __future__ import annotations

from starlette.responses import Response

from parlour.domain import errors
from parlour.services import accounts, inbox, moderation, records
from parlour.services import sites as site_service
from parlour.services.clock import iso
from parlour.web import inbox_chart
from parlour.web.desk import Desk, form_text, path_comment_id, signed_in
from parlour.web.errors import status_of

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
        "inbox.html", items=items, weeks=weeks, chart=inbox_chart.chart(weeks), roles=roles, site=site,
        asks=inbox.asks_something,
    )  # fmt: skip


@signed_in
async def inbox_reply(desk: Desk) -> Response:
    user, comment_id = desk.me, path_comment_id(desk)
    form = await desk.form()
    body = form_text(form, "body")
    try:
        reply = await desk.call(lambda: inbox.reply(desk.ctx, user, comment_id, body, desk.ip_hash))
    except errors.InvalidInput as exc:
        # The message goes next to the box, which keeps the text (htmx: retarget the swap).
        response = desk.render("inbox_reply_error.html", status_of(exc), error=exc)
        response.headers["HX-Retarget"] = f"#reply-error-{comment_id}"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return desk.render("inbox_done.html", comment_id=comment_id, reply=reply, done="answered")


@signed_in
async def inbox_heart(desk: Desk) -> Response:
    user, comment_id = desk.me, path_comment_id(desk)
    form = await desk.form()
    on = form_text(form, "on") == "1"
    result = await desk.call(lambda: inbox.heart(desk.ctx, user, comment_id, on, desk.ip_hash))
    return desk.render("inbox_heart.html", comment_id=comment_id, liked=result["liked_by_writer"])


@signed_in
async def inbox_mark_done(desk: Desk) -> Response:
    user, comment_id = desk.me, path_comment_id(desk)
    await desk.form()
    await desk.call(lambda: inbox.mark_done(desk.ctx, user, comment_id))
    return desk.render("inbox_done.html", comment_id=comment_id, reply=None, done="no_reply_needed")


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
    # Blocking goes by the latest comment: what its author can be blocked by, on its site.
    blocking = await desk.call(lambda: moderation.author_blocks(desk.ctx, user, found.comments[0].id))
    return desk.render("reader.html", reader=found, blocking=blocking)


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
    token, expires = await desk.call(lambda: accounts.widget_token(desk.ctx, user, site_id, origin))
    return desk.render("widget.html", site=site, origin=origin, token=token, expires=iso(expires))
