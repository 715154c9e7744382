"""The writer's reply inbox: reader comments she has not answered, and how she answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import Exists

from parlour.domain.model import Status
from parlour.store.comments import with_thread
from parlour.store.database import Tx
from parlour.store.schema import comments, threads


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A reader comment waiting for the writer, with where it was posted."""

    id: int
    site_id: str
    thread_key: str
    thread_title: str | None
    thread_url: str | None
    author_name: str | None
    body: str
    html: str
    hearts: int
    liked_by_writer: bool
    parent_id: int | None
    created_at: int


def answered_by_writer() -> Exists:
    """EXISTS a published reply by the writer directly under the outer `comments` row."""
    reply = aliased(comments)
    return exists().where(
        reply.c.thread_id == comments.c.thread_id,
        reply.c.parent_id == comments.c.id,
        reply.c.is_writer.is_(True),
        reply.c.status == Status.PUBLISHED.value,
    )


def list_unanswered(tx: Tx, site_ids: Sequence[str], limit: int) -> list[InboxItem]:
    """Published reader comments on these sites with no reply from the writer and not
    marked "no reply needed", oldest first."""
    if not site_ids:
        return []
    query = (
        with_thread(
            threads.c.url,
            comments.c.author_name,
            comments.c.body,
            comments.c.html,
            comments.c.hearts,
            comments.c.liked_by_writer,
            comments.c.parent_id,
            comments.c.created_at,
        )
        .where(
            threads.c.site_id.in_(site_ids),
            comments.c.is_writer.is_(False),
            comments.c.status == Status.PUBLISHED.value,
            comments.c.inbox_done.is_(False),
            ~answered_by_writer(),
        )
        .order_by(comments.c.created_at, comments.c.id)
        .limit(limit)
    )
    return [InboxItem(*list(row)) for row in tx.execute(query)]


def set_inbox_done(tx: Tx, comment_id: int, done: bool) -> None:
    tx.execute(update(comments).where(comments.c.id == comment_id).values(inbox_done=done))


def conversation_times(
    tx: Tx, site_ids: Sequence[str], since: int
) -> list[tuple[int, bool, int | None, bool]]:
    """(created_at, is_writer, parent's created_at, parent is_writer) of published comments
    since `since`: enough for the weekly figures."""
    if not site_ids:
        return []
    parent = aliased(comments)
    query = (
        select(comments.c.created_at, comments.c.is_writer, parent.c.created_at, parent.c.is_writer)
        .join(threads, threads.c.id == comments.c.thread_id)
        .outerjoin(parent, parent.c.id == comments.c.parent_id)
        .where(
            threads.c.site_id.in_(site_ids),
            comments.c.status == Status.PUBLISHED.value,
            comments.c.created_at >= since,
        )
    )
    return [(r[0], bool(r[1]), r[2], bool(r[3]) if r[3] is not None else False) for r in tx.execute(query)]


def answered_since(tx: Tx, site_ids: Sequence[str], since: int) -> list[tuple[int, bool]]:
    """(created_at, answered) of reader comments since `since`, for the reply rate."""
    if not site_ids:
        return []
    query = (
        select(comments.c.created_at, answered_by_writer())
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(
            threads.c.site_id.in_(site_ids),
            comments.c.is_writer.is_(False),
            comments.c.status == Status.PUBLISHED.value,
            comments.c.created_at >= since,
        )
    )
    return [(r[0], bool(r[1])) for r in tx.execute(query)]


def thread_of_comment(tx: Tx, comment_id: int) -> tuple[str, str] | None:
    """The (site id, thread key) a comment belongs to."""
    query = (
        select(threads.c.site_id, threads.c.key)
        .join(comments, comments.c.thread_id == threads.c.id)
        .where(comments.c.id == comment_id)
    )
    row = tx.execute(query).one_or_none()
    return None if row is None else (row.site_id, row.key)
