"""The process `parlour serve` becomes once the database is ready: granian, and no more.

`parlour serve` migrates and prints its welcome with the whole CLI loaded (Alembic,
every service), then replaces itself with this module (`os.execv`, same PID) so that
none of that stays in memory: granian forks its workers from this lean process, and
each worker loads the application itself (`parlour.app:create_app`). The settings come
from the environment, where `serve` put them.

With PARLOUR_METRICS_PORT, this process also serves `/metrics` (services/metrics.py): it
outlives every worker granian replaces, and it sums the workers' counts, which they keep
in a directory made here, fresh for each start, and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable


def main(argv: list[str]) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    from parlour.services import logs
    from parlour.settings import Settings

    settings = Settings.from_env()
    schedule(settings.cpu_scheduling)
    directory: str | None = None
    stop_metrics: Callable[[], None] | None = None
    if settings.metrics_port:
        # Before prometheus-client is first imported: it picks its mode then, and the
        # forked workers inherit it.
        directory = tempfile.mkdtemp(prefix="parlour-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        from parlour.services import metrics

        stop_metrics = metrics.serve(settings, directory)
    try:
        Granian(
            "parlour.app:create_app",
            factory=True,
            address=settings.host,
            port=settings.port,
            workers=settings.workers,
            # Granian's default is its listen backlog (1,024) shared among the workers:
            # past that many open pages, a new reader's request waited. Each stream is
            # also an open file: granian raises the soft limit to the hard one (systemd's
            # units set LimitNOFILE).
            backpressure=settings.worker_requests,
            interface=Interfaces.ASGI,
            loop=Loops.uvloop,
            log_level=LogLevels(settings.log_level.lower()),
            log_dictconfig=logs.granian_config(settings),
            # In JSON the app writes the access lines itself, with the request's id
            # (web/observe.py); in text granian's stay as they were.
            log_access=settings.access_log and settings.log_format == "text",
            respawn_failed_workers=True,
            # A worker told to stop ends its open pages' event streams at once (app.py) and
            # finishes the requests in hand; one still busy after this is killed.
            workers_kill_timeout=5,
        ).serve()
    finally:
        if stop_metrics is not None:
            stop_metrics()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def schedule(policy: str) -> None:
    """Run this process, and every process and thread it starts, under Linux's SCHED_BATCH
    when `policy` is "batch" (PARLOUR_CPU_SCHEDULING); "normal" leaves it as it was started.

    Granian's workers are forked from here and their threads started there, and both keep
    the policy. Under SCHED_BATCH a thread that wakes (a request arrived, the database
    answered) does not take the processor from the one running; it waits for that one's
    turn to end, and then finds several requests ready. Instances, nginx and PostgreSQL
    sharing a machine's cores stop taking the processor from each other at every request:
    counts through nginx to three instances on two cores went from 0.55 to 0.75 of one
    instance's throughput (bench/README.md, "Several instances behind nginx"), and one
    instance alone is no slower. It needs no privilege, as it only gives something up, but
    a system call filter may forbid it: the shipped systemd units forbid it and start the
    server under SCHED_BATCH themselves (CPUSchedulingPolicy=batch).
    """
    if policy != "batch" or not hasattr(os, "SCHED_BATCH"):  # not on Linux
        return
    if os.sched_getscheduler(0) == os.SCHED_BATCH:  # started so (the systemd units)
        return
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError as exc:  # a sandbox that forbids the call: serve as started
        print(f"parlour: could not run under SCHED_BATCH ({exc}); serving as started", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
