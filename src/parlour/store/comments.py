"""Comments, hearts, idempotency keys and reader identities."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from parlour.domain.model import Comment, Sort, Status
from parlour.store.database import IntegrityError, Tx, driver_rows
from parlour.store.schema import comments, events, hearts, idempotency_keys, readers, threads

_SHOWN = (Status.PUBLISHED.value, Status.REMOVED.value)


def _comment(row: Any) -> Comment:
    """The one mapper from a stored comment row (by column name) to a Comment."""
    return Comment(
        id=row.id,
        thread_id=row.thread_id,
        parent_id=row.parent_id,
        root_id=row.root_id,
        depth=row.depth,
        author_name=row.author_name,
        author_email=row.author_email,
        author_key=row.author_key,
        is_writer=bool(row.is_writer),
        body=row.body,
        html=row.html,
        status=Status(row.status),
        pinned=bool(row.pinned),
        hearts=row.hearts,
        liked_by_writer=bool(row.liked_by_writer),
        reply_count=row.reply_count,
        created_at=row.created_at,
        edited_at=row.edited_at,
        author_verified=bool(row.author_verified),
    )


def get_comment(tx: Tx, comment_id: int, *, for_update: bool = False) -> Comment | None:
    """A comment; with `for_update`, its row stays locked until the transaction ends.

    (PostgreSQL: SELECT ... FOR UPDATE. SQLite needs no row lock: its writers are serial.)
    On the driver: a reply reads its parent so under the write lock.
    """
    sql = _GET_FOR_UPDATE if for_update and tx.dialect.name != "sqlite" else _GET
    rows = driver_rows(tx, sql, (comment_id,))
    return _comment_from(rows[0]) if rows else None


def get_comment_and_site(tx: Tx, comment_id: int) -> tuple[Comment, str] | None:
    """A comment (its row locked until the transaction ends) and its thread's site id.

    The lock makes concurrent changes to one comment take turns on PostgreSQL, so two
    removals cannot both decrement the counts; SQLite's writers are serial anyway.
    """
    query = (
        select(comments, threads.c.site_id)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(comments.c.id == comment_id)
        .with_for_update(of=comments)
    )
    row = tx.execute(query).one_or_none()
    return None if row is None else (_comment(row), row.site_id)


# The statements every post runs go straight to the driver (database.driver_rows).
_COLUMNS = (
    "id, thread_id, parent_id, root_id, depth, author_name, author_email, author_key, is_writer, body, "
    "html, status, pinned, hearts, liked_by_writer, reply_count, created_at, edited_at, author_verified"
)
_INSERT_COLUMNS = (
    "thread_id", "parent_id", "root_id", "depth", "author_name", "author_email", "author_key", "ip_hash",
    "is_writer", "body", "body_hash", "html", "status", "pinned", "hearts", "liked_by_writer", "reply_count",
    "created_at", "published_at", "author_verified", "for_writer",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO comments ({', '.join(_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)}) RETURNING id"
)
_FIND_DUPLICATE = (
    f"SELECT {_COLUMNS} FROM comments WHERE thread_id = ? AND author_key = ? AND body_hash = ? "
    "AND coalesce(parent_id, 0) = ? AND created_at >= ? AND status = 'published' ORDER BY id LIMIT 1"
)
_GET = f"SELECT {_COLUMNS} FROM comments WHERE id = ?"
_GET_FOR_UPDATE = _GET + " FOR UPDATE"
_AUTHORS_BEFORE = (
    "SELECT id, author_name, is_writer FROM comments "
    "WHERE thread_id = ? AND status = ? AND created_at < ? ORDER BY created_at, id"
)
_GET_IDEMPOTENT = 'SELECT fingerprint, comment_id FROM idempotency_keys WHERE site_id = ? AND "key" = ?'
_COUNT_BY_IP = "SELECT count(*) FROM comments WHERE ip_hash = ? AND created_at >= ? AND is_writer = ?"
_CHANGE_REPLY_COUNT = "UPDATE comments SET reply_count = reply_count + ? WHERE id = ?"


_Row = namedtuple("_Row", _COLUMNS.replace(" ", "").split(","))  # type: ignore[misc]


def _comment_from(row: Sequence[Any]) -> Comment:
    """A Comment from a driver row in `_COLUMNS` order (through the one mapper, `_comment`)."""
    return _comment(_Row(*row))


def insert_comment(tx: Tx, **values: Any) -> Comment:
    """Insert and return the stored comment (one statement: RETURNING the new id)."""
    rows = driver_rows(tx, _INSERT, [values[c] for c in _INSERT_COLUMNS])
    v = values
    return Comment(
        int(rows[0][0]), v["thread_id"], v["parent_id"], v["root_id"], v["depth"], v["author_name"],
        v["author_email"], v["author_key"], v["is_writer"], v["body"], v["html"], Status(v["status"]),
        v["pinned"], v["hearts"], v["liked_by_writer"], v["reply_count"], v["created_at"], None,
        v["author_verified"],
    )  # fmt: skip


def find_recent_duplicate(
    tx: Tx, thread_id: int, parent_id: int | None, author_key: str, body_hash: str, since: int
) -> Comment | None:
    """The same author's same text under the same parent, posted after `since`."""
    rows = driver_rows(tx, _FIND_DUPLICATE, (thread_id, author_key, body_hash, parent_id or 0, since))
    return _comment_from(rows[0]) if rows else None


def count_recent_by_ip(tx: Tx, ip_hash: str, since: int) -> int:
    return int(driver_rows(tx, _COUNT_BY_IP, (ip_hash, since, False))[0][0])


def change_reply_count(tx: Tx, comment_id: int, delta: int) -> None:
    driver_rows(tx, _CHANGE_REPLY_COUNT, (delta, comment_id))


def has_replies(tx: Tx, comment_id: int) -> bool:
    """Whether any comment (in any state) answers this one."""
    found = tx.execute(select(comments.c.id).where(comments.c.parent_id == comment_id).limit(1)).first()
    return found is not None


def authors_before(tx: Tx, thread_id: int, before: int) -> list[tuple[int, str | None, bool]]:
    """(id, author name, by the writer) of the thread's published comments created before
    `before`, oldest first: the names a new comment can mention (on the driver: a post
    that mentions someone reads them under the write lock)."""
    rows = driver_rows(tx, _AUTHORS_BEFORE, (thread_id, Status.PUBLISHED.value, before))
    return [(int(r[0]), r[1], bool(r[2])) for r in rows]


def update_comment(tx: Tx, comment_id: int, **values: Any) -> None:
    tx.execute(update(comments).where(comments.c.id == comment_id).values(**values))


def _has_published_descendant() -> ColumnElement[bool]:
    desc = comments.alias()
    return exists().where(desc.c.root_id == comments.c.id, desc.c.status == Status.PUBLISHED.value)


def list_top_level(
    tx: Tx, thread_id: int, sort: Sort, after: tuple[int, ...] | None, limit: int
) -> list[Comment]:
    """A page of top-level comments: pinned first, then by `sort`, after the keyset `after`.

    Removed comments are listed only while something under them is still published.
    """
    pinned = comments.c.pinned
    conditions: list[ColumnElement[bool]] = [
        comments.c.thread_id == thread_id,
        comments.c.parent_id.is_(None),
        or_(comments.c.status == Status.PUBLISHED.value, and_(comments.c.status == Status.REMOVED.value, _has_published_descendant())),
    ]  # fmt: skip
    if sort is Sort.TOP:
        order = [pinned.desc(), comments.c.hearts.desc(), comments.c.id.asc()]
    elif sort is Sort.NEWEST:
        order = [pinned.desc(), comments.c.id.desc()]
    else:
        order = [pinned.desc(), comments.c.id.asc()]
    if after is not None:
        conditions.append(_after(sort, after))
    rows = tx.execute(select(comments).where(*conditions).order_by(*order).limit(limit))
    return [_comment(r) for r in rows]


def _after(sort: Sort, key: tuple[int, ...]) -> ColumnElement[bool]:
    pinned, cid = bool(key[0]), key[-1]
    pin = comments.c.pinned
    if sort is Sort.TOP:
        hearts_ = key[1]
        rest = or_(comments.c.hearts < hearts_, and_(comments.c.hearts == hearts_, comments.c.id > cid))
    elif sort is Sort.NEWEST:
        rest = comments.c.id < cid
    else:
        rest = comments.c.id > cid
    if pinned:
        return or_(pin.is_(False), and_(pin.is_(True), rest))
    return and_(pin.is_(False), rest)


def sort_key(sort: Sort, comment: Comment) -> tuple[int, ...]:
    """The keyset a cursor carries for `comment` in this sort order."""
    if sort is Sort.TOP:
        return (int(comment.pinned), comment.hearts, comment.id)
    return (int(comment.pinned), comment.id)


def list_replies(tx: Tx, root_ids: Sequence[int], per_root: int, after: int | None = None) -> list[Comment]:
    """Up to `per_root` + 1 shown descendants of each root, oldest first (ids after `after`).

    The first N replies by id always form a closed tree: a reply is newer than its parent.
    """
    if not root_ids:
        return []
    conditions: list[ColumnElement[bool]] = [comments.c.root_id.in_(root_ids), comments.c.status.in_(_SHOWN)]
    if after is not None:
        conditions.append(comments.c.id > after)
    numbered = (
        select(
            comments,
            func.row_number().over(partition_by=comments.c.root_id, order_by=comments.c.id).label("rn"),
        )
        .where(*conditions)
        .subquery()
    )
    rows = tx.execute(select(numbered).where(numbered.c.rn <= per_root + 1).order_by(numbered.c.id))
    return [_comment(r) for r in rows]


def with_thread(*columns: Any) -> Select[Any]:
    """SELECT comment id, site id, thread key, thread title, then `columns`, from comments
    joined to their threads: the start of every desk listing."""
    return select(comments.c.id, threads.c.site_id, threads.c.key, threads.c.title, *columns).join(
        threads, threads.c.id == comments.c.thread_id
    )


def recent_published(
    tx: Tx, since: int, thread: tuple[str, str] | None = None
) -> list[tuple[Comment, str, str, int]]:
    """Comments published (posted, or approved) at or after `since` (ms), in one (site,
    key) thread or all, in that order, with their thread's site id and key and the time
    they were published: what the live feed sends."""
    conditions = [comments.c.published_at >= since, comments.c.status == Status.PUBLISHED.value]
    if thread is not None:
        conditions += [threads.c.site_id == thread[0], threads.c.key == thread[1]]
    query = (
        select(comments, threads.c.site_id, threads.c.key.label("thread_key"))
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(*conditions)
        .order_by(comments.c.published_at, comments.c.id)
        .limit(1000)
    )
    return [(_comment(r), r.site_id, r.thread_key, r.published_at) for r in tx.execute(query)]


FEED_WINDOW = 2000  # the newest published comments of the instance a site's feed looks through first


def latest_published(tx: Tx, site_id: str, thread_id: int | None, limit: int) -> list[tuple[Comment, int]]:
    """The newest published comments of one thread of the site, or of the whole site,
    newest first by the time they were published, each with that time: what a feed lists.

    A thread's are found by its id (ix_comments_thread_top) and sorted. A site has no
    index of its own comments, and reading all of them to keep the newest is the plan
    SQLite picks (270 ms at 200,000 comments of one site). So the site's are looked for
    first among the instance's `FEED_WINDOW` newest (ix_comments_published, from its end,
    each comment's site looked up by its thread's id, stopping at `limit`: 4 ms there).
    Only a site with fewer than `limit` among them, a quiet site beside busy ones, then
    reads its own threads' comments.
    """
    published = (comments.c.status == Status.PUBLISHED.value, comments.c.published_at.is_not(None))
    newest = (comments.c.published_at.desc(), comments.c.id.desc())
    if thread_id is not None:
        query = select(comments).where(comments.c.thread_id == thread_id, *published)
        return [(_comment(r), r.published_at) for r in tx.execute(query.order_by(*newest).limit(limit))]
    window = (
        select(comments.c.published_at)
        .where(comments.c.published_at.is_not(None))
        .order_by(*newest)
        .offset(FEED_WINDOW - 1)
        .limit(1)
    )
    since = tx.execute(window).scalar_one_or_none()
    # A correlated subquery rather than a join, so that no planner starts from the threads.
    site_of = select(threads.c.site_id).where(threads.c.id == comments.c.thread_id).scalar_subquery()
    recent = select(comments).where(site_of == site_id, comments.c.published_at >= (since or 0), *published)
    found = [(_comment(r), r.published_at) for r in tx.execute(recent.order_by(*newest).limit(limit))]
    if len(found) == limit or since is None:  # complete: the window held them, or held every comment
        return found
    query = (
        select(comments)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(threads.c.site_id == site_id, *published)
        .order_by(*newest)
        .limit(limit)
    )
    return [(_comment(r), r.published_at) for r in tx.execute(query)]


def published_by_events(
    tx: Tx, after_event: int, limit: int = 1000
) -> list[tuple[int, int, Comment, str, str]]:
    """Comments shown (posted, or approved) by events after `after_event`, still shown
    now: (event id, event time, comment, site id, thread key), by event id."""
    query = (
        select(
            events.c.id.label("event_id"),
            events.c.created_at.label("event_at"),
            comments,
            threads.c.site_id,
            threads.c.key.label("thread_key"),
        )
        .select_from(events)
        .join(comments, comments.c.id == events.c.comment_id)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(
            events.c.id > after_event,
            events.c.kind.in_(("posted", "published")),
            comments.c.status == Status.PUBLISHED.value,
        )
        .order_by(events.c.id)
        .limit(limit)
    )
    return [(r.event_id, r.event_at, _comment(r), r.site_id, r.thread_key) for r in tx.execute(query)]


def count_replies_through(tx: Tx, root_id: int, comment_id: int) -> int:
    """How many shown replies under `root_id` come up to and including `comment_id`."""
    query = select(func.count()).where(
        comments.c.root_id == root_id, comments.c.status.in_(_SHOWN), comments.c.id <= comment_id
    )
    return int(tx.execute(query).scalar_one())


def add_heart(tx: Tx, comment_id: int, reader_id: str, now: int) -> bool:
    """True when this reader had not hearted the comment before."""
    try:
        with tx.begin_nested():
            tx.execute(insert(hearts).values(comment_id=comment_id, reader_id=reader_id, created_at=now))
    except IntegrityError:
        return False
    return True


def remove_heart(tx: Tx, comment_id: int, reader_id: str) -> bool:
    result = tx.execute(
        delete(hearts).where(hearts.c.comment_id == comment_id, hearts.c.reader_id == reader_id)
    )
    return bool(result.rowcount)


def change_hearts(tx: Tx, comment_id: int, delta: int) -> int:
    """Add `delta` (+1 or -1) to a comment's heart count, never below 0; the new count.

    Counted, not recounted from `hearts`: an imported comment keeps the hearts it had in
    its old home, which no row of `hearts` stands for.
    """
    count = tx.execute(
        update(comments)
        .where(comments.c.id == comment_id)
        .values(hearts=case((comments.c.hearts + delta < 0, 0), else_=comments.c.hearts + delta))
        .returning(comments.c.hearts)
    ).scalar_one()
    return int(count)


def get_idempotent(tx: Tx, site_id: str, key: str) -> tuple[str, int] | None:
    """The fingerprint and comment of a post made with this Idempotency-Key (on the driver:
    a post with a key looks it up under the write lock)."""
    rows = driver_rows(tx, _GET_IDEMPOTENT, (site_id, key))
    return None if not rows else (rows[0][0], int(rows[0][1]))


def insert_idempotent(tx: Tx, site_id: str, key: str, fingerprint: str, comment_id: int, now: int) -> None:
    # Through SQLAlchemy: a race between two posts with one key ends in its IntegrityError,
    # which posting answers with the winner's comment.
    tx.execute(
        insert(idempotency_keys).values(
            site_id=site_id, key=key, fingerprint=fingerprint, comment_id=comment_id, created_at=now
        )
    )


def insert_reader(tx: Tx, reader_id: str, ip_hash: str, now: int) -> None:
    tx.execute(insert(readers).values(id=reader_id, ip_hash=ip_hash, created_at=now))


def count_recent_readers(tx: Tx, ip_hash: str, since: int) -> int:
    query = select(func.count()).where(readers.c.ip_hash == ip_hash, readers.c.created_at >= since)
    return int(tx.execute(query).scalar_one())


def site_comments_shown_between(
    tx: Tx, site_id: str, start: int, end: int, limit: int
) -> list[tuple[Comment, str, str | None, str | None]]:
    """Reader comments shown on a site in [start, end) (posted, or approved), oldest
    first, with their thread's key, title and url: a day's digest. Found by the time they were
    shown (ix_comments_published), so the cost follows that day's comments."""
    query = (
        select(
            comments,
            threads.c.key.label("thread_key"),
            threads.c.title.label("thread_title"),
            threads.c.url.label("thread_url"),
        )
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(
            comments.c.published_at >= start,
            comments.c.published_at < end,
            threads.c.site_id == site_id,
            comments.c.is_writer.is_(False),
            comments.c.status == Status.PUBLISHED.value,
        )
        .order_by(comments.c.published_at, comments.c.id)
        .limit(limit)
    )
    return [(_comment(r), r.thread_key, r.thread_title, r.thread_url) for r in tx.execute(query)]


def restore_hearts(tx: Tx, comment_id: int, given: Sequence[tuple[str, int]]) -> None:
    """Readers' hearts (reader id, when) as a site's export lists them, leaving the
    stored count alone (the export carries it too); one already there is kept."""
    sql = "INSERT INTO hearts (comment_id, reader_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    for reader_id, created_at in given:
        driver_rows(tx, sql, (comment_id, reader_id, created_at))
