"""Moderation queries: the queue of held comments, status changes, blocks, thread locks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update

from parlour.domain.model import Status
from parlour.store.comments import with_thread
from parlour.store.database import Tx, driver_rows
from parlour.store.schema import blocks, comments, threads


@dataclass(frozen=True, slots=True)
class Held:
    """A comment waiting for a moderator, with where it was posted."""

    id: int
    site_id: str
    thread_key: str
    thread_title: str | None
    author_name: str | None
    author_email: str | None
    html: str
    parent_id: int | None
    created_at: int


def list_held(tx: Tx, site_ids: Sequence[str], limit: int) -> list[Held]:
    if not site_ids:
        return []
    query = (
        with_thread(
            comments.c.author_name,
            comments.c.author_email,
            comments.c.html,
            comments.c.parent_id,
            comments.c.created_at,
        )
        .where(threads.c.site_id.in_(site_ids), comments.c.status == Status.PENDING.value)
        .order_by(comments.c.created_at, comments.c.id)
        .limit(limit)
    )
    return [Held(*list(row)) for row in tx.execute(query)]


def count_held(tx: Tx, site_ids: Sequence[str]) -> int:
    """How many comments wait for a moderator on these sites (the queue shows the oldest)."""
    if not site_ids:
        return 0
    query = (
        select(func.count())
        .select_from(comments.join(threads, threads.c.id == comments.c.thread_id))
        .where(threads.c.site_id.in_(site_ids), comments.c.status == Status.PENDING.value)
    )
    return int(tx.execute(query).scalar_one())


def has_published(tx: Tx, site_id: str, author_key: str) -> bool:
    """Has this author a published comment on the site (an approved first comment)? On the
    driver: each reader's post on a site that holds first comments asks, under the write
    lock."""
    return bool(driver_rows(tx, _HAS_PUBLISHED, (author_key, Status.PUBLISHED.value, site_id))[0][0])


_HAS_PUBLISHED = (
    "SELECT EXISTS (SELECT 1 FROM comments WHERE author_key = ? AND status = ? "
    "AND thread_id IN (SELECT id FROM threads WHERE site_id = ?))"
)


def set_status(tx: Tx, comment_id: int, status: Status, now: int) -> None:
    values: dict[str, object] = {"status": status.value}
    if status is Status.PUBLISHED:
        values["published_at"] = now  # for the live feed: it appears on open pages now
    tx.execute(update(comments).where(comments.c.id == comment_id).values(**values))


def set_locked(tx: Tx, thread_id: int, locked: bool) -> None:
    tx.execute(update(threads).where(threads.c.id == thread_id).values(locked=locked))


def insert_block(
    tx: Tx, site_id: str, kind: str, value: str, reason: str, expires_at: int | None, now: int
) -> int:
    result = tx.execute(
        insert(blocks)
        .values(site_id=site_id, kind=kind, value=value, reason=reason, expires_at=expires_at, created_at=now)
        .returning(blocks.c.id)
    )
    return int(result.scalar_one())


def delete_block(tx: Tx, site_id: str, block_id: int) -> bool:
    result = tx.execute(delete(blocks).where(blocks.c.id == block_id, blocks.c.site_id == site_id))
    return bool(result.rowcount)


# Run by every reader's post while it holds the write lock: straight on the driver, one
# statement shape whatever is known of the author (measured: the SQLAlchemy version, with
# its varying OR, cost as much as the rest of a post).
_IS_BLOCKED = (
    "SELECT 1 FROM blocks WHERE site_id = ? AND ("
    "(kind = 'address' AND value = ?) OR (kind = 'reader' AND value = ?) OR (kind = 'email' AND value = ?)"
    ") AND (expires_at IS NULL OR expires_at > ?) LIMIT 1"
)


def is_blocked(tx: Tx, site_id: str, address: str, reader: str | None, email: str | None, now: int) -> bool:
    """Is the author blocked on the site, by address hash, reader identity or email, and
    not expired? (A missing reader or email matches nothing: values are never empty.)"""
    return bool(driver_rows(tx, _IS_BLOCKED, (site_id, address, reader or "", email or "", now)))


@dataclass(frozen=True, slots=True)
class Block:
    id: int
    site_id: str
    kind: str
    value: str
    reason: str
    expires_at: int | None
    created_at: int


def list_blocks(tx: Tx, site_ids: Sequence[str]) -> list[Block]:
    if not site_ids:
        return []
    query = select(blocks).where(blocks.c.site_id.in_(site_ids)).order_by(blocks.c.id.desc())
    return [
        Block(r.id, r.site_id, r.kind, r.value, r.reason, r.expires_at, r.created_at)
        for r in tx.execute(query)
    ]


def author_marks(tx: Tx, comment_id: int) -> tuple[str, str, str | None, str] | None:
    """(site id, author key, email, address hash) of a comment's author: what a block
    can name. Never shown: a moderator blocks "the author of this comment"."""
    query = (
        select(threads.c.site_id, comments.c.author_key, comments.c.author_email, comments.c.ip_hash)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(comments.c.id == comment_id)
    )
    row = tx.execute(query).one_or_none()
    return None if row is None else (row[0], row[1], row[2], row[3])


def restore_block(
    tx: Tx, site_id: str, kind: str, value: str, reason: str, expires_at: int | None, created_at: int
) -> None:
    """A block as a site's export says, unless the same one is here already."""
    same = select(blocks.c.id).where(
        blocks.c.site_id == site_id, blocks.c.kind == kind, blocks.c.value == value,
        blocks.c.created_at == created_at,
    )  # fmt: skip
    if tx.execute(same.limit(1)).first() is None:
        insert_block(tx, site_id, kind, value, reason, expires_at, created_at)
