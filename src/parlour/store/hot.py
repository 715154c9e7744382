"""The hot read path's two queries on a raw driver connection, one per thread.

SQLAlchemy's pool checkout, transaction events and result objects cost more than the
queries themselves here (measured: 1.8k vs 5k+ req/s for counts on 2 workers), so the
reads a cache miss makes go straight to the driver. Each is a single statement in
autocommit mode, so it sees a consistent snapshot. A cache hit makes none
(services/directory.py).
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import make_url

from parlour.domain.model import Thread
from parlour.store.database import Database
from parlour.store.threads import thread_from_values

_THREAD_COLUMNS = (
    "t.id, t.site_id, t.key, t.title, t.url, t.comment_count, t.version, t.created_at, t.locked, "
    "t.who_may_comment"
)


POOL_MAX = 8  # connections per process; a caller beyond that waits for one to be free


class HotReads:
    """The thread look-up of a cache miss, without the ORM; same answers as store.threads.

    Connections come from a small pool of their own, in autocommit mode: on SQLite the
    calls run on the event loop one at a time; on PostgreSQL they run in worker threads
    (`Database.run`), and a pool keeps that to a few connections rather than one per
    worker thread.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(POOL_MAX)
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._sqlite = db.is_sqlite
        self._mark = "?" if db.is_sqlite else "%s"

    def _connect(self) -> Any:
        url = make_url(self._db.url)
        if self._sqlite:
            conn: Any = sqlite3.connect(
                url.database or ":memory:", isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=30000")
        else:
            import psycopg

            conn = psycopg.connect(
                url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
            )
        with self._lock:
            self._all.append(conn)
        return conn

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if not self._slots.acquire(timeout=30):
            raise TimeoutError("No database connection came free for a read.")
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            try:
                rows = list(conn.execute(sql, params).fetchall())
            except Exception:
                self._close(conn)  # a broken connection is replaced on the next call
                raise
            self._idle.put(conn)
            return rows
        finally:
            self._slots.release()

    def threads(self, site_id: str, keys: Sequence[str]) -> tuple[bool, dict[str, Thread]]:
        """Does the site exist, and those of its threads with these keys that exist."""
        m = self._mark
        marks = ", ".join([m] * len(keys))
        rows = self._execute(
            f"SELECT s.id, {_THREAD_COLUMNS} FROM sites s "
            f"LEFT JOIN threads t ON t.site_id = s.id AND t.key IN ({marks}) WHERE s.id = {m}",
            (*keys, site_id),
        )
        found = {row[3]: thread_from_values(row[1:]) for row in rows if row[1] is not None}
        return bool(rows), found

    def close(self) -> None:
        """Close every connection (at shutdown)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            self._close(conn)

    def _close(self, conn: Any) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone either way
            conn.close()
