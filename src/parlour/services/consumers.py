"""Durable consumers of the event record: each sees each event once, in order.

A consumer has a name (its cursor's) and a `handle(tx, events)` that acts on a batch in
the transaction that also moves its cursor, so after a crash it goes on from the last
batch that committed, never skipping one and never doing one twice. Processes share the
cursor: one process at a time drains a consumer (its cursor row is locked while it does).

`drain` reads everything that can be read in order so far; `ConsumerWorker` drains its
consumers in the background of each server process, woken by every change any process
commits. A read that must be true at once does not wait for its consumer: the reply
inbox also looks at the events after the consumer's cursor (store/inbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

from parlour.domain.model import Event
from parlour.store import Database, Tx, events

log = logging.getLogger(__name__)

BATCH = 500
STOP_WAIT = 30.0  # seconds a stopping worker waits for its batch in hand


class Consumer(Protocol):
    name: str

    def handle(self, tx: Tx, batch: Sequence[Event]) -> None: ...


def drain(
    db: Database, consumer: Consumer, now: Callable[[], int], *, stop: threading.Event | None = None
) -> int:
    """Hand the consumer every event that can be read in order so far, a batch per
    transaction; returns how many. Once `stop` is set, it ends after the batch in hand.

    On PostgreSQL an event becomes readable once every transaction older than its own
    has ended (store/events.py), so a long transaction anywhere on the server delays
    consumers; what must be true at once reads past the cursor itself (the inbox does).
    """
    with db.read() as tx:  # nothing new: no write transaction (on SQLite, the write lock)
        tx_id, event_id = events.cursor(tx, consumer.name)
        if not events.read_after(tx, tx_id, event_id, 1):
            return 0
    done = 0
    while True:
        with db.write() as tx:
            tx_id, event_id = events.claim_cursor(tx, consumer.name, now())
            batch = events.read_after(tx, tx_id, event_id, BATCH)
            if batch:
                consumer.handle(tx, batch)
                events.save_cursor(tx, consumer.name, batch[-1].tx_id, batch[-1].id, now())
        done += len(batch)
        if len(batch) < BATCH or (stop is not None and stop.is_set()):
            return done


class ConsumerWorker:
    """Drains its consumers in the background of a server process.

    It wakes on every change (`wake`, called when any process commits one) and at least
    every `idle` seconds, and drains at most every `spacing` seconds, so a burst of
    posts costs a handful of drains rather than one each.
    """

    def __init__(
        self,
        db: Database,
        consumers: Sequence[Consumer],
        now: Callable[[], int],
        *,
        idle: float = 5.0,
        spacing: float = 0.25,
    ) -> None:
        self._db = db
        self._consumers = list(consumers)
        self._now = now
        self._idle = idle
        self._spacing = spacing
        self._woken: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._wake_pending = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self._task = self._loop.create_task(self._run())

    def wake(self) -> None:
        """Safe from any thread. Cheap when a wake is already on its way: under write
        load every commit calls this, and each call_soon_threadsafe wakes the loop."""
        loop, woken = self._loop, self._woken
        if self._wake_pending or loop is None or woken is None or loop.is_closed():
            return
        self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(woken.set)

    async def _run(self) -> None:
        assert self._woken is not None
        while not self._stop.is_set():
            for consumer in self._consumers:
                try:
                    await self._db.run(
                        partial(drain, self._db, consumer, self._now, stop=self._stop), heavy=True
                    )
                except Exception:  # the database restarting: try again on the next wake
                    log.exception("consumer %s failed; retrying", consumer.name)
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._idle)
            # Before the next drain: a change whose wake was skipped as pending
            # committed before this line, so that drain reads it.
            self._wake_pending = False
            self._woken.clear()
            await asyncio.sleep(self._spacing)

    async def stop(self) -> None:
        """Stop after the batch in hand: its database work ends before this returns (a
        cancelled task would leave a worker thread writing after the process stopped)."""
        if self._task is None:
            return
        self._stop.set()
        self.wake()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT)
        except TimeoutError:
            log.warning("consumers did not stop within %s seconds", STOP_WAIT)
            self._task.cancel()
        self._task = None
