"""The engine, its transactions, and the SQLite settings that make it a good server database."""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, QueuePool

Tx = Connection
"""A connection inside a transaction, handed to the query functions in this package."""

IntegrityError = exc.IntegrityError

T = TypeVar("T")

Change = tuple[str, int | None]
"""(site id, thread id) of something a transaction changed; thread None: the whole site."""

CommitListener = Callable[[set[Change]], None]

WRITE_LOCK_TIMEOUT = 60.0  # seconds a writer waits for this process's turn before failing


def normalise_url(url: str) -> str:
    """Accept the URLs people write (`postgres://`, `postgresql://`) and pick our drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


POOL_SIZE = 12  # PostgreSQL connections each process keeps open
POOL_OVERFLOW = 8  # and may open for a burst beyond that (closed when returned)


class Database:
    """One engine per process. `read()` and `write()` hand out transactions.

    On SQLite, writes take the write lock up front (`BEGIN IMMEDIATE`) so two processes
    never deadlock upgrading a read lock. Before that, writers queue: threads of one
    process on a thread lock, processes on an flock(2) of a file beside the database.
    The kernel wakes the next writer the moment the lock is free, where SQLite's own
    busy handler would sleep 1, 2, 5, 10... ms between tries (measured: with two
    worker processes posting, the sleeps cost more than the writes).
    """

    def __init__(self, url: str, *, echo: bool = False, pool: bool = True) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if not pool:
            kwargs["poolclass"] = NullPool
        elif not self.is_sqlite:
            # Enough kept-open connections for the worker's threads at once: past
            # `pool_size`, SQLAlchemy closes each connection it lends when it comes back,
            # and opening a PostgreSQL connection (a new backend) costs more than a post.
            kwargs["pool_size"] = POOL_SIZE
            kwargs["max_overflow"] = POOL_OVERFLOW
            kwargs["pool_use_lifo"] = True  # the connection used last: it rested least (_ping_if_idle)
        self.engine: Engine = create_engine(self.url, **kwargs)
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._lock_file: BinaryIO | None = None
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            lock_path = (
                Path(parsed.database).expanduser().with_name(Path(parsed.database).name + "-writer.lock")
            )
            self._lock_file = lock_path.open("ab")
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            event.listen(self.engine.pool, "connect", _note_checkin)  # a new one needs no ping
            event.listen(self.engine.pool, "checkin", _note_checkin)
            event.listen(self.engine.pool, "checkout", partial(_ping_if_idle, self.engine.dialect))
        self._commit_listeners: list[CommitListener] = []

    def on_commit(self, listener: CommitListener) -> None:
        """Call `listener` with what each write transaction changed, right after it commits."""
        self._commit_listeners.append(listener)

    def watch_pool(self, report: Callable[[int, int], None]) -> None:
        """Call `report(checked_out, size)` now and whenever the pool lends or takes back a
        connection (for metrics; nothing is watched unless asked)."""

        def changed(*_args: Any) -> None:
            pool = self.engine.pool
            if isinstance(pool, QueuePool):
                report(pool.checkedout(), pool.size())

        event.listen(self.engine.pool, "checkout", changed)
        event.listen(self.engine.pool, "checkin", changed)
        changed()

    async def run(self, work: Callable[[], T], *, heavy: bool = False) -> T:
        """Run blocking database work from async code: the one place that decides how.

        On SQLite the queries run in-process and take well under a millisecond, so `work`
        runs right on the event loop (a hop to a thread costs more than the work: 2.7 ms
        against 1.4 ms a post, measured). On PostgreSQL every query waits on the network,
        so `work` runs in a worker thread and the loop goes on serving. `heavy` work
        (a full page render, a search) goes to a thread on either database.
        """
        if self.is_sqlite and not heavy:
            return work()
        return await anyio.to_thread.run_sync(work)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction (a consistent snapshot)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A transaction that commits when the block ends, or rolls back on error."""
        changes: set[Change] = set()
        if self._write_lock is None:
            with self.engine.begin() as conn:
                conn.info[_CHANGES] = changes
                try:
                    yield conn
                finally:
                    conn.info.pop(_CHANGES, None)
        else:
            if not self._write_lock.acquire(timeout=WRITE_LOCK_TIMEOUT):
                raise TimeoutError("Waited too long for this process's turn to write.")
            try:
                with self._process_lock(), self.engine.connect() as conn:
                    conn = conn.execution_options(parlour_write=True)
                    conn.info[_CHANGES] = changes
                    try:
                        with conn.begin():
                            yield conn
                    finally:
                        conn.info.pop(_CHANGES, None)
            finally:
                self._write_lock.release()
        if changes:
            for listener in self._commit_listeners:
                listener(changes)

    @contextmanager
    def _process_lock(self) -> Iterator[None]:
        if self._lock_file is None:
            yield
            return
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a lock named `name` that every process on this database takes turns on.

        For work that must not run twice at once, such as migrating: several instances
        started together on a fresh database would each create the tables. PostgreSQL: a
        session-level advisory lock on a connection of its own, in autocommit (no open
        transaction that would hold back `pg_snapshot_xmin` meanwhile). SQLite: the
        writers' flock beside the database file.
        """
        if self.is_sqlite:
            with self._process_lock():
                yield
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("SELECT pg_advisory_lock(hashtextextended(%(name)s, 0))", {"name": name})
            try:
                yield
            finally:
                conn.exec_driver_sql(
                    "SELECT pg_advisory_unlock(hashtextextended(%(name)s, 0))", {"name": name}
                )

    def dispose(self) -> None:
        self.engine.dispose()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


_CHANGES = "parlour_changes"

PING_IDLE = 1.0  # seconds a pooled PostgreSQL connection may rest before it is pinged
_CHECKED_IN = "parlour_checked_in"


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    """When the connection was made or last came back to the pool."""
    if record is not None:
        record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that rested in the pool, like `pool_pre_ping`, but only then.

    A ping is a round trip; under load a connection comes back to the pool and leaves
    again within milliseconds, and pinging it every time cost a tenth of a post on
    PostgreSQL (measured). A connection the server closed while it rested (an idle
    timeout, a restart in a quiet spell) is noticed here, and since a dead one usually
    means the server restarted, the whole pool is renewed (InvalidatePoolError; the pool
    then hands out a fresh connection). One closed while in steady use fails its next
    statement, and SQLAlchemy renews the pool then: a restart under load costs the
    requests in flight and at most one more per process."""
    rested = time.monotonic() - record.info.get(_CHECKED_IN, 0.0)
    if rested <= PING_IDLE:
        return
    try:
        alive = dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise exc.InvalidatePoolError(f"the pooled connection was lost ({error})") from error
    if not alive:
        raise exc.InvalidatePoolError("the pooled connection was lost")


def serialize_on(tx: Tx, *keys: str) -> None:
    """Make write transactions that name the same key take turns until they end.

    For check-then-write rules such as "at most N per address": on PostgreSQL, at read
    committed, two transactions would both count before either writes, so each takes a
    transaction-level advisory lock per key first (in sorted order: no deadlocks). On
    SQLite one write transaction runs at a time already.
    """
    if tx.dialect.name == "sqlite":
        return
    for key in sorted(set(keys)):
        driver_rows(tx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))


def note_change(tx: Tx, site_id: str, thread_id: int | None) -> None:
    """Note that this write transaction changed a thread (or, with None, a whole site);
    `Database.on_commit` listeners hear of it once the transaction commits."""
    changes = tx.info.get(_CHANGES)
    if changes is not None:
        changes.add((site_id, thread_id))


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling defers it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Straight on the driver: through exec_driver_sql this was 3 % of a post's time.
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("BEGIN IMMEDIATE" if conn.get_execution_options().get("parlour_write") else "BEGIN")


@lru_cache(maxsize=64)
def _format_style(sql: str) -> str:
    return sql.replace("?", "%s")


def driver_rows(tx: Tx, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement straight on the transaction's driver connection.

    For the few statements every post runs while it holds the write lock: SQLAlchemy's
    work around a statement (~80 µs measured) costs more than SQLite's own (~10 µs).
    `sql` uses `?` placeholders and no literal question marks; they become `%s` for
    psycopg.
    """
    if tx.dialect.name != "sqlite":
        sql = _format_style(sql)
    cursor = tx.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()
