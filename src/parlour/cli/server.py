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

    from parlour.services import logs, stopping
    from parlour.settings import Settings

    settings = Settings.from_env()
    refused = schedule(settings.cpu_scheduling)
    if refused:
        logs.early_warning(settings, "parlour.serve", refused)
    directory: str | None = None
    stop_metrics: Callable[[], None] | None = None
    if settings.metrics_port:
        # Before prometheus-client is first imported: it picks its mode then, and the
        # forked workers inherit it.
        directory = tempfile.mkdtemp(prefix="parlour-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        from parlour.services import metrics

        stop_metrics = metrics.serve(settings, directory)
    # Each worker granian forks keeps a stop signal that comes while it starts, and stops
    # once started (services/stopping.py).
    os.register_at_fork(after_in_child=stopping.hold_stop_signals)
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


def schedule(policy: str) -> str | None:
    """Run this process, and every process and thread it starts, under Linux's SCHED_BATCH
    when `policy` is "batch" (PARLOUR_CPU_SCHEDULING); "normal" leaves it as it was
    started. Returns what went wrong, if the system refused (the server goes on as started).

    Granian's workers are forked from here (and forked again from here when one is
    replaced), and their threads started there: all keep the policy. Under SCHED_BATCH a
    Parlour thread that wakes (a request arrived, the database answered) does not take
    the processor from the one running; it waits for that one's turn to end, and then
    finds several requests ready. Instances sharing a machine's cores (with nginx and
    PostgreSQL, which keep the normal policy) no longer preempt each other at every
    request: counts through nginx to three instances on two cores went from 0.55 to 0.75
    of one instance's throughput (bench/README.md, "Several instances behind nginx"), and
    one instance under load serves as much as before. It needs no privilege, as it only
    gives something up, but a system call filter may forbid it: the shipped systemd units
    forbid it and start the server under SCHED_BATCH themselves (CPUSchedulingPolicy=).
    """
    if policy != "batch" or not hasattr(os, "SCHED_BATCH"):  # not on Linux
        return None
    try:
        if os.sched_getscheduler(0) != os.SCHED_BATCH:  # else started so (the systemd units)
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError as exc:  # a sandbox that forbids the call
        return f"could not run under SCHED_BATCH ({exc}); serving as started"
    return None


if __name__ == "__main__":
    main(sys.argv[1:])
