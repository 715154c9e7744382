"""New comments as they are published, for the widget's event stream (Server-Sent Events).

Every process keeps its own listeners and polls the database for comments published in
the last few seconds (`published_at`: posted, or approved by a moderator), once per
PARLOUR_LIVE_POLL_MS, only while someone listens. The
database is the one place all processes share, so a comment posted through any process
(or any server) reaches every listener, on SQLite and PostgreSQL alike, with no broker.
One indexed query a second per process costs nothing next to one per listener.

Polling looks back over a window rather than "after the last id": ids are handed out
before commit, so on PostgreSQL a comment can become visible after a newer one. Comments
already sent are remembered for the window and not sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from parlour.domain.model import Site
from parlour.services.views import comment_on
from parlour.store import Database
from parlour.store import comments as store

log = logging.getLogger(__name__)

LOOKBACK_MS = 30_000  # how late a commit may become visible and still be sent
QUEUE_MAX = 200
T = TypeVar("T")  # a listener this far behind is dropped; its browser reconnects


@dataclass(eq=False)
class Listener:
    site: str
    thread: str
    after: int = 0  # the newest comment id the page had: the catch-up sends only newer ones
    joined: int = 0  # when the page connected (ms)
    sent: set[int] = field(default_factory=set)  # ids sent on this stream, never twice
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    dropped: bool = False  # too far behind, or the process is stopping: end the stream


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
        self._sent: dict[int, int] = {}  # comment id -> published_at, for the lookback window
        self._since = 0
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def listen(self, site: str, thread: str, after: int | None = None) -> AsyncIterator[Listener]:
        """A listener for comments of one thread published from now on, while the block
        runs; with `after`, first those of the last moments newer than that id (published
        between the page's first read and this connection), read fresh from the database."""
        listener = Listener(site, thread, after or 0, self._now())
        if after is not None:
            for _, _, _, _, event in await self._off_loop(
                lambda: self._fetch(self._now() - LOOKBACK_MS, (site, thread))
            ):
                if event["id"] > after:
                    listener.sent.add(event["id"])
                    listener.queue.put_nowait(event)
        self._listeners.setdefault((site, thread), set()).add(listener)
        if self._task is None or self._task.done():
            self._since = self._now() - LOOKBACK_MS
            self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield listener
        finally:
            group = self._listeners.get((site, thread))
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._listeners[(site, thread)]

    @property
    def listeners(self) -> int:
        return sum(len(group) for group in self._listeners.values())

    async def _run(self) -> None:
        """Poll while anyone listens; stop when the last listener leaves."""
        while self._listeners:
            try:
                await self.poll()
            except Exception:  # a failed poll (database restarting) is retried next tick
                log.exception("live feed: polling failed")
            await asyncio.sleep(self._interval)
        self._task = None

    async def poll(self) -> None:
        """Send every listener the comments of its thread published since the last poll."""
        since = self._since
        rows = await self._off_loop(lambda: self._fetch(since))
        self._since = self._now() - LOOKBACK_MS
        for cid, published_at, site, key, event in rows:
            if cid in self._sent:
                continue
            self._sent[cid] = published_at
            for listener in self._listeners.get((site, key), ()):
                # What the page had, or the catch-up sent, is skipped; a comment published
                # since it connected is sent even with an older id (approved later).
                if cid in listener.sent or (cid <= listener.after and published_at < listener.joined):
                    continue
                listener.sent.add(cid)
                try:
                    listener.queue.put_nowait(event)
                except asyncio.QueueFull:
                    listener.dropped = True
        horizon = self._since - LOOKBACK_MS
        self._sent = {cid: at for cid, at in self._sent.items() if at >= horizon}

    async def _off_loop(self, work: Callable[[], T]) -> T:
        """Database work: inline on SQLite (sub-millisecond), in a thread on PostgreSQL."""
        return work() if self._db.in_process else await asyncio.to_thread(work)

    def _fetch(
        self, since: int, thread: tuple[str, str] | None = None
    ) -> list[tuple[int, int, str, str, dict[str, Any]]]:
        """(id, published_at, site, thread key, public comment) of comments published since
        `since` (in one thread), as they are now. May also reload the site directory."""
        with self._db.read() as tx:
            found = store.recent_published(tx, since, thread)
        out = []
        for c, site_id, key, published_at in found:
            site = self._site_of(site_id)
            if site is not None:
                out.append((c.id, published_at, site_id, key, comment_on(c, site)))
        return out

    async def close(self) -> None:
        """End every stream (so a restart is not held up by open pages) and stop polling."""
        for group in list(self._listeners.values()):
            for listener in group:
                listener.dropped = True
                with contextlib.suppress(asyncio.QueueFull):
                    listener.queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
