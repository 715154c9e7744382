"""Hearing of changes other processes commit, so that a cache hit needs no query.

`ChangeListener` runs one daemon thread per process and calls `on_change` with the
(site id, thread id) pairs that changed:

- PostgreSQL: LISTEN on `parlour_changes`, which a trigger on `events` notifies at
  every commit (migration 0008). When the connection drops it calls `on_lost` (cached
  answers can no longer be trusted), reconnects, LISTENs again, then calls `on_ready`.
  A quiet connection is pinged every PING seconds, so a silent drop is noticed too.
- SQLite: every POLL seconds it reads `PRAGMA data_version`, which changes when another
  connection commits to the file; then it reads the new rows of `events`.

Changes this process commits reach its caches sooner, through `Database.on_commit`.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from parlour.store.database import Change, Database

log = logging.getLogger(__name__)

CHANNEL = "parlour_changes"
APPLICATION_NAME = "parlour-changes"  # how the listening connection shows in pg_stat_activity
POLL = 0.02  # SQLite: seconds between looks at data_version
PING = 2.0  # PostgreSQL: seconds of quiet before checking the connection is alive
WAKE = 0.25  # PostgreSQL: seconds between looks at whether the listener should stop
RETRY_MAX = 1.0  # seconds between attempts to reconnect, at most


def parse(payload: str) -> Change | None:
    """'site thread' (thread empty for a whole site) from a notification, or None."""
    site, _, thread = payload.partition(" ")
    if not site:
        return None
    if not thread:
        return site, None
    return (site, int(thread)) if thread.isdigit() else None


class ChangeListener:
    def __init__(
        self,
        db: Database,
        on_change: Callable[[set[Change]], None],
        on_lost: Callable[[], None],
        on_ready: Callable[[], None],
    ) -> None:
        self._db = db
        self._on_change = on_change
        self._on_lost = on_lost
        self._on_ready = on_ready
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    def start(self) -> None:
        target = self._watch_sqlite if self._db.is_sqlite else self._listen_postgres
        self._thread = threading.Thread(
            target=self._forever, args=(target,), name="parlour-changes", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _forever(self, target: Callable[[], None]) -> None:
        delay = 0.05
        while not self._stop.is_set():
            try:
                target()
                delay = 0.05
            except Exception as exc:  # the database went away: mark caches stale, retry
                log.warning("change listener lost its connection (%s); reconnecting", exc)
                self._on_lost()
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX)
            finally:
                conn, self._conn = self._conn, None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()

    def _listen_postgres(self) -> None:
        import psycopg

        url = make_url(self._db.url).set(drivername="postgresql")
        self._conn = conn = psycopg.connect(
            url.render_as_string(hide_password=False), autocommit=True, application_name=APPLICATION_NAME
        )
        conn.execute(f"LISTEN {CHANNEL}")
        self._on_ready()
        quiet_since = time.monotonic()
        while not self._stop.is_set():
            # What arrived together is handled together: under write load a packet
            # carries many notifications, and each call below takes the GIL from the
            # threads serving requests. The timeout is short, so that stop() is quick.
            changes = {
                found
                for note in conn.notifies(timeout=WAKE, stop_after=1)
                if (found := parse(note.payload)) is not None
            }
            if changes:
                quiet_since = time.monotonic()
                self._on_change(changes)
            if time.monotonic() - quiet_since > PING:
                conn.execute("SELECT 1")  # a quiet while: is the connection still there?
                quiet_since = time.monotonic()

    def _watch_sqlite(self) -> None:
        path = make_url(self._db.url).database or ":memory:"
        self._conn = conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=5000")
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        last = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        self._on_ready()
        while not self._stop.wait(POLL):
            now = conn.execute("PRAGMA data_version").fetchone()[0]
            if now == version:
                continue
            version = now
            while True:
                rows = conn.execute(
                    "SELECT id, site_id, thread_id FROM events WHERE id > ? ORDER BY id LIMIT 1000", (last,)
                ).fetchall()
                if not rows:
                    break
                last = rows[-1][0]
                self._on_change({(site, thread) for _, site, thread in rows})
                if len(rows) < 1000:
                    break
