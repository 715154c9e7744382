"""The mail outbox: messages written with their cause, sent by whichever process claims them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, insert, or_, select, update

from parlour.store.database import Tx
from parlour.store.schema import outbox


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    recipient: str
    subject: str
    body: str
    attempts: int
    message_id: str


_FIELDS = (
    outbox.c.id,
    outbox.c.recipient,
    outbox.c.subject,
    outbox.c.body,
    outbox.c.attempts,
    outbox.c.message_id,
)


def enqueue(tx: Tx, recipient: str, subject: str, body: str, now: int, message_id: str) -> int:
    result = tx.execute(
        insert(outbox)
        .values(
            recipient=recipient, subject=subject, body=body, created_at=now, due_at=now, attempts=0,
            message_id=message_id,
        )
        .returning(outbox.c.id)
    )  # fmt: skip
    return int(result.scalar_one())


def _claimable(now: int, stale_before: int) -> ColumnElement[bool]:
    return and_(
        outbox.c.sent_at.is_(None),
        outbox.c.failed_at.is_(None),
        outbox.c.due_at <= now,
        or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at < stale_before),
    )


def any_due(tx: Tx, now: int, stale_before: int) -> bool:
    """Is anything waiting to be sent? A read, so that an idle worker never takes the
    write lock (on SQLite, every process's worker would otherwise queue behind posts)."""
    query = select(outbox.c.id).where(_claimable(now, stale_before)).limit(1)
    return tx.execute(query).first() is not None


def claim(tx: Tx, now: int, stale_before: int, limit: int = 10) -> list[Message]:
    """Claim due messages with compare-and-set: each is claimed by one process only.

    A claim older than `stale_before` belongs to a process that died mid-send and is
    taken over.
    """
    ids = list(
        tx.execute(
            select(outbox.c.id).where(_claimable(now, stale_before)).order_by(outbox.c.id).limit(limit)
        ).scalars()
    )
    claimed: list[Message] = []
    for message_id in ids:
        row = tx.execute(
            update(outbox)
            .where(outbox.c.id == message_id, _claimable(now, stale_before))
            .values(claimed_at=now, attempts=outbox.c.attempts + 1)
            .returning(*_FIELDS)
        ).one_or_none()
        if row is not None:
            claimed.append(Message(*row))
    return claimed


def mark_sent(tx: Tx, message_id: int, now: int) -> None:
    tx.execute(update(outbox).where(outbox.c.id == message_id).values(sent_at=now, last_error=None))


def mark_failed(tx: Tx, message_id: int, error: str, retry_at: int) -> None:
    tx.execute(
        update(outbox)
        .where(outbox.c.id == message_id)
        .values(claimed_at=None, due_at=retry_at, last_error=error[:2000])
    )


def mark_failed_for_good(tx: Tx, message_id: int, error: str, now: int) -> None:
    """The receiving server refused it for good (or it failed too often): never retried."""
    tx.execute(
        update(outbox)
        .where(outbox.c.id == message_id)
        .values(claimed_at=None, failed_at=now, last_error=error[:2000])
    )


def pending(tx: Tx) -> list[Message]:
    """Messages still to be sent (not those that failed for good)."""
    rows = tx.execute(
        select(*_FIELDS).where(outbox.c.sent_at.is_(None), outbox.c.failed_at.is_(None)).order_by(outbox.c.id)
    )
    return [Message(*row) for row in rows]


def failed(tx: Tx, limit: int = 200) -> list[tuple[Message, str | None, int]]:
    """Messages that failed for good, newest first, with the last error and when."""
    rows = tx.execute(
        select(*_FIELDS, outbox.c.last_error, outbox.c.failed_at)
        .where(outbox.c.failed_at.is_not(None))
        .order_by(outbox.c.failed_at.desc(), outbox.c.id.desc())
        .limit(limit)
    )
    return [(Message(*row[:6]), row[6], int(row[7])) for row in rows]
