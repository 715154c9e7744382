"""The writer's reply inbox: reader comments she has not answered, and how she answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql.expression import Exists

from parlour.domain.model import Status
from parlour.store.comments import with_thread
from parlour.store.database import Tx
from parlour.store.schema import comments, events, inbox, threads


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
    # The comment it answers (None at the top of a conversation): the desk shows it above.
    parent_author: str | None = None
    parent_is_writer: bool = False
    parent_html: str | None = None  # sanitised; "" if it was removed


def answered_by_writer() -> Exists:
    """EXISTS a published reply by the writer directly under the outer `comments` row."""
    reply = comments.alias()
    return exists().where(
        reply.c.thread_id == comments.c.thread_id,
        reply.c.parent_id == comments.c.id,
        reply.c.is_writer.is_(True),
        reply.c.status == Status.PUBLISHED.value,
    )


def waiting_for_writer() -> tuple[ColumnElement[bool], ...]:
    """The outer `comments` row waits for the writer's answer: a published reader comment
    for her (`for_writer`, domain/addressing.py), not marked "no reply needed", with no
    reply of hers. The one rule the inbox, its figures, the posts' counts and the Monday
    mail all count by."""
    return (
        comments.c.is_writer.is_(False),
        comments.c.status == Status.PUBLISHED.value,
        comments.c.inbox_done.is_(False),
        comments.c.for_writer.is_(True),
        ~answered_by_writer(),
    )


def writers_among(tx: Tx, comment_ids: Sequence[int]) -> set[int]:
    """Which of these comments the writer wrote."""
    found: set[int] = set()
    for chunk in _chunks(sorted(set(comment_ids))):
        query = select(comments.c.id).where(comments.c.id.in_(chunk), comments.c.is_writer.is_(True))
        found.update(int(row[0]) for row in tx.execute(query))
    return found


# Comments named by events the inbox consumer has not handled yet, read past its cursor
# (at most this many: a consumer that far behind is catching up, its backlog shows as
# the consumer handles it).
FRESH_MAX = 5000


def list_unanswered(
    tx: Tx, site_ids: Sequence[str], limit: int, consumed: tuple[int, int] = (0, 0)
) -> list[InboxItem]:
    """Published reader comments on these sites with no reply from the writer and not
    marked "no reply needed", oldest first.

    Reads the `inbox` table (kept by the inbox consumer, services/inbox.py), so the cost
    follows the number waiting, not the number of comments; plus the comments named by
    events the consumer has not handled yet (after its cursor, `consumed`), and their
    parents, so the list is true at once (while the consumer is less than `FRESH_MAX`
    comments behind). Every candidate is checked again here, so a comment answered a
    moment ago never shows."""
    if not site_ids:
        return []
    answered = comments.alias("answered")
    columns = (
        threads.c.url,
        comments.c.author_name,
        comments.c.body,
        comments.c.html,
        comments.c.hearts,
        comments.c.liked_by_writer,
        comments.c.parent_id,
        comments.c.created_at,
        answered.c.author_name,
        answered.c.is_writer,
        case((answered.c.status == Status.PUBLISHED.value, answered.c.html), else_=literal("")),
    )

    def listing() -> Select[Any]:
        return with_thread(*columns).outerjoin(answered, answered.c.id == comments.c.parent_id)

    waiting = waiting_for_writer()
    kept = (
        listing()
        .join(inbox, inbox.c.comment_id == comments.c.id)
        .where(inbox.c.site_id.in_(site_ids), *waiting)
        .order_by(inbox.c.created_at, inbox.c.comment_id)
        .limit(limit)
    )
    # In commit order on PostgreSQL; on SQLite tx_id is always 0, and the row-value form
    # would make SQLite scan every event (it cannot use the primary key for it).
    after = (
        events.c.id > consumed[1]
        if tx.dialect.name == "sqlite"
        else tuple_(events.c.tx_id, events.c.id) > tuple_(literal(consumed[0]), literal(consumed[1]))
    )
    unhandled = select(events.c.comment_id).where(
        after, events.c.comment_id.is_not(None), events.c.site_id.in_(site_ids)
    )
    parent = comments.alias()
    parents = select(parent.c.parent_id).where(parent.c.id.in_(unhandled), parent.c.parent_id.is_not(None))
    # The ids first, then the comments by id: given the subquery, planners started from
    # the site's threads and went through every comment of the site.
    fresh_ids = [row[0] for row in tx.execute(unhandled.union(parents).limit(FRESH_MAX))]
    queries = [kept]
    if fresh_ids:
        queries.append(
            listing()
            .where(
                comments.c.id.in_(fresh_ids),
                threads.c.site_id.in_(site_ids),
                ~exists().where(inbox.c.comment_id == comments.c.id),
                *waiting,
            )
            .order_by(comments.c.created_at, comments.c.id)
            .limit(limit)
        )
    found = {row[0]: _item(row) for query in queries for row in tx.execute(query)}
    return sorted(found.values(), key=lambda item: (item.created_at, item.id))[:limit]


def _item(row: Any) -> InboxItem:
    values = list(row)
    values[-2] = bool(values[-2]) if values[-2] is not None else False
    if row[10] is None:  # a conversation's first comment answers nothing
        values[-1] = None
    return InboxItem(*values)


def refresh(tx: Tx, comment_ids: Sequence[int]) -> None:
    """Check these comments and their parents again: each one that waits for the writer's
    answer is in the inbox afterwards, every other one is not.

    A statement per 500 comments named (their parents), and two per 500 comments checked
    (out of the inbox, into it): three for a batch of up to 250 new comments, where the
    consumer ran four to seven per event. It hands over hundreds at once under load."""
    named = sorted(set(comment_ids))
    checked: set[int] = set()
    for chunk in _chunks(named):
        checked.update(chunk)
        parents = select(comments.c.parent_id).where(
            comments.c.id.in_(chunk), comments.c.parent_id.is_not(None)
        )
        checked.update(row[0] for row in tx.execute(parents))
    for chunk in _chunks(sorted(checked)):
        waiting = (
            select(comments.c.id, threads.c.site_id, comments.c.created_at)
            .join(threads, threads.c.id == comments.c.thread_id)
            .where(comments.c.id.in_(chunk), *waiting_for_writer())
        )
        tx.execute(
            delete(inbox).where(
                inbox.c.comment_id.in_(chunk),
                inbox.c.comment_id.not_in(waiting.with_only_columns(comments.c.id)),
            )
        )
        new = waiting.where(~exists().where(inbox.c.comment_id == comments.c.id))
        tx.execute(insert(inbox).from_select(["comment_id", "site_id", "created_at"], new))


_CHUNK = 500  # ids in one IN (...): well under SQLite's limit of bound parameters


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def rebuild(tx: Tx) -> int:
    """Fill the inbox from the comments as they are (after a bulk load); returns its size."""
    tx.execute(delete(inbox))
    waiting = (
        select(comments.c.id, threads.c.site_id, comments.c.created_at)
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(*waiting_for_writer())
    )
    tx.execute(insert(inbox).from_select(["comment_id", "site_id", "created_at"], waiting))
    return int(tx.execute(select(func.count()).select_from(inbox)).scalar_one())


def set_inbox_done(tx: Tx, comment_id: int, done: bool) -> None:
    tx.execute(update(comments).where(comments.c.id == comment_id).values(inbox_done=done))


def conversation_times(
    tx: Tx, site_ids: Sequence[str], since: int
) -> list[tuple[int, bool, int | None, bool]]:
    """(created_at, is_writer, parent's created_at, parent is_writer) of published comments
    since `since`: enough for the weekly figures."""
    if not site_ids:
        return []
    parent = comments.alias()
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
    """(created_at, answered) of reader comments for the writer since `since`, for the
    reply rate: replies between readers that do not address her count neither way."""
    if not site_ids:
        return []
    query = (
        select(comments.c.created_at, answered_by_writer())
        .join(threads, threads.c.id == comments.c.thread_id)
        .where(
            threads.c.site_id.in_(site_ids),
            comments.c.is_writer.is_(False),
            comments.c.status == Status.PUBLISHED.value,
            comments.c.for_writer.is_(True),
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
