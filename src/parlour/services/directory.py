"""The thread directory: what each page view asks first, answered from memory.

Every read of a thread and every count needs the thread's id, version and count. The
directory keeps them per process, so a hit costs a dictionary look-up and no query.
It stays true because every change to a thread is heard of (`changed`): from this
process at commit (`Database.on_commit`), from other processes by a push
(store/changes.py: LISTEN/NOTIFY on PostgreSQL, `PRAGMA data_version` on SQLite).

While the push is not known to work (starting up, or its connection dropped), the
directory is *unsynced*: it answers nothing from memory, and every look-up queries.
When the push comes back, everything cached is dropped and it fills again.

A miss queries and stores the answer only if nothing of that site changed in the
meantime (the site's epoch), so an answer read just before a change never outlives it.
Unknown sites are never stored: a stream of made-up site ids costs one query each and
no memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from parlour.domain.model import Thread
from parlour.store.database import Change
from parlour.store.hot import HotReads

MAX_ENTRIES = 200_000  # (site, key) pairs kept; past it the directory starts again


class _Missing:
    """Not in the directory: ask the database."""


MISS = _Missing()


class ThreadDirectory:
    def __init__(self, hot: HotReads) -> None:
        self._hot = hot
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], Thread | None] = {}  # None: no thread yet
        self._ids: dict[int, tuple[str, str]] = {}
        self._negatives: dict[str, set[str]] = {}  # per site, keys stored as "no thread yet"
        self._epochs: dict[str, int] = {}
        self._epoch = 0  # bumped when everything is dropped
        self._synced = False
        self._listeners: list[Callable[[set[Change]], None]] = []

    # Being told of changes.

    def listen(self, listener: Callable[[set[Change]], None]) -> None:
        """Also tell `listener` of every change (the live feed, the consumer worker)."""
        self._listeners.append(listener)

    def changed(self, changes: set[Change]) -> None:
        """These (site, thread id) changed; thread None: anything of the site. Any thread."""
        with self._lock:
            for site_id, thread_id in changes:
                self._epochs[site_id] = self._epochs.get(site_id, 0) + 1
                if thread_id is None:
                    self._drop_site(site_id)
                    continue
                key = self._ids.pop(thread_id, None)
                if key is not None:
                    self._entries.pop(key, None)
                else:  # a thread not cached here, or a new one: drop the "no thread yet"s
                    for missing in self._negatives.pop(site_id, ()):
                        self._entries.pop((site_id, missing), None)
        for listener in self._listeners:
            listener(changes)

    def _drop_site(self, site_id: str) -> None:
        for key in [k for k in self._entries if k[0] == site_id]:
            thread = self._entries.pop(key)
            if thread is not None:
                self._ids.pop(thread.id, None)
        self._negatives.pop(site_id, None)

    def lost(self) -> None:
        """The push stopped: trust nothing cached until it is back."""
        with self._lock:
            self._synced = False
            self._clear()

    def ready(self) -> None:
        """The push works (again): start afresh from the database."""
        with self._lock:
            self._clear()
            self._synced = True
        for listener in self._listeners:
            listener(set())

    def _clear(self) -> None:
        self._entries.clear()
        self._ids.clear()
        self._negatives.clear()
        self._epoch += 1

    @property
    def synced(self) -> bool:
        return self._synced

    # Answering.

    def cached(self, site_id: str, keys: Sequence[str]) -> dict[str, Thread | None] | _Missing:
        """The threads of these keys (None: none yet), if all are known; else MISS."""
        if not self._synced:
            return MISS
        entries = self._entries
        out: dict[str, Thread | None] = {}
        for key in keys:
            found = entries.get((site_id, key), MISS)
            if isinstance(found, _Missing):
                return MISS
            out[key] = found
        return out

    def site_mark(self, site_id: str) -> tuple[int, int] | None:
        """What a cached answer about a whole site is kept under: it changes whenever
        anything of the site does (in any process). None while unsynced: cache nothing."""
        with self._lock:
            return (self._epoch, self._epochs.get(site_id, 0)) if self._synced else None

    def load(self, site_id: str, keys: Sequence[str]) -> tuple[bool, dict[str, Thread | None]]:
        """Ask the database (blocking), keep the answers; (site exists, thread per key)."""
        with self._lock:
            mark = (self._epoch, self._epochs.get(site_id, 0), self._synced)
        exists, found = self._hot.threads(site_id, keys)
        answer: dict[str, Thread | None] = {key: found.get(key) for key in keys}
        if exists:
            with self._lock:
                if mark == (self._epoch, self._epochs.get(site_id, 0), True):
                    if len(self._entries) + len(answer) > MAX_ENTRIES:
                        self._clear()
                    self._store(site_id, answer.items())
        return exists, answer

    def _store(self, site_id: str, answers: Iterable[tuple[str, Thread | None]]) -> None:
        for key, thread in answers:
            self._entries[(site_id, key)] = thread
            if thread is None:
                self._negatives.setdefault(site_id, set()).add(key)
            else:
                self._ids[thread.id] = (site_id, key)

    def __len__(self) -> int:
        return len(self._entries)
