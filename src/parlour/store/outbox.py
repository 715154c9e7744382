"""The mail outbox: messages written with their cause, sent by whichever process claims them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update

from parlour.store.database import Tx, serialize_on
from parlour.store.schema import outbox


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    recipient: str
    subject: str
    body: str
    attempts: int
    message_id: str
    html: str | None = None
    headers: dict[str, str] | None = None  # beyond From, To, Subject, Date and Message-ID


_FIELDS = (
    outbox.c.id,
    outbox.c.recipient,
    outbox.c.subject,
    outbox.c.body,
    outbox.c.attempts,
    outbox.c.message_id,
    outbox.c.html,
    outbox.c.headers,
)


def _message(row: Sequence[Any]) -> Message:
    headers = orjson.loads(row[7]) if row[7] else None
    return Message(row[0], row[1], row[2], row[3], row[4], row[5], row[6], headers)


def enqueue(
    tx: Tx,
    recipient: str,
    subject: str,
    body: str,
    now: int,
    message_id: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    result = tx.execute(
        insert(outbox)
        .values(
            recipient=recipient, subject=subject, body=body, created_at=now, due_at=now, attempts=0,
            message_id=message_id, html=html, headers=orjson.dumps(headers).decode() if headers else None,
        )
        .returning(outbox.c.id)
    )  # fmt: skip
    return int(result.scalar_one())


def _claimable(now: int, stale_before: int) -> ColumnElement[bool]:
    return and_(
        outbox.c.sent_at.is_(None),
        outbox.c.failed_at.is_(None),
        outbox.c.handed_at.is_(None),
        outbox.c.due_at <= now,
        or_(outbox.c.claimed_at.is_(None), outbox.c.claimed_at < stale_before),
    )


HANDED_UNCONFIRMED = "Handed over to the mail server, which did not answer: taken as sent, never resent."


def settle_handovers(tx: Tx, stale_before: int) -> int:
    """Messages whose process died (or lost the connection) after handing the message's
    text over and before the server's answer: the server may have it, so they count as
    sent and are never sent again (the receiving server sees each Message-ID once).
    Returns how many."""
    result = tx.execute(
        update(outbox)
        .where(
            outbox.c.sent_at.is_(None),
            outbox.c.handed_at.is_not(None),
            outbox.c.claimed_at < stale_before,
        )
        .values(sent_at=outbox.c.handed_at, last_error=HANDED_UNCONFIRMED)
    )
    return int(result.rowcount or 0)


def renew_claims(tx: Tx, ids: list[int], now: int) -> None:
    """The claiming process is alive and still sending these: their claims stay fresh."""
    tx.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids), outbox.c.sent_at.is_(None), outbox.c.claimed_at.is_not(None))
        .values(claimed_at=now)
    )


def release_claims(tx: Tx, ids: list[int]) -> None:
    """Give back claims on messages neither sent nor handed over (the process is stopping):
    another process may send them at once instead of after CLAIM_STALE_MS. The attempt
    they counted is taken back."""
    if ids:
        tx.execute(
            update(outbox)
            .where(
                outbox.c.id.in_(ids),
                outbox.c.sent_at.is_(None),
                outbox.c.handed_at.is_(None),
                outbox.c.claimed_at.is_not(None),
            )
            .values(claimed_at=None, attempts=outbox.c.attempts - 1)
        )


def mark_handed(tx: Tx, message_id: int, now: int) -> None:
    """The message's text is with the server; its final dot goes next."""
    tx.execute(update(outbox).where(outbox.c.id == message_id).values(handed_at=now))


def any_due(tx: Tx, now: int, stale_before: int) -> bool:
    """Is anything waiting to be sent, or a hand-over to settle? A read, so that an idle
    worker never takes the write lock (on SQLite, every process's worker would otherwise
    queue behind posts)."""
    unsettled = and_(
        outbox.c.sent_at.is_(None), outbox.c.handed_at.is_not(None), outbox.c.claimed_at < stale_before
    )
    query = select(outbox.c.id).where(or_(_claimable(now, stale_before), unsettled)).limit(1)
    return tx.execute(query).first() is not None


_NEVER = 2**62  # due_at of a message given up on: out of the due range any worker reads


@dataclass(frozen=True, slots=True)
class PerRecipient:
    """At most `limit` messages to one address in any `window_ms`; 0: no limit."""

    limit: int = 0
    window_ms: int = 3_600_000


def claim(
    tx: Tx, now: int, stale_before: int, limit: int = 10, per_recipient: PerRecipient = PerRecipient()
) -> list[Message]:
    """Claim due messages with compare-and-set: each is claimed by one process only.

    A claim older than `stale_before` belongs to a process that died mid-send and is
    taken over. A message to an address that had its `per_recipient` share already is
    not claimed but postponed until the window lets it go: late, never dropped. A stale
    claim of a message already handed over is settled as sent first (`settle_handovers`).
    """
    settle_handovers(tx, stale_before)
    ids = list(
        tx.execute(
            select(outbox.c.id).where(_claimable(now, stale_before)).order_by(outbox.c.id).limit(limit)
        ).scalars()
    )
    if per_recipient.limit and ids:
        ids = _within_share(tx, ids, now, stale_before, per_recipient)
    claimed: list[Message] = []
    for message_id in ids:
        row = tx.execute(
            update(outbox)
            .where(outbox.c.id == message_id, _claimable(now, stale_before))
            .values(claimed_at=now, attempts=outbox.c.attempts + 1)
            .returning(*_FIELDS)
        ).one_or_none()
        if row is not None:
            claimed.append(_message(row))
    return claimed


def _within_share(tx: Tx, ids: list[int], now: int, stale_before: int, rule: PerRecipient) -> list[int]:
    """The ids that fit their address's share; the others are postponed (due_at moved to
    when the window lets them go), never dropped and not counted as attempts.

    A share counts what was sent in the window and what any process holds claimed (not
    sent yet, the claim still live); processes claiming for the same addresses take
    turns (an advisory lock per address, taken in sorted order: no deadlock)."""
    recipients: dict[int, str] = {
        row[0]: row[1]
        for row in tx.execute(select(outbox.c.id, outbox.c.recipient).where(outbox.c.id.in_(ids)))
    }
    addresses = sorted(set(recipients.values()))
    serialize_on(tx, *(f"mail:{address}" for address in addresses))
    since = now - rule.window_ms
    used: dict[str, list[int]] = {}
    held = and_(outbox.c.sent_at.is_(None), outbox.c.failed_at.is_(None), outbox.c.claimed_at >= stale_before)
    for recipient, sent_at, claimed_at in tx.execute(
        select(outbox.c.recipient, outbox.c.sent_at, outbox.c.claimed_at).where(
            outbox.c.recipient.in_(addresses), or_(outbox.c.sent_at > since, held)
        )
    ):
        used.setdefault(recipient, []).append(int(sent_at if sent_at is not None else claimed_at))
    fits: list[int] = []
    for message_id in ids:
        times = used.setdefault(recipients[message_id], [])
        if len(times) < rule.limit:
            fits.append(message_id)
            times.append(now)
            continue
        # Due again when the oldest send (or claim) in the window leaves it.
        due = max(min(times) + rule.window_ms, now + 1)
        tx.execute(update(outbox).where(outbox.c.id == message_id).values(due_at=due))
    return fits


def mark_sent(tx: Tx, message_id: int, now: int, note: str | None = None) -> None:
    tx.execute(update(outbox).where(outbox.c.id == message_id).values(sent_at=now, last_error=note))


def mark_failed(tx: Tx, message_id: int, error: str, retry_at: int) -> None:
    """Not sent (the server refused it, or it never had the whole message): again at
    `retry_at`."""
    tx.execute(
        update(outbox)
        .where(outbox.c.id == message_id)
        .values(claimed_at=None, handed_at=None, due_at=retry_at, last_error=error[:2000])
    )


def mark_failed_for_good(tx: Tx, message_id: int, error: str, now: int) -> None:
    """The receiving server refused it for good (or it failed too often): never retried."""
    tx.execute(
        update(outbox)
        .where(outbox.c.id == message_id)
        .values(claimed_at=None, handed_at=None, failed_at=now, due_at=_NEVER, last_error=error[:2000])
    )


def pending(tx: Tx) -> list[Message]:
    """Messages still to be sent (not those that failed for good)."""
    rows = tx.execute(
        select(*_FIELDS).where(outbox.c.sent_at.is_(None), outbox.c.failed_at.is_(None)).order_by(outbox.c.id)
    )
    return [_message(row) for row in rows]


def unsent(tx: Tx) -> tuple[int, int | None]:
    """How many messages wait to be sent (not those that failed for good), and when the
    oldest was enqueued (ms; None when none waits)."""
    row = tx.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(
            outbox.c.sent_at.is_(None), outbox.c.failed_at.is_(None)
        )
    ).one()
    return int(row[0]), None if row[1] is None else int(row[1])


def failed(tx: Tx, limit: int = 200) -> list[tuple[Message, str | None, int]]:
    """Messages that failed for good, newest first, with the last error and when."""
    rows = tx.execute(
        select(*_FIELDS, outbox.c.last_error, outbox.c.failed_at)
        .where(outbox.c.failed_at.is_not(None))
        .order_by(outbox.c.failed_at.desc(), outbox.c.id.desc())
        .limit(limit)
    )
    return [(_message(row[:8]), row[8], int(row[9])) for row in rows]
