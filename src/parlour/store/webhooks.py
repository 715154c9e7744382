"""Webhooks and their deliveries: the outbox of Standard Webhooks messages.

A delivery is written by the webhooks consumer in the transaction that moves its cursor,
claimed by whichever process's worker gets it first (compare-and-set, as store/outbox.py
does for mail), and kept afterwards as the desk's delivery log until `prune`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update

from parlour.domain.model import Webhook, WebhookDelivery
from parlour.store.database import Tx
from parlour.store.schema import webhook_deliveries as deliveries
from parlour.store.schema import webhooks

NEVER = 2**62  # due_at of a delivery done with (given up on): out of the due range any worker reads


def _webhook(row: Any) -> Webhook:
    events = tuple(row.events.split()) if row.events else None
    return Webhook(
        id=row.id, site_id=row.site_id, url=row.url, secret=row.secret, created_at=row.created_at,
        events=events, disabled_at=row.disabled_at,
    )  # fmt: skip


def _delivery(row: Any) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id, webhook_id=row.webhook_id, message_id=row.message_id, event_type=row.event_type,
        payload=row.payload, created_at=row.created_at, due_at=row.due_at, attempts=row.attempts,
        last_status=row.last_status, last_error=row.last_error, delivered_at=row.delivered_at,
        failed_at=row.failed_at,
    )  # fmt: skip


def add_webhook(
    tx: Tx, site_id: str, url: str, secret: str, events: Sequence[str] | None, now: int
) -> Webhook:
    row = tx.execute(
        insert(webhooks)
        .values(
            site_id=site_id, url=url, secret=secret, events=" ".join(events) if events else None,
            created_at=now,
        )
        .returning(*webhooks.c)
    ).one()  # fmt: skip
    return _webhook(row)


def get_webhook(tx: Tx, webhook_id: int) -> Webhook | None:
    row = tx.execute(select(webhooks).where(webhooks.c.id == webhook_id)).one_or_none()
    return None if row is None else _webhook(row)


def list_webhooks(tx: Tx, site_id: str | None = None) -> list[Webhook]:
    query = select(webhooks).order_by(webhooks.c.site_id, webhooks.c.id)
    if site_id is not None:
        query = query.where(webhooks.c.site_id == site_id)
    return [_webhook(row) for row in tx.execute(query)]


def remove_webhook(tx: Tx, webhook_id: int) -> bool:
    """Delete a webhook and (by cascade) its deliveries, sent or waiting."""
    return bool(tx.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount)


def set_disabled(tx: Tx, webhook_id: int, when: int | None) -> bool:
    """Pause a webhook (`when`) or resume it (None). Its waiting deliveries wait with it."""
    result = tx.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(disabled_at=when))
    return bool(result.rowcount)


def active_for_sites(tx: Tx, site_ids: Collection[str]) -> list[Webhook]:
    """The webhooks of these sites that are not paused: one query, whatever the number of
    sites (the consumer asks once per batch of events)."""
    query = select(webhooks).where(webhooks.c.site_id.in_(sorted(site_ids)), webhooks.c.disabled_at.is_(None))
    return [_webhook(row) for row in tx.execute(query.order_by(webhooks.c.id))]


@dataclass(frozen=True, slots=True)
class NewDelivery:
    webhook_id: int
    message_id: str
    event_type: str
    payload: str


def enqueue(tx: Tx, new: Sequence[NewDelivery], now: int) -> None:
    """Write deliveries due at once, in the caller's transaction (one statement)."""
    if not new:
        return
    tx.execute(
        insert(deliveries),
        [
            {"webhook_id": d.webhook_id, "message_id": d.message_id, "event_type": d.event_type,
             "payload": d.payload, "created_at": now, "due_at": now, "attempts": 0}
            for d in new
        ],
    )  # fmt: skip


def _claimable(now: int, stale_before: int) -> ColumnElement[bool]:
    return and_(
        deliveries.c.delivered_at.is_(None),
        deliveries.c.failed_at.is_(None),
        deliveries.c.due_at <= now,
        or_(deliveries.c.claimed_at.is_(None), deliveries.c.claimed_at < stale_before),
    )


def _active_webhook() -> Any:
    """Deliveries of a paused webhook wait until it is resumed."""
    return deliveries.c.webhook_id.in_(select(webhooks.c.id).where(webhooks.c.disabled_at.is_(None)))


def any_due(tx: Tx, now: int, stale_before: int) -> bool:
    """Is anything waiting to be sent? A read, so an idle worker never takes the write lock."""
    query = select(deliveries.c.id).where(_claimable(now, stale_before), _active_webhook()).limit(1)
    return tx.execute(query).first() is not None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery in hand, with where it goes and what signs it."""

    delivery: WebhookDelivery
    url: str
    secret: str


def claim(tx: Tx, now: int, stale_before: int, limit: int) -> list[Claimed]:
    """Claim due deliveries with compare-and-set: each is claimed by one process only, and
    counts an attempt. A claim older than `stale_before` belongs to a process that died
    mid-send and is taken over."""
    ids = list(
        tx.execute(
            select(deliveries.c.id)
            .where(_claimable(now, stale_before), _active_webhook())
            .order_by(deliveries.c.due_at, deliveries.c.id)
            .limit(limit)
        ).scalars()
    )
    claimed: list[WebhookDelivery] = []
    for delivery_id in ids:
        row = tx.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, _claimable(now, stale_before))
            .values(claimed_at=now, attempts=deliveries.c.attempts + 1)
            .returning(*deliveries.c)
        ).one_or_none()
        if row is not None:
            claimed.append(_delivery(row))
    if not claimed:
        return []
    targets = {
        row.id: (row.url, row.secret)
        for row in tx.execute(
            select(webhooks.c.id, webhooks.c.url, webhooks.c.secret).where(
                webhooks.c.id.in_({d.webhook_id for d in claimed})
            )
        )
    }
    return [Claimed(d, *targets[d.webhook_id]) for d in claimed if d.webhook_id in targets]


def renew_claims(tx: Tx, ids: Sequence[int], now: int) -> None:
    """The claiming process is alive and still sending these: their claims stay fresh."""
    tx.execute(
        update(deliveries)
        .where(
            deliveries.c.id.in_(ids),
            deliveries.c.delivered_at.is_(None),
            deliveries.c.claimed_at.is_not(None),
        )
        .values(claimed_at=now)
    )


def mark_delivered(tx: Tx, delivery_id: int, status: int, now: int) -> None:
    tx.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(delivered_at=now, claimed_at=None, last_status=status, last_error=None)
    )


def mark_failed(tx: Tx, delivery_id: int, status: int | None, error: str, retry_at: int) -> None:
    """Not delivered: again at `retry_at`."""
    tx.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(claimed_at=None, due_at=retry_at, last_status=status, last_error=error[:2000])
    )


def mark_failed_for_good(tx: Tx, delivery_id: int, status: int | None, error: str, now: int) -> None:
    """Given up on: never retried."""
    tx.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(claimed_at=None, due_at=NEVER, failed_at=now, last_status=status, last_error=error[:2000])
    )


def latest(tx: Tx, webhook_id: int, limit: int) -> list[WebhookDelivery]:
    """A webhook's newest deliveries first (the desk's log)."""
    rows = tx.execute(
        select(deliveries)
        .where(deliveries.c.webhook_id == webhook_id)
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    return [_delivery(row) for row in rows]


def last_of_each(tx: Tx, webhook_ids: Collection[int]) -> dict[int, WebhookDelivery]:
    """Each webhook's newest delivery, by webhook id (webhooks with none are left out)."""
    if not webhook_ids:
        return {}
    newest = (
        select(func.max(deliveries.c.id))
        .where(deliveries.c.webhook_id.in_(sorted(webhook_ids)))
        .group_by(deliveries.c.webhook_id)
    )
    rows = tx.execute(select(deliveries).where(deliveries.c.id.in_(newest)))
    return {row.webhook_id: _delivery(row) for row in rows}


def pending(tx: Tx) -> list[WebhookDelivery]:
    """Deliveries neither delivered nor given up on, oldest first."""
    rows = tx.execute(
        select(deliveries)
        .where(deliveries.c.delivered_at.is_(None), deliveries.c.failed_at.is_(None))
        .order_by(deliveries.c.id)
    )
    return [_delivery(row) for row in rows]


def undelivered(tx: Tx) -> tuple[int, int | None]:
    """How many deliveries wait (neither delivered nor given up on), and when the oldest
    was made (ms; None when none waits)."""
    row = tx.execute(
        select(func.count(), func.min(deliveries.c.created_at)).where(
            deliveries.c.delivered_at.is_(None), deliveries.c.failed_at.is_(None)
        )
    ).one()
    return int(row[0]), None if row[1] is None else int(row[1])


def _ended_before(before: int) -> ColumnElement[bool]:
    return or_(
        deliveries.c.delivered_at < before,
        and_(
            deliveries.c.delivered_at.is_(None), deliveries.c.due_at == NEVER, deliveries.c.failed_at < before
        ),
    )


def any_to_prune(tx: Tx, before: int) -> bool:
    """A read first, so that a worker with nothing to forget takes no write lock."""
    return tx.execute(select(deliveries.c.id).where(_ended_before(before)).limit(1)).first() is not None


def prune(tx: Tx, before: int) -> int:
    """Forget deliveries that ended (delivered, or given up on) before `before`; returns how many."""
    done = tx.execute(delete(deliveries).where(deliveries.c.delivered_at < before)).rowcount or 0
    given_up = (
        tx.execute(
            delete(deliveries).where(
                deliveries.c.delivered_at.is_(None),
                deliveries.c.due_at == NEVER,
                deliveries.c.failed_at < before,
            )
        ).rowcount
        or 0
    )
    return int(done) + int(given_up)
