"""The services' shared context: settings, database, signer and per-process caches."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from parlour.domain.model import Site
from parlour.services.clock import now_ms
from parlour.services.directory import ThreadDirectory
from parlour.services.live import LiveFeed
from parlour.services.security import Signer
from parlour.settings import Settings
from parlour.store import Database, IntegrityError, sites
from parlour.store.changes import ChangeListener
from parlour.store.database import Change
from parlour.store.hot import HotReads

SECRET_META_KEY = "secret"


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """A page's JSON bytes and their ETag, computed once when the page is rendered."""

    body: bytes
    etag: bytes

    @classmethod
    def of(cls, body: bytes) -> RenderedPage:
        return cls(body, b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"')


class PageCache:
    """Rendered pages, least recently used first out, bounded in bytes.

    Keys carry the thread's version, so a write anywhere (in any process) makes the old
    entries unreachable; they simply age out.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, RenderedPage] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._making: dict[Hashable, threading.Lock] = {}
        self._hit: Callable[[], None] | None = None
        self._miss: Callable[[], None] | None = None

    def count_with(self, hit: Callable[[], None], miss: Callable[[], None]) -> None:
        """Call `hit` or `miss` at each look-up from now on (services/metrics.py)."""
        self._hit, self._miss = hit, miss

    def get(self, key: Hashable) -> RenderedPage | None:
        value = self._get(key)
        counted = self._miss if value is None else self._hit
        if counted is not None:
            counted()
        return value

    def _get(self, key: Hashable) -> RenderedPage | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: RenderedPage) -> None:
        if len(value.body) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old.body)
            self._entries[key] = value
            self._size += len(value.body)
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped.body)

    def get_or_make(self, key: Hashable, make: Callable[[], RenderedPage]) -> RenderedPage:
        """The cached page, or one made now, by one thread only.

        When a popular thread changes, every reader's next request misses at once; the
        first renders and the rest wait for its result instead of all rendering the same
        page (measured: 50 concurrent first reads of a 1,000-comment thread pushed p99
        past a second).
        """
        with self._lock:
            making = self._making.setdefault(key, threading.Lock())
        with making:
            page = self._get(key)
            if page is None:
                page = make()
                self.put(key, page)
        with self._lock:
            self._making.pop(key, None)
        return page

    def __len__(self) -> int:
        return len(self._entries)


class SiteDirectory:
    """Every site and its origins, re-read from the database at most every `ttl` seconds.

    Sites change rarely and are read on every write and every cross-origin request, so
    each process keeps them in memory. A change made in this process applies at once
    (`invalidate`); one made in another process within `ttl` seconds. An unknown site
    id re-reads at most once a second, so a site created elsewhere appears quickly.
    """

    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self._db = db
        self._ttl = ttl
        self._sites: dict[str, Site] = {}
        self._origins: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._db.read() as tx:
            found = {s.id: s for s in sites.list_sites(tx)}
        with self._lock:
            self._sites = found
            self._origins = frozenset(o for s in found.values() for o in s.origins)
            self._loaded_at = time.monotonic()

    def _fresh(self, max_age: float) -> None:
        if time.monotonic() - self._loaded_at > max_age:
            self._load()

    def get(self, site_id: str) -> Site | None:
        self._fresh(self._ttl)
        site = self._sites.get(site_id)
        if site is None:
            self._fresh(1.0)
            site = self._sites.get(site_id)
        return site

    def __contains__(self, origin: object) -> bool:
        """Does any site allow this origin? (What CORS answers.)"""
        self._fresh(self._ttl)
        return origin in self._origins

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def changed(self, changes: set[Change]) -> None:
        """A site changed, in this process or another (thread None: the whole site)."""
        if not changes or any(thread is None for _, thread in changes):
            self.invalidate()


@dataclass
class Context:
    """Everything a service needs, made once per process by `open_context`."""

    settings: Settings
    db: Database
    signer: Signer
    pages: PageCache
    sites: SiteDirectory = field(repr=False)
    hot: HotReads = field(repr=False)
    threads: ThreadDirectory = field(repr=False)
    live: LiveFeed = field(repr=False)
    now: Callable[[], int] = now_ms  # milliseconds since the epoch; replaceable for demos and tests
    _push: ChangeListener | None = field(default=None, repr=False)
    _push_users: int = field(default=0, repr=False)

    def start_push(self) -> None:
        """Start hearing of other processes' changes, so cached reads need no query.

        Until it runs, and whenever it is cut off, every read asks the database. Servers
        start it in their lifespan; several apps sharing one context (tests) share it.
        """
        self._push_users += 1
        if self._push is None:
            self._push = ChangeListener(self.db, self.threads.changed, self.threads.lost, self.threads.ready)
            self._push.start()

    def stop_push(self) -> None:
        self._push_users = max(0, self._push_users - 1)
        if self._push_users == 0 and self._push is not None:
            self._push.stop()
            self._push = None
            self.threads.lost()

    def close(self) -> None:
        if self._push is not None:
            self._push.stop()
            self._push = None
        self.hot.close()
        self.db.dispose()


def instance_secret(settings: Settings, db: Database) -> str:
    """PARLOUR_SECRET if set, else one generated on first use and kept in the database."""
    if settings.secret:
        return settings.secret
    with db.read() as tx:
        stored = sites.get_meta(tx, SECRET_META_KEY)
    if stored:
        return stored
    try:
        with db.write() as tx:
            sites.set_meta(tx, SECRET_META_KEY, secrets.token_urlsafe(32))
    except IntegrityError:  # another process stored one first; read theirs below
        pass
    with db.read() as tx:
        stored = sites.get_meta(tx, SECRET_META_KEY)
    assert stored
    return stored


def open_context(settings: Settings, db: Database | None = None) -> Context:
    """Open the database (already migrated) and build the context for this process."""
    db = db or Database(settings.database)
    directory = SiteDirectory(db)
    hot = HotReads(db)
    threads = ThreadDirectory(hot)
    live = LiveFeed(db, directory.get, now_ms, settings.live_poll_ms / 1000)
    db.on_commit(threads.changed)  # this process's own writes, at commit
    threads.listen(directory.changed)
    threads.listen(live.changed)
    return Context(
        settings=settings,
        db=db,
        signer=Signer(instance_secret(settings, db)),
        pages=PageCache(settings.cache_max_bytes),
        sites=directory,
        hot=hot,
        threads=threads,
        live=live,
    )
