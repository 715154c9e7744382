"""The event record: one row per change, and the cursors of the consumers that read it.

`append` is called by services/lifecycle.py in the transaction of the change, so an
event exists exactly when its change was committed. It also notes the change on the
transaction (`database.note_change`), so this process drops its cached copy of the
thread the moment the transaction commits.

Reading in order needs care on PostgreSQL: ids are handed out before commit, so a
transaction holding id 7 can commit after one holding id 8, and a reader that saw 8
and moved its cursor past it would never see 7. Each event therefore carries its
transaction's id (`pg_current_xact_id()`), and `read_after` returns only events of
transactions older than the oldest one still running (`pg_snapshot_xmin` of the current
snapshot): those can no longer change, so they are read in (tx_id, id) order and never
missed. On SQLite one transaction writes at a time and ids are already in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from parlour.domain.model import Event
from parlour.store.database import Tx, driver_rows, note_change
from parlour.store.schema import events

_COLUMNS = "id, tx_id, kind, site_id, thread_id, comment_id, created_at"
_INSERT_SQLITE = (
    "INSERT INTO events (tx_id, kind, site_id, thread_id, comment_id, created_at) VALUES (0, ?, ?, ?, ?, ?)"
)
_INSERT_PG = (
    "INSERT INTO events (tx_id, kind, site_id, thread_id, comment_id, created_at) "
    "VALUES (pg_current_xact_id()::text::bigint, ?, ?, ?, ?, ?)"
)


def _event(row: Sequence[Any]) -> Event:
    return Event(*row)


def append(tx: Tx, kind: str, site_id: str, thread_id: int | None, comment_id: int | None, now: int) -> None:
    """Record a change in the caller's transaction."""
    sql = _INSERT_SQLITE if tx.dialect.name == "sqlite" else _INSERT_PG
    driver_rows(tx, sql, (kind, site_id, thread_id, comment_id, now))
    note_change(tx, site_id, thread_id)


def read_after(tx: Tx, tx_id: int, event_id: int, limit: int) -> list[Event]:
    """Events after the cursor (tx_id, event_id), in commit order, that can no longer be
    preceded by another: on PostgreSQL only those of finished transactions."""
    if tx.dialect.name == "sqlite":
        rows = driver_rows(
            tx, f"SELECT {_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (event_id, limit)
        )
    else:
        rows = driver_rows(
            tx,
            f"SELECT {_COLUMNS} FROM events WHERE (tx_id, id) > (?, ?) "
            "AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint ORDER BY tx_id, id LIMIT ?",
            (tx_id, event_id, limit),
        )
    return [_event(r) for r in rows]


def last_id(tx: Tx) -> int:
    rows = driver_rows(tx, "SELECT max(id) FROM events", ())
    return int(rows[0][0] or 0)


def cursor(tx: Tx, name: str) -> tuple[int, int]:
    """A consumer's cursor (tx_id, event_id) as it stands; (0, 0) before its first drain."""
    rows = driver_rows(tx, "SELECT tx_id, event_id FROM event_cursors WHERE name = ?", (name,))
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


def claim_cursor(tx: Tx, name: str, now: int) -> tuple[int, int]:
    """A consumer's cursor (tx_id, event_id), created at the start if new, and locked
    until the transaction ends so that one process at a time reads for that consumer."""
    if tx.dialect.name == "sqlite":  # the write transaction already excludes every other writer
        driver_rows(
            tx, "INSERT OR IGNORE INTO event_cursors (name, tx_id, event_id, updated_at) VALUES (?, 0, 0, ?)",
            (name, now),
        )  # fmt: skip
        rows = driver_rows(tx, "SELECT tx_id, event_id FROM event_cursors WHERE name = ?", (name,))
    else:
        driver_rows(
            tx,
            "INSERT INTO event_cursors (name, tx_id, event_id, updated_at) VALUES (?, 0, 0, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (name, now),
        )
        rows = driver_rows(tx, "SELECT tx_id, event_id FROM event_cursors WHERE name = ? FOR UPDATE", (name,))
    return int(rows[0][0]), int(rows[0][1])


def save_cursor(tx: Tx, name: str, tx_id: int, event_id: int, now: int) -> None:
    driver_rows(
        tx,
        "UPDATE event_cursors SET tx_id = ?, event_id = ?, updated_at = ? WHERE name = ?",
        (tx_id, event_id, now, name),
    )


def for_comment(tx: Tx, comment_id: int) -> list[Event]:
    """Every event of one comment, oldest first (for tests and the desk's history)."""
    rows = tx.execute(select(events).where(events.c.comment_id == comment_id).order_by(events.c.id))
    return [_event(tuple(r)) for r in rows]
