"""Numbers for Prometheus (PARLOUR_METRICS_PORT): requests, the page cache, live
listeners and the database pool, counted by each worker; the outbox, counted at scrape time.

`parlour serve` runs granian's workers as processes of one parent, and a scrape must sum
them all and outlive any one of them. So the workers count in prometheus-client's
multiprocess mode (memory-mapped files in a private directory that the parent makes,
PROMETHEUS_MULTIPROC_DIR), and the parent, which granian keeps through worker restarts,
serves `/metrics` on its own port (`serve`) by reading those files and asking the
database for the outbox's depth. The public app has no `/metrics` at all.

Without that directory (an app made in-process, as tests do) the counts stay in the
process, in `Metrics.registry`.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import socket
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from parlour.services.clock import now_ms
from parlour.services.context import Context
from parlour.settings import Settings
from parlour.store import Database
from parlour.store import outbox as mail_store
from parlour.store import webhooks as webhook_store

log = logging.getLogger(__name__)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Reads answer in about a millisecond; writes and cold pages in tens.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FLUSH_SECONDS = 1.0  # the longest a worker's counts wait before a scrape can see them
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """What one worker counts.

    `request` and the page cache's look-ups are on every read's path, and a
    prometheus-client update in multiprocess mode takes a lock and writes a memory-mapped
    file (measured: 7 µs for a request's counter and histogram, 2 µs a cache hit, about a
    tenth of a cached read). So they add to plain numbers here, and `flush` hands the sums
    to prometheus-client at most once a second (scheduled by the first request after a
    flush, so an idle worker does nothing) and when the worker stops.
    """

    def __init__(self) -> None:
        shared = bool(os.environ.get(MULTIPROC_DIR))
        # In multiprocess mode the files are the registry; the parent collects them.
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if shared else self.registry
        self.requests = Counter(
            "parlour_http_requests", "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "parlour_http_request_duration_seconds", "Time to answer a request, by route template and method.",
            ["route", "method"], buckets=BUCKETS, registry=registry,
        )  # fmt: skip
        self.cache_hits = Counter(
            "parlour_page_cache_hits", "Thread pages and feeds served from the page cache.", registry=registry
        )
        self.cache_misses = Counter(
            "parlour_page_cache_misses", "Thread pages and feeds not in the page cache.", registry=registry
        )
        self.live_listeners = Gauge(
            "parlour_live_listeners", "Open pages listening for new comments (event streams).",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.pool_checked_out = Gauge(
            "parlour_db_pool_checked_out", "Database connections in use, lent by the pools.",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.pool_size = Gauge(
            "parlour_db_pool_size", "Database connections the pools keep open (each may open more for a burst).",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        # Not yet flushed: requests by labels; per (route, method), requests per bucket
        # (the last one +Inf) and then the sum of their seconds; cache hits and misses.
        self._counts: dict[tuple[str, str, int], int] = {}
        self._times: dict[tuple[str, str], list[float]] = {}
        self._hits = 0
        self._misses = 0
        self._flushing: asyncio.TimerHandle | None = None

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (on the event loop)."""
        if method not in METHODS:
            method = "other"
        key = (route, method, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        times = self._times.get((route, method))
        if times is None:
            times = self._times[(route, method)] = [0.0] * (len(BUCKETS) + 2)
        times[bisect_left(BUCKETS, seconds)] += 1  # Prometheus's buckets are "less or equal"
        times[-1] += seconds
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def hit(self) -> None:
        self._hits += 1

    def miss(self) -> None:
        self._misses += 1

    def flush(self) -> None:
        """Hand what was counted since the last flush to prometheus-client."""
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        counts, self._counts = self._counts, {}
        times, self._times = self._times, {}
        hits, misses, self._hits, self._misses = self._hits, self._misses, 0, 0
        for (route, method, status), n in counts.items():
            self.requests.labels(route, method, str(status)).inc(n)
        for (route, method), buckets in times.items():
            # prometheus-client has no call for "n observations in this bucket"; its
            # histogram keeps a value per bucket and one for the sum (a test checks this
            # against observe()).
            child = self.latency.labels(route, method)
            for i, observed in enumerate(buckets[:-1]):
                if observed:
                    child._buckets[i].inc(observed)
            child._sum.inc(buckets[-1])
        if hits:
            self.cache_hits.inc(hits)
        if misses:
            self.cache_misses.inc(misses)

    def watch(self, ctx: Context) -> None:
        """Count the context's page cache, live listeners and database pool from now on."""
        ctx.pages.count_with(self.hit, self.miss)
        ctx.live.count_with(self.live_listeners.set)

        def pool(checked_out: int, size: int) -> None:
            self.pool_checked_out.set(checked_out)
            self.pool_size.set(size)

        ctx.db.watch_pool(pool)


class OutboxCollector(Collector):
    """Mail and webhook deliveries not yet sent, and the age of the oldest, asked of the
    database at each scrape (one short read; none when no scrape comes)."""

    def __init__(self, database: Callable[[], Database], now: Callable[[], int] = now_ms) -> None:
        self._database = database
        self._db: Database | None = None
        self._now = now

    def collect(self) -> Iterator[Metric]:
        if self._db is None:
            self._db = self._database()
        try:
            with self._db.read() as tx:
                queues = {"mail": mail_store.unsent(tx), "webhooks": webhook_store.undelivered(tx)}
        except Exception:  # the database is away: the scrape still answers, without these
            log.warning("metrics: could not count the outbox", exc_info=True)
            return
        depth = GaugeMetricFamily(
            "parlour_outbox_unsent",
            "Messages waiting to be sent (not given up on), by queue.",
            labels=["queue"],
        )
        age = GaugeMetricFamily(
            "parlour_outbox_oldest_unsent_age_seconds",
            "Age of the oldest message waiting to be sent, by queue (0 when none waits).",
            labels=["queue"],
        )
        now = self._now()
        for queue, (count, oldest) in queues.items():
            depth.add_metric([queue], count)
            age.add_metric([queue], 0 if oldest is None else max(0, now - oldest) / 1000)
        yield depth
        yield age

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


class WorkerFiles(Collector):
    """The workers' counts, summed from their files; the gauges of a worker that is gone
    (granian replaced it) are dropped first, its counters kept."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._files = multiprocess.MultiProcessCollector(None, directory)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for path in glob.glob(os.path.join(self._directory, "gauge_live*_*.db")):
            pid = int(os.path.basename(path).rsplit("_", 1)[1].removesuffix(".db"))
            if not _alive(pid):
                multiprocess.mark_process_dead(pid, self._directory)  # type: ignore[no-untyped-call]
        found: Iterable[Metric] = self._files.collect()  # type: ignore[no-untyped-call]
        return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


def serve(settings: Settings, directory: str) -> Callable[[], None]:
    """Serve `/metrics` on PARLOUR_METRICS_HOST:PARLOUR_METRICS_PORT from a thread of this
    process (the parent of granian's workers); returns the function that stops it.

    Workers forked later inherit the listening socket, so each closes its copy at once:
    only this process ever answers there."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerFiles(directory))
    outbox = OutboxCollector(lambda: Database(settings.database, pool=False))
    registry.register(outbox)
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Nothing here: the metrics are at /metrics.\n"]
        result: Iterable[bytes] = metrics_app(environ, start_response)
        return result

    family = socket.getaddrinfo(settings.metrics_host, settings.metrics_port, type=socket.SOCK_STREAM)[0][0]

    class Server(ThreadingWSGIServer):
        address_family = family

    server = make_server(settings.metrics_host, settings.metrics_port, app, Server, _Quiet)
    os.register_at_fork(after_in_child=server.socket.close)
    thread = threading.Thread(target=server.serve_forever, name="parlour-metrics", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        outbox.close()

    return stop
