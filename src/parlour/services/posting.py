"""Writing comments: post, edit, remove, and hearts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parlour.domain import errors
from parlour.domain.model import Actor, Comment, Role, Site, Status
from parlour.services import admission, lifecycle, limits, markup, notifications, reader_accounts, rules, sso
from parlour.services.context import Context
from parlour.services.security import content_hash
from parlour.services.sites import check_origin, known_site
from parlour.services.views import comment_on, on_site
from parlour.store import IntegrityError, Tx, serialize_on
from parlour.store import comments as store
from parlour.store import threads as thread_store


@dataclass(frozen=True)
class NewComment:
    """What a reader (or the writer) sends to post a comment, not yet checked."""

    site: str
    thread: str
    body: object
    parent_id: int | None = None
    author_name: object = None
    author_email: object = None
    title: object = None
    url: object = None
    notify: object = None  # "replies" or "thread": mail the author_email (services/notifications.py)


@dataclass(frozen=True)
class Posted:
    comment: dict[str, Any]
    edit_token: str | None
    created: bool
    notify: str | None = None  # "requested": what the reader asked for is recorded


def author_key(actor: Actor, site_id: str, name: str | None, email: str | None) -> str:
    """Who wrote a comment, for finding the same author again (never shown)."""
    if actor.is_writer_of(site_id):
        return f"w:{site_id}"
    if actor.reader_id:
        return f"r:{actor.reader_id}"
    return "a:" + content_hash(actor.ip_hash, name or "", email or "")[:32]


def preview(ctx: Context, actor: Actor, body: object) -> str:
    """What `body` would look like posted: checked like a comment, rendered, sanitised.

    The limit is counted in the database, by every instance together (`limits`); callers
    run it off the event loop and bound how long they wait for it (web/api.py)."""
    limit = ctx.settings.preview_rate_limit
    if limit and not limits.allow(ctx.db, f"preview:{actor.ip_hash}", limit, ctx.now()):
        raise errors.RateLimited(limit=limit, per="minute", retry_after=60)
    return markup.render(rules.body(body, ctx.settings))


def post_comment(
    ctx: Context,
    actor: Actor,
    new: NewComment,
    idempotency_key: str | None = None,
    who: lifecycle.Audit | None = None,
) -> Posted:
    """Create a comment or reply; the same request again returns the first one (created=False).

    `who` names the desk user when the writer answers from her inbox (an audit line);
    the widget's writer token names its own (`widget_reply`).
    """
    settings = ctx.settings
    key = rules.thread_key(new.thread, settings)
    body = rules.body(new.body, settings)
    name = rules.name(new.author_name, settings)
    email = rules.email(new.author_email, settings)
    title = rules.optional_text(new.title, "title", 500)
    url = rules.page_url(new.url)
    notify = notifications.check_kind(new.notify)
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise errors.InvalidInput("Idempotency-Key must be 1 to 200 characters.", field="Idempotency-Key")
    if actor.writer_site is not None and actor.writer_site != new.site:
        raise errors.NotPermitted("That writer token belongs to another site.")
    is_writer = actor.is_writer_of(new.site)
    site = known_site(ctx, new.site)
    check_origin(site, actor)
    title = rules.post_title(title, site.name)
    # A reader signed in by the writer's site posts under the name it gives, with a mark.
    signed_in = None if is_writer else sso.reader(ctx, site, actor.sso)
    if signed_in is not None:
        name, email = signed_in.name, signed_in.email or email
    # A reader signed in with an email link: under the name they chose (the first time,
    # the one typed now), with a mark.
    account = None if is_writer or signed_in else reader_accounts.signed(ctx, actor.account, site.id)
    if account is not None:
        name, email = account.name or name, account.email
    if is_writer:
        notify = None  # the writer hears of comments from her desk, not from reply mail
    elif notify is not None:
        email = rules.mail_address(email)
        notifications.check_ready(ctx)
    who = who or _widget_audit(actor, "widget_reply")
    someone = signed_in or account
    akey = someone.key if someone is not None else author_key(actor, new.site, name, email)
    body_hash = content_hash(body)
    fingerprint = content_hash(
        new.site, key, str(new.parent_id), body, name or "", email or "", akey, notify or ""
    )
    html = markup.render(body)  # outside the transaction: keep the write lock short

    try:
        with ctx.db.write() as tx:
            if idempotency_key is not None:
                replay = _replay(ctx, tx, site, idempotency_key, fingerprint, akey)
                if replay is not None:
                    return replay
            now = ctx.now()
            if not is_writer and settings.comment_rate_limit:
                serialize_on(tx, f"comments:{actor.ip_hash}")  # posts at once from one address take turns
                recent = store.count_recent_by_ip(tx, actor.ip_hash, now - 60_000)
                if recent >= settings.comment_rate_limit:
                    raise errors.RateLimited(limit=settings.comment_rate_limit, per="minute", retry_after=60)
            thread = thread_store.get_or_create_thread(tx, site.id, key, title, on_site(site, url), now)
            parent = _parent(tx, new.parent_id, thread.id)
            if not is_writer:  # before the duplicate rule: a thread closed since answers 403 too
                sso.check_may_comment(site, thread, signed_in, account is not None)
            since = now - settings.dedupe_window * 1000
            duplicate = store.find_recent_duplicate(tx, thread.id, new.parent_id, akey, body_hash, since)
            if duplicate is not None:
                if idempotency_key is not None:
                    store.insert_idempotent(tx, site.id, idempotency_key, fingerprint, duplicate.id, now)
                # Name, text and address are no proof of being the same person (a shared
                # address, a copied public name): only a signed reader identity gets the
                # first comment's edit token back.
                proven = actor.reader_id is not None
                asked = None  # sent again to ask for mail: the first one is what it is about
                if notify is not None and email is not None:
                    asked = notifications.ask(ctx, tx, site, thread, duplicate, email, notify, now)
                return _posted(ctx, site, duplicate, akey, created=False, with_token=proven, notify=asked)
            status = Status.PUBLISHED
            if not is_writer:
                admission.check_name(site, name)
                sso.check_name(tx, site, name, signed_in, account.subject if account else None)
                admission.check_open(site, thread, now)
                admission.check_author(tx, site, actor, email, now, someone.key if someone else None)
                status = admission.status_for(tx, site, body, html, akey)
            author = lifecycle.Author(
                key=akey,
                ip_hash=actor.ip_hash,
                name=None if is_writer else name,
                email=None if is_writer else email,
                is_writer=is_writer,
                verified=signed_in is not None or account is not None,
            )
            if signed_in is not None:
                sso.remember(tx, signed_in, now)
            if account is not None:
                reader_accounts.remember(tx, site, account, name, now)
            thread_store.fill_details(tx, thread, title, on_site(site, url))
            comment = lifecycle.create(
                tx, site, thread, parent, author, lifecycle.Text(body, html), status, now, who=who
            )
            if idempotency_key is not None:
                store.insert_idempotent(tx, site.id, idempotency_key, fingerprint, comment.id, now)
            asked = None
            if notify is not None and email is not None:
                vouched = (signed_in is not None and signed_in.email == email) or account is not None
                asked = notifications.ask(ctx, tx, site, thread, comment, email, notify, now, vouched=vouched)
            return _posted(ctx, site, comment, akey, created=True, notify=asked)
    except IntegrityError:
        # Two identical requests raced (same Idempotency-Key); the other one won.
        if idempotency_key is None:
            raise
        with ctx.db.read() as tx:
            replay = _replay(ctx, tx, site, idempotency_key, fingerprint, akey)
        if replay is None:
            raise
        return replay


def _replay(ctx: Context, tx: Tx, site: Site, key: str, fingerprint: str, akey: str) -> Posted | None:
    seen = store.get_idempotent(tx, site.id, key)
    if seen is None:
        return None
    if seen[0] != fingerprint:
        raise errors.IdempotencyKeyReused()
    comment = store.get_comment(tx, seen[1])
    assert comment is not None
    return _posted(ctx, site, comment, akey, created=False)


def _posted(
    ctx: Context,
    site: Site,
    comment: Comment,
    akey: str,
    *,
    created: bool,
    with_token: bool = True,
    notify: str | None = None,
) -> Posted:
    token = None
    if with_token and comment.author_key == akey and not comment.is_writer:
        token = ctx.signer.edit_token(comment.id, comment.created_at, comment.author_key)
    return Posted(comment_on(comment, site), token, created, notify)


def _parent(tx: Tx, parent_id: int | None, thread_id: int) -> Comment | None:
    if parent_id is None:
        return None
    parent = store.get_comment(tx, parent_id, for_update=True)  # not removed while we reply
    if parent is None:
        raise errors.UnknownParent(f"There is no comment {parent_id} to reply to.", field="parent_id")
    if parent.thread_id != thread_id:
        raise errors.ParentInOtherThread(field="parent_id")
    if parent.status is not Status.PUBLISHED:
        raise errors.CommentRemoved("The comment being replied to has been removed.", field="parent_id")
    return parent


def _widget_audit(actor: Actor, action: str) -> lifecycle.Audit | None:
    """Whatever the writer (or a moderator) does with the widget's token from the desk is
    in the audit log under their account, written in the action's own transaction."""
    return None if actor.writer_user is None else lifecycle.Audit(actor.writer_user, action)


def _load(ctx: Context, tx: Tx, comment_id: int) -> tuple[Comment, Site]:
    found = store.get_comment_and_site(tx, comment_id)
    if found is None:
        raise errors.UnknownComment(f"There is no comment {comment_id}.")
    return found[0], known_site(ctx, found[1])


def _authorise_author(ctx: Context, actor: Actor, comment: Comment, site: Site, token: str | None) -> bool:
    """True if the writer acts; otherwise the edit token must match and the window be open."""
    if actor.is_writer_of(site.id):
        return True
    if actor.writer_site is not None:
        raise errors.NotPermitted("That writer token belongs to another site.")
    if not token or not ctx.signer.check_edit_token(
        token, comment.id, comment.created_at, comment.author_key
    ):
        # A signed-in reader (by the writer's site, or an email link) may change their
        # comment from any device.
        signed_in = sso.reader(ctx, site, actor.sso) or reader_accounts.signed(ctx, actor.account, site.id)
        if signed_in is None or signed_in.key != comment.author_key:
            raise errors.InvalidToken("That token does not allow changing this comment.")
    window = ctx.settings.edit_window if site.edit_window is None else site.edit_window
    if ctx.now() - comment.created_at > window * 1000:
        raise errors.EditWindowClosed(window_seconds=window)
    return False


def edit_comment(
    ctx: Context, actor: Actor, comment_id: int, token: str | None, body: object
) -> dict[str, Any]:
    """Change a comment's text: its author within the edit window, or the writer her own."""
    text = rules.body(body, ctx.settings)
    html = markup.render(text)
    with ctx.db.write() as tx:
        comment, site = _load(ctx, tx, comment_id)
        check_origin(site, actor)
        as_writer = _authorise_author(ctx, actor, comment, site, token)
        if as_writer and not comment.is_writer:
            raise errors.NotPermitted("The writer may remove a reader's comment, not rewrite it.")
        if as_writer and actor.writer_role is Role.MODERATOR:
            raise errors.NotPermitted("A moderator may not rewrite the writer's words.")
        thread = thread_store.get_thread_by_id(tx, comment.thread_id)
        assert thread is not None
        if not as_writer:
            admission.check_author(tx, site, actor, comment.author_email, ctx.now())
        updated = lifecycle.edit(
            tx, site, thread, comment, lifecycle.Text(text, html), ctx.now(), by_writer=as_writer,
            who=_widget_audit(actor, "widget_edit"),
        )  # fmt: skip
        return comment_on(updated, site)


def remove_comment(
    ctx: Context, actor: Actor, comment_id: int, token: str | None, who: lifecycle.Audit | None = None
) -> dict[str, Any]:
    """Remove a comment, leaving its replies in place under a placeholder.

    A reader deleting their own comment takes its text with it; when the writer removes
    one, the text is kept (not shown) for the moderation record.
    """
    with ctx.db.write() as tx:
        comment, site = _load(ctx, tx, comment_id)
        check_origin(site, actor)
        as_writer = _authorise_author(ctx, actor, comment, site, token)
        who = who or _widget_audit(actor, "widget_remove")
        lifecycle.remove(tx, comment, site.id, ctx.now(), erase=not as_writer, who=who)
        updated = store.get_comment(tx, comment_id)
        assert updated is not None
        return comment_on(updated, site)


def set_heart(
    ctx: Context, actor: Actor, comment_id: int, on: bool, who: lifecycle.Audit | None = None
) -> dict[str, Any]:
    """A reader's heart (once per reader identity), or the writer's, which shows as hers."""
    if actor.reader_id is None and actor.writer_site is None:
        raise errors.ReaderRequired()
    with ctx.db.write() as tx:
        comment, site = _load(ctx, tx, comment_id)
        check_origin(site, actor)
        if actor.writer_site is not None and not actor.is_writer_of(site.id):
            raise errors.NotPermitted("That writer token belongs to another site.")
        as_writer = actor.writer_site is not None
        who = who or _widget_audit(actor, "widget_heart" if on else "widget_unheart")
        _, hearts = lifecycle.heart(
            tx, comment, site.id, None if as_writer else actor.reader_id, on, ctx.now(), who
        )
        liked = on if as_writer else comment.liked_by_writer
        return {"id": comment_id, "hearts": hearts, "liked_by_writer": liked, "hearted": on}


def issue_reader(ctx: Context, actor: Actor) -> str:
    """A new signed reader identity for this browser (rate-limited per address).

    The request has no body, so nothing forces a CORS preflight: a page on any origin
    could post here. Only pages of a known site (or Parlour's own) may, so that a hostile
    page cannot use up its visitors' quota.
    """
    if actor.origin is not None and actor.origin != actor.own_origin and actor.origin not in ctx.sites:
        raise errors.OriginNotAllowed(
            f"No site here accepts requests from {actor.origin}.", origin=actor.origin
        )
    reader_id, token = ctx.signer.new_reader_token()
    with ctx.db.write() as tx:
        now = ctx.now()
        limit = ctx.settings.reader_rate_limit
        if limit:
            serialize_on(tx, f"readers:{actor.ip_hash}")
        if limit and store.count_recent_readers(tx, actor.ip_hash, now - 3_600_000) >= limit:
            raise errors.RateLimited(
                "Too many new reader identities from this address; try again in an hour.",
                limit=limit,
                per="hour",
                retry_after=3600,
            )
        store.insert_reader(tx, reader_id, actor.ip_hash, now)
    return token


def set_pinned(ctx: Context, actor: Actor, comment_id: int, on: bool) -> dict[str, Any]:
    """Pin a top-level comment to the top of its thread (the writer only)."""
    with ctx.db.write() as tx:
        comment, site = _load(ctx, tx, comment_id)
        check_origin(site, actor)
        if not actor.is_writer_of(site.id):
            raise errors.NotPermitted("Only the site's writer may pin comments.")
        lifecycle.pin(
            tx, comment, site.id, on, ctx.now(), _widget_audit(actor, "widget_pin" if on else "widget_unpin")
        )
        updated = store.get_comment(tx, comment_id)
        assert updated is not None
        return comment_on(updated, site)
