"""The comment lifecycle: every change to a stored comment, in the caller's transaction.

Each function here takes an open write transaction and changes, together: the comment's
row and tree fields, the counters (the parent's `reply_count`, the thread's
`comment_count`), the thread's `version` (which every cached page is keyed on),
`published_at`, the audit line when someone at the desk acted, and one row of the event
record (store/events.py) saying what happened. The search index follows the comment's
row by itself (triggers on SQLite, an expression index on PostgreSQL). So a crash
either keeps all of a change or none of it.

Every path that writes a comment goes through here: readers posting (services/posting),
moderators deciding (services/moderation), the writer's inbox (services/inbox) and
imports (services/importing), which store a thread's comments at once with
`place_imported` and `store_imported`.

Callers check who may do what; this module checks what the comment's state allows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from parlour.domain import addressing, errors
from parlour.domain.model import Comment, Site, Status, Thread, WhoMayComment
from parlour.services import admission, mentions
from parlour.services.security import content_hash
from parlour.store import Tx, audit, events
from parlour.store import comments as store
from parlour.store import imports as import_store
from parlour.store import inbox as inbox_store
from parlour.store import moderation as moderation_store
from parlour.store import readers as readers_store
from parlour.store import sites as site_store
from parlour.store import threads as thread_store


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a comment. `key` finds the same author again; it is never shown."""

    key: str
    ip_hash: str
    name: str | None = None
    email: str | None = None
    is_writer: bool = False
    verified: bool = False  # signed in by single sign-on: the name is theirs


@dataclass(frozen=True, slots=True)
class Text:
    """A comment's text: the Markdown as typed, and its sanitised HTML."""

    body: str
    html: str


@dataclass(frozen=True, slots=True)
class Audit:
    """Someone at the desk acted: the audit log gets a line in the same transaction."""

    user_id: int | None
    action: str
    reason: str | None = None


def _record(
    tx: Tx, kind: str, site_id: str, comment: Comment | None, thread_id: int | None, now: int
) -> None:
    events.append(tx, kind, site_id, thread_id, None if comment is None else comment.id, now)


def _audit(tx: Tx, who: Audit | None, site_id: str, comment_id: int | None, now: int) -> None:
    if who is not None:
        audit.record(tx, site_id, who.user_id, who.action, comment_id, who.reason, now)


def _shown(tx: Tx, comment: Comment, delta: int) -> None:
    """A comment became visible (+1) or stopped being visible (-1): the counters follow."""
    if comment.parent_id is not None:
        store.change_reply_count(tx, comment.parent_id, delta)
    thread_store.bump_thread(tx, comment.thread_id, delta)


def create(
    tx: Tx,
    site: Site,
    thread: Thread,
    parent: Comment | None,
    author: Author,
    text: Text,
    status: Status,
    now: int,
    *,
    created_at: int | None = None,
    who: Audit | None = None,
) -> Comment:
    """Store a new comment with the given status (published, or pending review).

    `created_at` defaults to now; an importer passes the original time. A published
    comment counts and shows at once; a held one changes no page until `publish`.
    An "@Name" of someone who commented before in the thread links to their comment
    (services/mentions.py), and the comment is marked for the writer or not
    (domain/addressing.py).
    """
    if parent is not None and parent.thread_id != thread.id:
        raise errors.ParentInOtherThread(field="parent_id")
    published = status is Status.PUBLISHED
    when = now if created_at is None else created_at
    text = Text(text.body, mentions.link_in(tx, site, thread.id, text.body, text.html, when))
    comment = store.insert_comment(
        tx,
        thread_id=thread.id,
        parent_id=parent.id if parent else None,
        root_id=(parent.root_id or parent.id) if parent else None,
        depth=parent.depth + 1 if parent else 0,
        author_name=author.name,
        author_email=author.email,
        author_key=author.key,
        ip_hash=author.ip_hash,
        is_writer=author.is_writer,
        author_verified=author.verified,
        body=text.body,
        body_hash=content_hash(text.body),
        html=text.html,
        status=status.value,
        pinned=False,
        hearts=0,
        liked_by_writer=False,
        reply_count=0,
        created_at=when,
        published_at=when if published else None,
        for_writer=addressing.for_writer(text.body, site.writer_name, parent.is_writer if parent else None),
    )
    if published:
        _shown(tx, comment, +1)
    else:
        thread_store.bump_thread(tx, thread.id, 0)  # its author sees it "awaiting review"
    _record(tx, "posted" if published else "held", site.id, comment, thread.id, now)
    _audit(tx, who, site.id, comment.id, now)
    return comment


@dataclass(frozen=True, slots=True)
class Imported:
    """A comment an import stores. `key` names it among the others of the same call;
    its parent is another's `parent_key`, or `parent_id`, a comment stored before."""

    key: str
    author: Author
    text: Text
    status: Status
    created_at: int
    parent_key: str | None = None
    parent_id: int | None = None
    hearts: int = 0
    edited_at: int | None = None
    pinned: bool = False  # a top-level published comment only
    body_hash: str = ""  # content_hash(text.body), if the caller made it already


@dataclass(frozen=True, slots=True)
class PlacedImport:
    """One thread's imported comments placed in their tree, before any id exists: what
    storing them takes that needs no database (`place_imported`), so that an import can
    work it out on a second core (services/import_plans.py).

    `rows` are in `import_store.COMMENT_COLUMNS` order, one per key, with relative ids:
    the id, parent and root columns name rows of this list by position (the thread's
    column is empty), replaced by real ids when stored. A row under a comment stored
    before is in `under_stored`: row -> (that comment's id, levels below it); its
    parent (if it is that comment) and root are filled in then, with its depth and, for
    a direct reply, whether it is for the writer (which needs the parent's author).
    """

    keys: list[str]
    rows: list[tuple[Any, ...]]
    published: int  # shown comments the thread gains
    under_stored: dict[int, tuple[int, int]]
    stored_replies: dict[int, int]  # comment stored before -> shown replies it gains


# Positions in a row of import_store.COMMENT_COLUMNS, which `place_imported` builds in
# order (id, thread, parent, root and depth first: `store_imported` counts on it).
_ID, _THREAD, _PARENT, _ROOT, _DEPTH, _IS_WRITER, _BODY, _FOR_WRITER = (
    import_store.COMMENT_COLUMNS.index(column)
    for column in ("id", "thread_id", "parent_id", "root_id", "depth", "is_writer", "body", "for_writer")
)


def place_imported(items: Sequence[Imported], writer_name: str) -> PlacedImport:
    """Tree fields, reply counts and the writer's-inbox flag of comments to import, in
    the order given (parents before their replies). Pure: no database."""
    position = {item.key: n for n, item in enumerate(items)}
    parents: list[int | None] = []  # a row's parent row
    roots: list[int | None] = []  # a row's root row (None: it is a root, or under a stored comment)
    depths: list[int] = []
    under_stored: dict[int, tuple[int, int]] = {}
    shown_replies = [0] * len(items)
    stored_replies: Counter[int] = Counter()
    for n, item in enumerate(items):
        parent: int | None = None
        root: int | None = None
        depth = 0
        if item.parent_key is not None:
            parent = position[item.parent_key]
            if parent >= n:
                raise ValueError(f"comment {item.key!r} comes before its parent {item.parent_key!r}")
            if parent in under_stored:
                stored_id, levels = under_stored[parent]
                under_stored[n] = (stored_id, levels + 1)
            else:
                root, depth = (roots[parent] if roots[parent] is not None else parent), depths[parent] + 1
            if item.status is Status.PUBLISHED:
                shown_replies[parent] += 1
        elif item.parent_id is not None:
            under_stored[n] = (item.parent_id, 1)
            if item.status is Status.PUBLISHED:
                stored_replies[item.parent_id] += 1
        parents.append(parent)
        roots.append(root)
        depths.append(depth)
    rows = []
    for n, item in enumerate(items):
        a, parent = item.author, parents[n]
        shown = item.status in (Status.PUBLISHED, Status.REMOVED)
        top = parent is None and item.parent_id is None
        # A reply between readers is for the writer only if it addresses her (domain/addressing.py).
        for_writer = (
            top
            or a.is_writer
            or parent is None  # under a stored comment: decided when stored
            or addressing.for_writer(item.text.body, writer_name, items[parent].author.is_writer)
        )
        rows.append((
            n, None, parent, roots[n], depths[n], a.name, a.email, a.key, a.ip_hash, a.is_writer,
            item.text.body, item.body_hash or content_hash(item.text.body), item.text.html, item.status.value,
            item.pinned and top and item.status is Status.PUBLISHED, max(item.hearts, 0), False,
            shown_replies[n], item.created_at, item.created_at if shown else None, item.edited_at, a.verified,
            for_writer,
        ))  # fmt: skip
    return PlacedImport(
        keys=[item.key for item in items],
        rows=rows,
        published=sum(1 for item in items if item.status is Status.PUBLISHED),
        under_stored=under_stored,
        stored_replies=dict(stored_replies),
    )


def store_imported(
    tx: Tx, site: Site, thread: Thread, placed: PlacedImport, now: int
) -> list[tuple[Any, ...]]:
    """Store comments `place_imported` placed, on `thread`, with their own authors,
    dates, states and hearts; returns the rows as stored (real ids, in the same order).

    The counters are counted here, and one `imported` event stands for them all: live
    pages reload their counts, but nobody is mailed, no webhook fires and the writer's
    inbox gains nothing for comments that may be years old.
    """
    ids = import_store.reserve_comment_ids(tx, len(placed.rows))
    tid = thread.id
    if not placed.under_stored:  # a first import: every parent is in the same call
        rows = [
            (ids[r[_ID]], tid, None if r[_PARENT] is None else ids[r[_PARENT]],
             None if r[_ROOT] is None else ids[r[_ROOT]], *r[_DEPTH:])
            for r in placed.rows
        ]  # fmt: skip
    else:
        stored_ids = sorted({stored_id for stored_id, _ in placed.under_stored.values()})
        tree = import_store.depths(tx, stored_ids)
        by_writer = inbox_store.writers_among(
            tx, sorted({stored_id for stored_id, levels in placed.under_stored.values() if levels == 1})
        )
        rows = []
        for r in placed.rows:
            row = list(r)
            row[_ID], row[_THREAD] = ids[r[_ID]], tid
            if r[_PARENT] is not None:
                row[_PARENT] = ids[r[_PARENT]]
            if r[_ROOT] is not None:
                row[_ROOT] = ids[r[_ROOT]]
            below = placed.under_stored.get(r[_ID])
            if below is not None:
                stored_id, levels = below
                stored_root, stored_depth = tree[stored_id]
                row[_ROOT], row[_DEPTH] = stored_root or stored_id, stored_depth + levels
                if levels == 1:
                    row[_PARENT] = stored_id
                    row[_FOR_WRITER] = row[_FOR_WRITER] and (
                        r[_IS_WRITER]  # the writer's own reply
                        or addressing.for_writer(r[_BODY], site.writer_name, stored_id in by_writer)
                    )
            rows.append(tuple(row))
    import_store.insert_comments(tx, rows)
    for parent_id, replies in placed.stored_replies.items():  # parents an earlier import stored
        store.change_reply_count(tx, parent_id, replies)
    thread_store.bump_thread(tx, tid, placed.published)
    _record(tx, "imported", site.id, None, tid, now)
    return rows


def imported_comment(row: Sequence[Any]) -> Comment:
    """A row `store_imported` stored, as a `Comment`."""
    (
        comment_id, thread_id, parent_id, root_id, depth, name, email, key, _ip_hash, is_writer, body, _hash,
        html, status, pinned, hearts, liked, replies, created_at, _published_at, edited_at, verified, _for_writer,
    ) = row  # fmt: skip
    return Comment(
        comment_id, thread_id, parent_id, root_id, depth, name, email, key, is_writer, body, html,
        Status(status), pinned, hearts, liked, replies, created_at, edited_at, verified,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Restored:
    """What Parlour's own export says of a comment beyond what `Imported` carries."""

    status: Status
    pinned: bool
    liked_by_writer: bool
    inbox_done: bool
    published_at: int | None
    author_key: str
    ip_hash: str
    verified: bool
    hearted_by: Sequence[tuple[str, int]] = ()  # (reader id, when)


def restore_imported(tx: Tx, comment: Comment, restored: Restored) -> None:
    """Give a comment `store_imported` stored, in this same transaction, the rest of
    what a Parlour export says of it: its pin, the writer's heart, "no reply needed",
    when it was shown, its author's key and marks, and its readers' hearts (the count
    came with it).

    The thread's `imported` event stands for this change too; the status is the one
    `store_imported` stored (checked), so no counter moves.
    """
    if restored.status is not comment.status:
        raise ValueError(f"an imported {comment.status} comment cannot become {restored.status} here")
    values: dict[str, object] = {
        "pinned": restored.pinned, "liked_by_writer": restored.liked_by_writer,
        "inbox_done": restored.inbox_done, "published_at": restored.published_at,
        "author_key": restored.author_key, "ip_hash": restored.ip_hash, "author_verified": restored.verified,
    }  # fmt: skip
    store.update_comment(tx, comment.id, **values)
    store.restore_hearts(tx, comment.id, restored.hearted_by)
    thread_store.bump_thread(tx, comment.thread_id)


def publish(tx: Tx, comment: Comment, site_id: str, now: int, who: Audit | None = None) -> bool:
    """Show a held comment (approved from the queue). False if it was not held."""
    if comment.status is not Status.PENDING:
        return False
    moderation_store.set_status(tx, comment.id, Status.PUBLISHED, now)
    _shown(tx, comment, +1)
    _record(tx, "published", site_id, comment, comment.thread_id, now)
    _audit(tx, who, site_id, comment.id, now)
    return True


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a held comment goes when a reviewed paste is published: under `parent_id`
    (None: the top), the writer's (her mark, no name of its own) or `author_name`'s,
    with `text` if it changed (paragraphs joined in the review)."""

    comment_id: int
    parent_id: int | None
    author_name: str | None
    is_writer: bool
    text: Text | None = None


def publish_reviewed(
    tx: Tx, site_id: str, thread_id: int, placements: Sequence[Placement], now: int, who: Audit | None = None
) -> list[Comment]:
    """Show a pasted comment section's held comments, each placed as the writer's review
    decided, in the order given (a parent before its replies).

    Each must be held on this thread with nothing answering it yet, so no subtree's tree
    fields go stale; a parent must be shown (placed earlier in the same call, or before).
    Like an import, and unlike `publish`, it is quiet: one `imported` event for the
    thread (pages reload), no mail, no webhook, nothing in the writer's inbox for
    comments written long before; each comment keeps its time and gets an audit line.
    """
    shown: list[Comment] = []
    site = site_store.get_site(tx, site_id)
    writer_name = site.writer_name if site else ""
    for p in placements:
        comment = store.get_comment(tx, p.comment_id)
        if comment is None or comment.thread_id != thread_id:
            raise errors.UnknownComment(field="comment_id")
        if comment.status is not Status.PENDING or store.has_replies(tx, comment.id):
            raise errors.InvalidInput(
                "Only a held comment that nothing answers can be placed.", field="comment_id"
            )
        parent = None if p.parent_id is None else store.get_comment(tx, p.parent_id)
        if p.parent_id is not None:
            if parent is None or parent.thread_id != thread_id:
                raise errors.ParentInOtherThread(field="parent_id")
            if parent.status not in (Status.PUBLISHED, Status.REMOVED):
                raise errors.InvalidInput("A comment can only answer one shown before it.", field="parent_id")
        values: dict[str, object] = {
            "parent_id": parent.id if parent else None,
            "root_id": (parent.root_id or parent.id) if parent else None,
            "depth": parent.depth + 1 if parent else 0,
            "is_writer": p.is_writer,
            "author_name": None if p.is_writer else p.author_name,
            "status": Status.PUBLISHED.value,
            "published_at": comment.created_at,
        }
        if p.is_writer:
            values["author_email"] = None
        if p.text is not None:
            values.update(body=p.text.body, html=p.text.html, body_hash=content_hash(p.text.body))
        body = comment.body if p.text is None else p.text.body
        values["for_writer"] = addressing.for_writer(body, writer_name, parent.is_writer if parent else None)
        store.update_comment(tx, comment.id, **values)
        placed = store.get_comment(tx, comment.id)
        assert placed is not None
        _shown(tx, placed, +1)
        _audit(tx, who, site_id, comment.id, now)
        shown.append(placed)
    if shown:
        _record(tx, "imported", site_id, None, thread_id, now)
    return shown


def refuse(
    tx: Tx, comment: Comment, site_id: str, status: Status, now: int, who: Audit | None = None
) -> bool:
    """Reject a held comment, or mark it as spam. False if it was not held."""
    if status not in (Status.REJECTED, Status.SPAM):
        raise ValueError(f"refuse() sets rejected or spam, not {status}")
    if comment.status is not Status.PENDING:
        return False
    moderation_store.set_status(tx, comment.id, status, now)
    thread_store.bump_thread(tx, comment.thread_id, 0)  # its author no longer sees it
    _record(tx, "refused", site_id, comment, comment.thread_id, now)
    _audit(tx, who, site_id, comment.id, now)
    return True


def edit(
    tx: Tx,
    site: Site,
    thread: Thread,
    comment: Comment,
    text: Text,
    now: int,
    *,
    by_writer: bool = False,
    who: Audit | None = None,
) -> Comment:
    """Change a published comment's text.

    A reader's new text passes the same admission checks as a new comment: the thread
    must still be open, a rejected word refuses it, and text that the site would hold
    for review (a held word, too many links, a site that holds everything) is refused
    with `edit_needs_review`, since it would otherwise be shown unreviewed.
    """
    if comment.status is not Status.PUBLISHED:
        raise errors.CommentRemoved()
    if text.body == comment.body:
        return comment
    if not by_writer:
        admission.check_open(site, thread, now)
        if admission.status_for(tx, site, text.body, text.html, comment.author_key) is not Status.PUBLISHED:
            raise errors.EditNeedsReview()
    html = mentions.link_in(tx, site, thread.id, text.body, text.html, comment.created_at)
    parent = None if comment.parent_id is None else store.get_comment(tx, comment.parent_id)
    for_writer = addressing.for_writer(text.body, site.writer_name, parent.is_writer if parent else None)
    store.update_comment(
        tx, comment.id, body=text.body, html=html, body_hash=content_hash(text.body), edited_at=now,
        for_writer=for_writer,
    )  # fmt: skip
    thread_store.bump_thread(tx, comment.thread_id)
    _record(tx, "edited", site.id, comment, comment.thread_id, now)
    _audit(tx, who, site.id, comment.id, now)
    updated = store.get_comment(tx, comment.id)
    assert updated is not None
    return updated


def remove(
    tx: Tx, comment: Comment, site_id: str, now: int, *, erase: bool, who: Audit | None = None
) -> bool:
    """Take a published comment down, leaving its replies under a placeholder.

    `erase` (its author deleting it) takes the text and the author's name and email
    with it; a moderator's removal keeps them, unseen, for the record and for `restore`.
    False if it was not published.
    """
    if comment.status is not Status.PUBLISHED:
        return False
    values: dict[str, object] = {"status": Status.REMOVED.value, "pinned": False}
    if erase:
        values.update(body="", html="", author_name=None, author_email=None, body_hash="")
    store.update_comment(tx, comment.id, **values)
    _shown(tx, comment, -1)
    _record(tx, "removed", site_id, comment, comment.thread_id, now)
    _audit(tx, who, site_id, comment.id, now)
    return True


def restore(tx: Tx, comment: Comment, site_id: str, now: int, who: Audit | None = None) -> bool:
    """Show again a comment a moderator removed. False if it is already shown."""
    if comment.status is Status.PUBLISHED:
        return False
    if comment.status is not Status.REMOVED:
        raise errors.InvalidInput("Only a removed comment can be restored.", field="comment_id")
    if not comment.body:
        raise errors.InvalidInput("Its author deleted this comment's text: there is nothing to restore.")
    store.update_comment(tx, comment.id, status=Status.PUBLISHED.value)
    _shown(tx, comment, +1)
    _record(tx, "restored", site_id, comment, comment.thread_id, now)
    _audit(tx, who, site_id, comment.id, now)
    return True


def heart(
    tx: Tx,
    comment: Comment,
    site_id: str,
    reader_id: str | None,
    on: bool,
    now: int,
    who: Audit | None = None,
) -> tuple[bool, int]:
    """A reader's heart (once per reader identity), or with `reader_id` None the writer's
    ("liked by the author"). Returns (whether anything changed, the heart count)."""
    if comment.status is not Status.PUBLISHED:
        raise errors.CommentRemoved()
    if reader_id is None:
        changed = comment.liked_by_writer != on
        if changed:
            store.update_comment(tx, comment.id, liked_by_writer=on)
        hearts = comment.hearts
    else:
        changed = (
            store.add_heart(tx, comment.id, reader_id, now)
            if on
            else store.remove_heart(tx, comment.id, reader_id)
        )
        hearts = store.change_hearts(tx, comment.id, 1 if on else -1) if changed else comment.hearts
    if changed:
        thread_store.bump_thread(tx, comment.thread_id)
        _record(tx, "hearted", site_id, comment, comment.thread_id, now)
        _audit(tx, who, site_id, comment.id, now)
    return changed, hearts


def pin(tx: Tx, comment: Comment, site_id: str, on: bool, now: int, who: Audit | None = None) -> bool:
    """Pin a top-level comment to the top of its thread, or unpin it."""
    if comment.status is not Status.PUBLISHED:
        raise errors.CommentRemoved()
    if comment.parent_id is not None:
        raise errors.InvalidInput("Only top-level comments can be pinned.", field="comment_id")
    if comment.pinned == on:
        return False
    store.update_comment(tx, comment.id, pinned=on)
    thread_store.bump_thread(tx, comment.thread_id)
    _record(tx, "pinned", site_id, comment, comment.thread_id, now)
    _audit(tx, who, site_id, comment.id, now)
    return True


def mark_answered(
    tx: Tx, comment: Comment, site_id: str, done: bool, now: int, who: Audit | None = None
) -> None:
    """The writer marks a comment "no reply needed" (it leaves her inbox), or takes that back."""
    inbox_store.set_inbox_done(tx, comment.id, done)
    _record(tx, "answered", site_id, comment, comment.thread_id, now)
    _audit(tx, who, site_id, comment.id, now)


def lock(tx: Tx, thread: Thread, locked: bool, now: int, who: Audit | None = None) -> None:
    """Close a thread to new comments, or open it again."""
    moderation_store.set_locked(tx, thread.id, locked)
    thread_store.bump_thread(tx, thread.id)
    _record(tx, "locked", thread.site_id, None, thread.id, now)
    _audit(tx, who, thread.site_id, None, now)


def set_who_may_comment(
    tx: Tx, thread: Thread, choice: WhoMayComment | None, now: int, who: Audit | None = None
) -> None:
    """Who may comment on one thread (None: the site's choice); its pages change."""
    readers_store.set_thread_policy(tx, thread.id, choice)
    _record(tx, "thread_changed", thread.site_id, None, thread.id, now)
    _audit(tx, who, thread.site_id, None, now)


def thread_changed(tx: Tx, site_id: str, thread_id: int, now: int) -> None:
    """Something shown on a thread's pages changed besides one comment's text (a reader
    who left is "a former reader" now): its pages change."""
    thread_store.bump_thread(tx, thread_id)
    _record(tx, "thread_changed", site_id, None, thread_id, now)


def site_changed(tx: Tx, site_id: str, now: int, who: Audit | None = None) -> None:
    """Something shown on every page of a site changed (her name, picture, heart)."""
    thread_store.bump_site_threads(tx, site_id)
    _record(tx, "site_changed", site_id, None, None, now)
    _audit(tx, who, site_id, None, now)
