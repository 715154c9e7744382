"""`parlour serve` as in production: a real server, two worker processes, one database."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import orjson
import pytest

from factories import PUSH_WINDOW, within
from parlour.cli.server import schedule
from parlour.services import logs, sites
from parlour.services.context import open_context
from parlour.settings import Settings
from servers import (
    OPEN_PAGES,
    Stream,
    descendants,
    free_port,
    hold_streams_then_count,
    kill_hard,
    open_streams,
    parlour_process,
    running_parlour,
    served_database,
    threads,
)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    database = served_database(db_url, tmp_path)
    with running_parlour(database, tmp_path / "serve.log", workers=2) as base:
        ctx = open_context(Settings(database=database, secret="served"))
        sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
        ctx.close()
        yield base


@pytest.mark.slow
def test_two_workers_serve_every_write_within_a_second(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        assert client.get("/-/health").json()["status"] == "ok"
        for i in range(12):
            created = client.post(
                "/api/v1/comments", json={"site": "blog", "thread": "/live", "body": f"comment {i}"}
            )
            assert created.status_code == 201, created.text
            # New connections, so the kernel spreads them over both workers.
            for _ in range(3):
                with httpx.Client(base_url=server) as fresh:

                    def shown(fresh: httpx.Client = fresh, n: int = i + 1) -> None:
                        page = fresh.get(
                            "/api/v1/comments", params={"site": "blog", "thread": "/live"}
                        ).json()
                        assert page["thread"]["comment_count"] == n
                        counts = fresh.get(
                            "/api/v1/counts", params={"site": "blog", "thread": "/live"}
                        ).json()
                        assert counts == {"counts": {"/live": n}}

                    within(PUSH_WINDOW, shown)
        assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Parlour API"


@pytest.mark.slow
def test_an_instance_answers_while_thousands_of_open_pages_hold_event_streams(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    database = f"sqlite:///{tmp_path / 'served.db'}"
    try:
        # The server starts with a login shell's usual soft limit, 1,024 files; granian
        # raises its own.
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, soft), hard))
        with running_parlour(database, tmp_path / "serve.log") as base:
            ctx = open_context(Settings(database=database, secret="served"))
            sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
            ctx.close()
            assert hold_streams_then_count(base, "blog", "https://blog.example") == (OPEN_PAGES, 200)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow
def test_told_to_stop_a_server_ends_its_open_pages_streams_and_stops_without_being_killed(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'served.db'}"
    log = tmp_path / "serve.log"
    with parlour_process(database, log, workers=2) as (base, process):
        ctx = open_context(Settings(database=database, secret="served"))
        sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
        ctx.close()

        async def stop_with_pages_open() -> list[bytes]:
            streams: list[Stream] = []
            try:
                await open_streams(base, "blog", "https://blog.example", "/open", 100, streams)
                process.send_signal(signal.SIGTERM)
                return await asyncio.wait_for(asyncio.gather(*(reader.read() for reader, _ in streams)), 20)
            finally:
                for _, writer in streams:
                    writer.close()

        rests = asyncio.run(stop_with_pages_open())
        assert process.wait(timeout=20) == 0
    # Every stream was ended by the server (the chunked body's last chunk), not cut off
    # by a worker being killed; the browsers reconnect to another instance.
    assert all(rest.endswith(b"0\r\n\r\n") for rest in rests)
    assert "refused to gracefully stop" not in log.read_text()


@pytest.mark.parametrize("told", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_server_told_to_stop_while_its_workers_start_stops_them_once_started_without_killing(
    tmp_path: Path, told: signal.Signals
) -> None:
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "parlour", "serve", "--port", str(free_port()), "--workers", "2",
             "--database", f"sqlite:///{tmp_path / 'served.db'}"],
            env={**os.environ, "PARLOUR_SECRET": "served"}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90  # a bound, not a timing
        while "Spawning worker-2" not in log.read_text():  # forked: each imports the app now
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        process.send_signal(told)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            kill_hard(process)
    said = log.read_text()
    assert "refused to gracefully stop" not in said, said
    assert said.count("Stopped worker-") == 2 and "Granian shutdown completed" in said, said


def policies(pid: int) -> set[int]:
    """The scheduling policies of every thread of a process and of its descendants (a
    thread that ends meanwhile is left out)."""
    found = set()
    for thread in threads(pid):
        try:
            found.add(os.sched_getscheduler(thread))
        except ProcessLookupError:
            continue
    return found


@pytest.fixture
def started_normal() -> Iterator[None]:
    """The test runner under SCHED_OTHER while the test starts servers (which inherit it),
    whatever it was started under, so that "as started" means SCHED_OTHER."""
    before = os.sched_getscheduler(0)
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    try:
        yield
    finally:
        os.sched_setscheduler(0, before, os.sched_param(0))


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux's scheduling policies")
@pytest.mark.parametrize(
    ("setting", "policy"), [(None, "SCHED_BATCH"), ("batch", "SCHED_BATCH"), ("normal", "SCHED_OTHER")]
)
def test_a_server_runs_its_workers_and_their_threads_under_sched_batch_unless_told_normal(
    tmp_path: Path, started_normal: None, setting: str | None, policy: str
) -> None:
    database = f"sqlite:///{tmp_path / 'served.db'}"
    env = {"PARLOUR_CPU_SCHEDULING": setting} if setting else {}
    with parlour_process(database, tmp_path / "serve.log", workers=2, env=env) as (base, process):
        assert httpx.get(base + "/-/health").status_code == 200
        assert len(descendants(process.pid)) >= 2  # the workers, which answered
        assert policies(process.pid) == {getattr(os, policy)}


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux's scheduling policies")
def test_scheduling_refused_by_the_system_is_reported_and_normal_asks_for_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(Refused for real, by the unit's system call filter: tests/test_deploy.py.)"""
    asked: list[int] = []

    def refuse(pid: int, policy: int, param: os.sched_param) -> None:
        asked.append(policy)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_getscheduler", lambda pid: os.SCHED_OTHER)
    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    refused = schedule("batch")
    assert refused is not None and "Operation not permitted" in refused
    assert schedule("normal") is None
    assert asked == [os.SCHED_BATCH]
    monkeypatch.setattr(os, "sched_getscheduler", lambda pid: os.SCHED_BATCH)  # started so
    assert schedule("batch") is None
    assert asked == [os.SCHED_BATCH]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_warning_before_the_log_is_set_up_has_the_logs_format(
    log_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.early_warning(Settings(log_format=log_format), "parlour.serve", "could not, serving as started")
    line = capsys.readouterr().err
    if log_format == "json":
        record = orjson.loads(line)
        assert (record["level"], record["logger"], record["message"]) == (
            "warning", "parlour.serve", "could not, serving as started",
        )  # fmt: skip
    else:
        assert line == "[WARNING] could not, serving as started\n"
