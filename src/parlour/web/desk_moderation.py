"""The writer's desk, keeping the conversation safe: the queue, site settings, blocks,
locks, removals and the audit log. Guards as in web/desk.py."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.responses import Response

from parlour.domain import errors
from parlour.domain.model import Role, is_id
from parlour.services import accounts, lifecycle, mail, moderation, reviews, webhooks
from parlour.services import sites as site_service
from parlour.web.desk import Desk, form_text, path_comment_id, safe_next, signed_in
from parlour.web.errors import status_of

# Moderation: the queue of held comments, site settings, blocks, the audit log.


@signed_in
async def queue_page(desk: Desk) -> Response:
    user = desk.me
    site = desk.request.query_params.get("site") or None
    held, count = await desk.call(
        lambda: (moderation.queue(desk.ctx, user, site), moderation.held_count(desk.ctx, user, site))
    )
    pastes = await desk.call(lambda: reviews.awaiting(desk.ctx, user, site))
    return desk.render(
        "queue.html", held=held, count=count, site=site, decided=desk.request.query_params.get("decided"),
        pastes=pastes,
    )  # fmt: skip


@signed_in
async def queue_decide(desk: Desk) -> Response:
    """Approve, reject or mark as spam: one comment (htmx) or the ticked ones (the form)."""
    user = desk.me
    form = await desk.form()
    action = form_text(form, "action")
    try:
        ids = [int(v) for v in form.getlist("id") if isinstance(v, str)]
    except ValueError:
        raise errors.InvalidInput("Tick the comments to act on.", field="id") from None
    if not ids or not all(is_id(i) for i in ids):
        raise errors.InvalidInput("Tick the comments to act on.", field="id")
    changed = await desk.call(
        lambda: moderation.decide(desk.ctx, user, ids, action, form_text(form, "reason"))
    )
    if desk.request.headers.get("hx-request") and len(ids) == 1:
        # The item's place says what happened; the heading's count is swapped in too (what
        # is left now, other moderators' decisions included).
        site = form_text(form, "site") or None
        count = await desk.call(lambda: moderation.held_count(desk.ctx, user, site))
        return desk.render("queue_done.html", comment_id=ids[0], action=action, count=count)
    return desk.redirect(f"/desk/queue?decided={changed}")


@signed_in
async def remove_comment(desk: Desk) -> Response:
    user, comment_id = desk.me, path_comment_id(desk)
    form = await desk.form()
    await desk.call(lambda: moderation.remove(desk.ctx, user, comment_id, form_text(form, "reason")))
    return desk.render("inbox_done.html", comment_id=comment_id, reply=None, done="removed")


@signed_in
async def restore_comment(desk: Desk) -> Response:
    user, comment_id = desk.me, path_comment_id(desk)
    form = await desk.form()
    await desk.call(lambda: moderation.restore(desk.ctx, user, comment_id, form_text(form, "reason")))
    return desk.render("inbox_done.html", comment_id=comment_id, reply=None, done="restored")


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
                    who=lifecycle.Audit(user.id, "create_site"),
                )
            )  # fmt: skip
            return desk.redirect(f"/desk/sites/{site.id}")
        except (errors.InvalidInput, errors.SiteExists) as exc:
            status, error = status_of(exc), exc
    roles = await desk.call(lambda: accounts.roles(desk.ctx, user))
    found = await desk.call(lambda: [s for s in site_service.list_sites(desk.ctx) if s.id in roles])
    return desk.render("sites.html", status, sites=found, roles=roles, error=error, form=values)


@signed_in
async def site_page(desk: Desk) -> Response:
    """A site's settings, snippets, locked threads and blocks; owners change settings and
    see the webhooks' delivery log."""
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
            status, error = status_of(exc), exc
    site = await desk.call(lambda: site_service.get_site(desk.ctx, site_id))
    blocks = await desk.call(lambda: [b for b in moderation.blocks(desk.ctx, user) if b.site_id == site_id])
    grants = await desk.call(lambda: accounts.widget_grants(desk.ctx, user, site_id))
    # Owners only: the receivers' answers and the payloads sent are theirs (never the secret).
    pastes = await desk.call(lambda: reviews.awaiting(desk.ctx, user, site_id))
    hooks = (
        await desk.call(lambda: webhooks.delivery_log(desk.ctx, user, site_id))
        if role is Role.OWNER
        else None
    )
    return desk.render(
        "site.html",
        status,
        site=site,
        role=role,
        saved=saved,
        error=error,
        blocks=blocks,
        grants=grants,
        hooks=hooks,
        pastes=pastes,
        session_days=desk.ctx.settings.session_days,
        base=desk.public_url(),
    )


@signed_in
async def end_widget_sign_in(desk: Desk) -> Response:
    """End a sign-in in a site's comments: its token stops working at once."""
    user = desk.me
    site_id = desk.request.path_params["site_id"]
    form = await desk.form()
    grant = form_text(form, "grant")
    await desk.call(lambda: accounts.revoke_widget_grant(desk.ctx, user, site_id, grant))
    return desk.redirect(f"/desk/sites/{site_id}#widget-sign-ins")


def block_days(form: FormData) -> int | None:
    """How long a block lasts, from its form: whole days, or empty for until lifted."""
    raw = form_text(form, "days").strip()
    try:
        return int(raw) if raw else None
    except ValueError:
        raise errors.InvalidInput("A block lasts a whole number of days.", field="days") from None


@signed_in
async def block_reader(desk: Desk) -> Response:
    user = desk.me
    site_id = desk.request.path_params["site_id"]
    form = await desk.form()
    days = block_days(form)
    await desk.call(
        lambda: moderation.block(
            desk.ctx,
            user,
            site_id,
            form_text(form, "kind"),
            form_text(form, "value"),
            form_text(form, "reason"),
            days,
        )
    )
    return desk.redirect(f"/desk/sites/{site_id}#blocks")


@signed_in
async def unblock_reader(desk: Desk) -> Response:
    user = desk.me
    site_id = desk.request.path_params["site_id"]
    form = await desk.form()
    try:
        block_id = int(form_text(form, "block"))
    except ValueError:
        raise errors.InvalidInput("There is no such block.", field="block") from None
    if not is_id(block_id):
        raise errors.InvalidInput("There is no such block.", field="block")
    await desk.call(lambda: moderation.unblock(desk.ctx, user, site_id, block_id))
    back = form_text(form, "next")  # a reader's page lifts their block too
    return desk.redirect(safe_next(back) if back else f"/desk/sites/{site_id}#blocks")


@signed_in
async def lock_thread(desk: Desk) -> Response:
    user = desk.me
    site_id = desk.request.path_params["site_id"]
    form = await desk.form()
    locked = form_text(form, "locked") == "1"
    await desk.call(
        lambda: moderation.set_thread_locked(
            desk.ctx, user, site_id, form_text(form, "thread"), locked, form_text(form, "reason")
        )
    )
    return desk.redirect(f"/desk/sites/{site_id}#threads")


@signed_in
async def audit_page(desk: Desk) -> Response:
    user = desk.me
    entries = await desk.call(lambda: moderation.audit_entries(desk.ctx, user))
    return desk.render("audit.html", entries=entries)


@signed_in
async def mail_page(desk: Desk) -> Response:
    """Mail Parlour gave up on (the receiving server refused it, or it failed too often)."""
    user = desk.me
    failures = await desk.call(lambda: mail.failures(desk.ctx, user))
    return desk.render("mail.html", failures=failures)


@signed_in
async def block_author(desk: Desk) -> Response:
    """Block the author of a comment (from a reader's page): by identity, email or address."""
    user, comment_id = desk.me, path_comment_id(desk)
    form = await desk.form()
    days = block_days(form)
    await desk.call(
        lambda: moderation.block_author(
            desk.ctx, user, comment_id, form_text(form, "kind"), form_text(form, "reason"), days
        )
    )
    return desk.redirect(safe_next(form_text(form, "next")) if form_text(form, "next") else "/desk/sites")
