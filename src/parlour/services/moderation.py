"""Moderation: what moderators do from the desk.

The queue of held comments, approve / reject / spam, removing and restoring comments,
locking threads, blocking readers, and the per-site settings. What happens to a comment
as it arrives (held, refused, published) is services/admission.py; every change to a
comment goes through services/lifecycle.py, which writes the audit line in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from parlour.domain import errors
from parlour.domain.model import Comment, Moderation, Status, User, WriterMail
from parlour.services import accounts, lifecycle, rules
from parlour.services.context import Context
from parlour.services.import_plans import IMPORTED_IP
from parlour.store import Tx, audit
from parlour.store import comments as comment_store
from parlour.store import moderation as store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store
from parlour.store.moderation import Block, Held

QUEUE_LIMIT = 500
BLOCK_KINDS = ("reader", "email", "address")


# What moderators do, from the desk.


def queue(ctx: Context, user: User, site_id: str | None = None) -> list[Held]:
    """Held comments on the sites this user moderates, oldest first (at most QUEUE_LIMIT)."""
    sites = [site_id] if site_id else list(accounts.roles(ctx, user))
    if site_id:
        accounts.require_site(ctx, user, site_id)
    with ctx.db.read() as tx:
        return store.list_held(tx, sites, QUEUE_LIMIT)


def held_count(ctx: Context, user: User, site_id: str | None = None) -> int:
    """How many comments wait for review on the user's sites (or on one of them)."""
    sites = [site_id] if site_id else list(accounts.roles(ctx, user))
    if site_id:
        accounts.require_site(ctx, user, site_id)
    with ctx.db.read() as tx:
        return store.count_held(tx, sites)


ACTIONS = {"approve": Status.PUBLISHED, "reject": Status.REJECTED, "spam": Status.SPAM}


def decide(ctx: Context, user: User, comment_ids: Sequence[int], action: str, reason: str = "") -> int:
    """Approve, reject or mark as spam held comments (one or many); returns how many changed.

    Every comment's site is checked first, so a batch with one comment the user may not
    touch changes nothing.
    """
    status = ACTIONS.get(action)
    if status is None:
        raise errors.InvalidInput("The action must be approve, reject or spam.", field="action")
    allowed = accounts.roles(ctx, user)
    changed = 0
    with ctx.db.write() as tx:
        # get_comment_and_site locks each row (FOR UPDATE on PostgreSQL), so two moderators
        # deciding at once take turns, and the second sees the first one's decision.
        found = [comment_store.get_comment_and_site(tx, cid) for cid in dict.fromkeys(comment_ids)]
        for item in found:
            if item is None:
                raise errors.UnknownComment()
            if item[1] not in allowed:
                raise errors.NotPermitted("You do not have access to that.")
        now = ctx.now()
        for item in found:
            assert item is not None
            comment, site_id = item
            who = lifecycle.Audit(user.id, action, reason or None)
            if status is Status.PUBLISHED:
                changed += lifecycle.publish(tx, comment, site_id, now, who)
            else:
                changed += lifecycle.refuse(tx, comment, site_id, status, now, who)
    return changed


def _moderated_comment(ctx: Context, tx: Tx, user: User, comment_id: int) -> tuple[Comment, str]:
    """A comment (locked until the transaction ends) on a site this user moderates."""
    found = comment_store.get_comment_and_site(tx, comment_id)
    if found is None:
        raise errors.UnknownComment()
    accounts.require_site(ctx, user, found[1])
    return found


def remove(ctx: Context, user: User, comment_id: int, reason: str = "") -> None:
    """Remove a published comment as a moderator: a placeholder keeps its replies, and
    its text is kept (unseen) so that it can be restored."""
    with ctx.db.write() as tx:
        comment, site_id = _moderated_comment(ctx, tx, user, comment_id)
        lifecycle.remove(
            tx,
            comment,
            site_id,
            ctx.now(),
            erase=False,
            who=lifecycle.Audit(user.id, "remove", reason or None),
        )


def restore(ctx: Context, user: User, comment_id: int, reason: str = "") -> bool:
    """Show again a comment a moderator removed; False if it was already shown."""
    with ctx.db.write() as tx:
        comment, site_id = _moderated_comment(ctx, tx, user, comment_id)
        return lifecycle.restore(
            tx, comment, site_id, ctx.now(), who=lifecycle.Audit(user.id, "restore", reason or None)
        )


def set_thread_locked(
    ctx: Context, user: User, site_id: str, key: str, locked: bool, reason: str = ""
) -> None:
    accounts.require_site(ctx, user, site_id)
    with ctx.db.write() as tx:
        thread = thread_store.get_thread(tx, site_id, key)
        if thread is None:
            raise errors.UnknownThread()
        who = lifecycle.Audit(user.id, "lock" if locked else "unlock", reason or key)
        lifecycle.lock(tx, thread, locked, ctx.now(), who)


def block(
    ctx: Context,
    user: User,
    site_id: str,
    kind: str,
    value: str,
    reason: str,
    days: int | None,
    comment_id: int | None = None,
) -> int:
    """Block a reader from commenting on a site: by identity, email or address hash."""
    accounts.require_site(ctx, user, site_id)
    if kind not in BLOCK_KINDS:
        raise errors.InvalidInput("Block by reader, email or address.", field="kind")
    value = value.strip().lower() if kind == "email" else value.strip()
    if not value or len(value) > 320:
        raise errors.InvalidInput("Say whom to block.", field="value")
    if days is not None and not 1 <= days <= 3650:
        raise errors.InvalidInput("A block lasts 1 to 3650 days, or until lifted.", field="days")
    now = ctx.now()
    with ctx.db.write() as tx:
        block_id = store.insert_block(
            tx, site_id, kind, value, reason.strip(), None if days is None else now + days * 86_400_000, now
        )
        audit.record(tx, site_id, user.id, f"block_{kind}", comment_id, reason.strip() or None, now)
    return block_id


def _author_values(author_key: str, email: str | None, ip_hash: str) -> dict[str, str]:
    """What a block of a comment's author can name, by kind: only the kinds that can work."""
    values = {
        # A reader identity (r:), or a signed-in reader (s: by the writer's site, u: by email
        # link), whatever address or device they come from next.
        "reader": author_key[2:]
        if author_key.startswith("r:")
        else (author_key if author_key.startswith(("s:", "u:")) else ""),
        "email": (email or "").strip().lower(),
        # An imported comment's address is not known (services/import_plans.IMPORTED_IP).
        "address": "" if ip_hash in ("", IMPORTED_IP) else ip_hash,
    }
    return {kind: value for kind, value in values.items() if value}


def _author(ctx: Context, user: User, comment_id: int) -> tuple[str, dict[str, str]]:
    """The site of a comment this user moderates, and what a block of its author can name."""
    with ctx.db.read() as tx:
        marks = store.author_marks(tx, comment_id)
    if marks is None:
        raise errors.UnknownComment()
    site_id, author_key, email, ip_hash = marks
    accounts.require_site(ctx, user, site_id)
    return site_id, _author_values(author_key, email, ip_hash)


def block_author(ctx: Context, user: User, comment_id: int, kind: str, reason: str, days: int | None) -> int:
    """Block the author of a comment, by their reader identity, email or address hash,
    without the moderator ever seeing the address."""
    site_id, values = _author(ctx, user, comment_id)
    value = values.get(kind, "")
    if not value:
        raise errors.InvalidInput(f"This comment's author left no {kind} to block by.", field="kind")
    return block(ctx, user, site_id, kind, value, reason, days, comment_id)


@dataclass(frozen=True, slots=True)
class AuthorBlocks:
    """A reader's page's blocking: what can be blocked of a comment's author, and the
    blocks on its site that catch them now (to lift from the same page)."""

    site_id: str
    kinds: tuple[str, ...]
    blocks: list[Block]


def author_blocks(ctx: Context, user: User, comment_id: int) -> AuthorBlocks:
    site_id, values = _author(ctx, user, comment_id)
    now = ctx.now()
    with ctx.db.read() as tx:
        found = [
            b
            for b in store.list_blocks(tx, [site_id])
            if values.get(b.kind) == b.value and (b.expires_at is None or b.expires_at > now)
        ]
    return AuthorBlocks(site_id, tuple(k for k in BLOCK_KINDS if k in values), found)


def blocks(ctx: Context, user: User) -> list[Block]:
    with ctx.db.read() as tx:
        return store.list_blocks(tx, list(accounts.roles(ctx, user)))


def unblock(ctx: Context, user: User, site_id: str, block_id: int) -> None:
    accounts.require_site(ctx, user, site_id)
    with ctx.db.write() as tx:
        if not store.delete_block(tx, site_id, block_id):
            raise errors.InvalidInput("There is no such block.", field="block")
        audit.record(tx, site_id, user.id, "unblock", None, None, ctx.now())


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """The per-site settings form, checked."""

    name: str
    writer_name: str
    origins: tuple[str, ...]
    writer_avatar: str | None
    moderation: Moderation
    held_words: tuple[str, ...]
    rejected_words: tuple[str, ...]
    max_links: int | None
    close_after_days: int | None
    edit_window: int | None
    writer_heart: bool
    writer_mail: WriterMail = WriterMail.EACH
    unanswered_mail: bool = True


def _optional_int(raw: str, field: str, low: int, high: int) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidInput(f"{field} must be a whole number.", field=field) from None
    if not low <= value <= high:
        raise errors.InvalidInput(f"{field} must be between {low} and {high}.", field=field)
    return value


def read_settings(form: dict[str, Any]) -> SiteSettings:
    """Check the settings form's fields (strings, as a form sends them)."""
    try:
        moderation = Moderation(str(form.get("moderation", "publish")))
    except ValueError:
        raise errors.InvalidInput("Choose a moderation mode.", field="moderation") from None

    def words(name: str) -> tuple[str, ...]:
        found = tuple(w.strip() for w in str(form.get(name, "")).splitlines() if w.strip())
        if len(found) > 1000 or any(len(w) > 100 for w in found):
            raise errors.InvalidInput("At most 1000 words or phrases of 100 characters.", field=name)
        return found

    def text(name: str, limit: int) -> str:
        value = str(form.get(name, "")).strip()
        if len(value) > limit:
            raise errors.InvalidInput(f"{name} is longer than {limit} characters.", field=name)
        return value

    avatar = text("writer_avatar", 2000) or None
    if avatar is not None and (not avatar.startswith("https://") or any(c in avatar for c in " \"'<>")):
        raise errors.InvalidInput("The picture must be an https:// address.", field="writer_avatar")
    origins = tuple(sorted({rules.origin(line) for line in str(form.get("origins", "")).split() if line}))
    try:
        writer_mail = WriterMail(str(form.get("writer_mail", WriterMail.EACH.value)))
    except ValueError:
        raise errors.InvalidInput("Choose how new comments reach you by mail.", field="writer_mail") from None
    return SiteSettings(
        name=text("name", 200),
        writer_name=text("writer_name", 200),
        origins=origins,
        writer_avatar=avatar,
        moderation=moderation,
        held_words=words("held_words"),
        rejected_words=words("rejected_words"),
        max_links=_optional_int(str(form.get("max_links", "")), "max_links", 0, 100),
        close_after_days=_optional_int(str(form.get("close_after_days", "")), "close_after_days", 1, 36500),
        edit_window=_optional_int(str(form.get("edit_window_minutes", "")), "edit_window_minutes", 0, 10080),
        writer_heart=str(form.get("writer_heart", "")) == "1",
        writer_mail=writer_mail,
        unanswered_mail=str(form.get("unanswered_mail", "")) == "1",
    )


def save_settings(ctx: Context, user: User, site_id: str, settings: SiteSettings) -> None:
    """Store a site's settings (owners only) and refresh every page of the site."""
    from parlour.domain.model import Role

    if accounts.require_site(ctx, user, site_id) is not Role.OWNER:
        raise errors.NotPermitted("Only the site's owner changes its settings.")
    with ctx.db.write() as tx:
        site_store.update_site(tx, site_id, name=settings.name, writer_name=settings.writer_name)
        site_store.replace_origins(tx, site_id, list(settings.origins))
        site_store.update_moderation(
            tx, site_id, moderation=settings.moderation, held_words=settings.held_words,
            rejected_words=settings.rejected_words, max_links=settings.max_links,
            close_after_days=settings.close_after_days,
            edit_window=None if settings.edit_window is None else settings.edit_window * 60,
            writer_heart=settings.writer_heart, writer_avatar=settings.writer_avatar,
            writer_mail=settings.writer_mail, unanswered_mail=settings.unanswered_mail,
        )  # fmt: skip
        # her name, heart and picture are on every page
        lifecycle.site_changed(tx, site_id, ctx.now(), lifecycle.Audit(user.id, "settings"))
    ctx.sites.invalidate()


def audit_entries(ctx: Context, user: User, limit: int = 200) -> list[audit.Entry]:
    """The latest actions on the user's sites, newest first."""
    with ctx.db.read() as tx:
        return audit.list_entries(tx, list(accounts.roles(ctx, user)), limit)
