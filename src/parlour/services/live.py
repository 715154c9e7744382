"""New comments as they are published, for the widget's event stream (Server-Sent Events).

Every process keeps its own listeners and reads the event record (store/events.py) for
comments shown since its last look ("posted", or "published" from the queue), through a
cursor of its own, only while someone listens. It looks when any process commits a
change (the thread directory tells it) and at least once per PARLOUR_LIVE_POLL_MS. The
database is the one place all processes share, so a comment posted through any process
reaches every listener, on SQLite and PostgreSQL alike, with no broker.

On PostgreSQL event ids are handed out before commit, so an event can become visible
after a newer one: each look reaches LATE_IDS ids back, and events already sent are
remembered and not sent twice. On SQLite ids commit in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from parlour.domain.model import Site
from parlour.services.views import comment_on
from parlour.store import Database, events
from parlour.store import comments as store
from parlour.store.database import Change

log = logging.getLogger(__name__)

LOOKBACK_MS = 30_000  # a page connecting gets what was published this long before
LATE_IDS = 500  # PostgreSQL: how far back each look reaches for events committed late
QUEUE_MAX = 200  # a listener this far behind is dropped; its browser reconnects
CATCH_UP_MAX = QUEUE_MAX // 2  # a page's catch-up is cut here, leaving room for the feed's next look


@dataclass(eq=False)
class Listener:
    """One open page's stream. The feed puts comments in `pending` and wakes the stream;
    the stream sends what is pending, and ends once `dropped`. Thousands are open at
    once, so a waiting stream holds one future and one timer, no task or queue
    (bench/streams)."""

    site: str
    thread: str
    after: int | None = None  # the newest comment id the page had: the catch-up sends only newer ones
    joined: int = 0  # when the page connected (ms)
    sent: set[int] = field(default_factory=set)  # ids sent on this stream, never twice
    pending: deque[dict[str, Any]] = field(default_factory=deque)  # comments not yet sent
    dropped: bool = False  # too far behind, gone, or the process is stopping: end the stream
    _waiter: asyncio.Future[None] | None = None

    def put(self, event: dict[str, Any]) -> None:
        """Queue a comment for the stream; a stream QUEUE_MAX behind is dropped instead
        (its browser reconnects and catches up)."""
        if len(self.pending) >= QUEUE_MAX:
            self.drop()
            return
        self.pending.append(event)
        self._wake()

    def drop(self) -> None:
        """End the stream: the stream stops waiting and sends nothing more."""
        self.dropped = True
        self._wake()

    async def wait(self, timeout: float) -> None:
        """Until something is pending or the listener is dropped, or `timeout` seconds."""
        if self.pending or self.dropped:
            return
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = loop.call_later(timeout, self._wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class LiveFeed:
    """Listeners per (site, thread), fed by one polling task per process."""

    def __init__(
        self,
        db: Database,
        site_of: Callable[[str], Site | None],
        now: Callable[[], int],
        interval: float,
    ) -> None:
        self._db = db
        self._site_of = site_of
        self._now = now
        self._interval = interval
        self._listeners: dict[tuple[str, str], set[Listener]] = {}
        self._seen: set[int] = set()  # event ids already sent, within LATE_IDS of the cursor
        self._cursor = 0  # the newest event id looked at
        self._task: asyncio.Task[None] | None = None
        self._woken: asyncio.Event | None = None
        self._closing = False  # end_streams() or close(): streams end, new ones at once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._count = 0
        self._counted: Callable[[int], None] | None = None

    def count_with(self, report: Callable[[int], None]) -> None:
        """Call `report(listeners)` whenever a page starts or stops listening (metrics)."""
        self._counted = report
        report(self._count)

    def _counting(self, change: int) -> None:
        self._count += change
        if self._counted is not None:
            self._counted(self._count)

    @contextlib.asynccontextmanager
    async def listen(self, site: str, thread: str, after: int | None = None) -> AsyncIterator[Listener]:
        """A listener for comments of one thread published from now on, while the block
        runs; with `after`, first those of the last moments newer than that id (published
        between the page's first read and this connection) or approved from the queue in
        those moments, read fresh from the database."""
        listener = Listener(site, thread, after, self._now())
        closing = self._closing
        if closing:  # the process is stopping: the browser reconnects, to another instance
            listener.drop()
        self._listeners.setdefault((site, thread), set()).add(listener)
        self._counting(1)
        if not closing and (self._task is None or self._task.done()):
            self._loop = asyncio.get_running_loop()
            self._woken = asyncio.Event()
            self._task = self._loop.create_task(self._run())
        try:  # from here on the listener is removed however the block ends
            if after is not None and not closing:  # listening already: what comes now is not missed
                recent = await self._db.run(lambda: self._fetch(self._now() - LOOKBACK_MS, (site, thread)))
                for _, _, _, _, event, approved_later in recent:
                    # An older comment approved between the page's read and now is sent too:
                    # the page could not have had it, and the widget skips what it shows.
                    # A catch-up longer than CATCH_UP_MAX is cut short rather than the stream
                    # dropped (the browser would reconnect into the same catch-up): the rest
                    # count as sent, so that the feed's next look does not fill the stream.
                    if (event["id"] > after or approved_later) and event["id"] not in listener.sent:
                        listener.sent.add(event["id"])
                        if len(listener.pending) < CATCH_UP_MAX:
                            listener.put(event)
            yield listener
        finally:
            self._counting(-1)
            group = self._listeners.get((site, thread))
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._listeners[(site, thread)]

    def changed(self, _changes: set[Change]) -> None:
        """Something was committed (by any process): look now. Safe from any thread."""
        loop, woken = self._loop, self._woken
        if self._listeners and loop is not None and woken is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(woken.set)

    async def _run(self) -> None:
        """Look while anyone listens; stop when the last listener leaves."""
        assert self._woken is not None
        try:  # from a little back: a page that just connected has its catch-up for older ones
            last = await self._db.run(self._last_event)
            self._cursor, self._seen = max(0, last - LATE_IDS), set()
        except Exception:
            log.exception("live feed: could not start")
            self._task = None
            return
        while self._listeners and not self._closing:
            try:
                await self.poll()
            except Exception:  # a failed look (database restarting) is retried next time
                log.exception("live feed: polling failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._interval)
            self._woken.clear()
        self._task = None

    async def poll(self) -> None:
        """Send every listener the comments of its thread shown since the last look."""
        start = self._cursor if self._db.is_sqlite else max(0, self._cursor - LATE_IDS)
        rows = await self._db.run(lambda: self._shown_since(start))
        for event_id, event_at, cid, site, key, event in rows:
            self._cursor = max(self._cursor, event_id)
            if event_id in self._seen:
                continue
            self._seen.add(event_id)
            for listener in self._listeners.get((site, key), ()):
                # What the page had, or the catch-up sent, is skipped; a comment published
                # since it connected is sent even with an older id (approved later). Before
                # it connected, only what the catch-up covers (LOOKBACK_MS, newer than
                # `after`) may be new to it: this look reaches LATE_IDS back, which on a
                # quiet site is hours, and the page read those with the thread.
                old = event_at < listener.joined and (
                    listener.after is None
                    or cid <= listener.after
                    or event_at < listener.joined - LOOKBACK_MS
                )
                if cid in listener.sent or old:
                    continue
                listener.sent.add(cid)
                listener.put(event)
        floor = self._cursor - LATE_IDS
        self._seen = {e for e in self._seen if e > floor}

    def _last_event(self) -> int:
        with self._db.read() as tx:
            return events.last_id(tx)

    def _shown_since(self, event_id: int) -> list[tuple[int, int, int, str, str, dict[str, Any]]]:
        """(event id, event time, comment id, site, thread key, public comment) of
        comments shown by events after `event_id`."""
        with self._db.read() as tx:
            found = store.published_by_events(tx, event_id)
        out = []
        for eid, at, c, site_id, key in found:
            site = self._site_of(site_id)
            if site is not None:
                out.append((eid, at, c.id, site_id, key, comment_on(c, site)))
        return out

    def _fetch(
        self, since: int, thread: tuple[str, str] | None = None
    ) -> list[tuple[int, int, str, str, dict[str, Any], bool]]:
        """(id, published_at, site, thread key, public comment, approved later than posted)
        of comments published since `since` (in one thread), as they are now. May also
        reload the site directory."""
        with self._db.read() as tx:
            found = store.recent_published(tx, since, thread)
        out = []
        for c, site_id, key, published_at in found:
            site = self._site_of(site_id)
            if site is not None:
                later = published_at > c.created_at
                out.append((c.id, published_at, site_id, key, comment_on(c, site), later))
        return out

    def end_streams(self) -> None:
        """The process has been told to stop: end every open stream now, and each that
        opens from here on at once. The server waits for the requests in hand before it
        stops, and a stream never ends by itself. Call on the loop's thread."""
        self._closing = True
        for group in list(self._listeners.values()):
            for listener in group:
                listener.drop()

    async def close(self) -> None:
        """End every stream (so a restart is not held up by open pages) and stop polling.
        A look in progress is let finish, not cancelled: its worker thread holds a
        database connection, which would outlive the pool it came from."""
        self.end_streams()
        task = self._task
        try:
            if task is not None:
                if self._woken is not None:
                    self._woken.set()
                await asyncio.wait([task])  # its end, however it ends; a cancelled close() still raises
        finally:
            self._closing = False  # a context shared by several apps (tests) listens again
