"""A real `parlour serve` process, for the tests that need one (a second process, a browser)."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def served_database(db_url: str, tmp_path: Path) -> str:
    """The database URL to serve: PostgreSQL as given, SQLite as a fresh file (serve migrates it)."""
    return f"sqlite:///{tmp_path / 'served.db'}" if db_url.startswith("sqlite") else db_url


@contextmanager
def running_parlour(
    database: str,
    log: Path,
    workers: int = 1,
    secret: str = "served",
    env: dict[str, str] | None = None,
    public_host: str | None = None,
) -> Iterator[str]:
    """Start `parlour serve` on a free port, wait for /-/health, yield its base URL, stop it.

    With `public_host`, PARLOUR_PUBLIC_URL is http://<public_host>:<port>."""
    with parlour_process(database, log, workers, secret, env, public_host) as (base, _):
        yield base


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """kill -9 the server and its workers at once (its own process group), as a crash or
    an out-of-memory kill would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


@contextmanager
def parlour_process(
    database: str,
    log: Path,
    workers: int = 1,
    secret: str = "served",
    env: dict[str, str] | None = None,
    public_host: str | None = None,
    errors: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_parlour`, yielding the process too, in a process group of its own
    (`kill_hard`); with `errors`, its standard error goes there instead of `log`."""
    port = free_port()
    env = {**os.environ, "PARLOUR_COMMENT_RATE_LIMIT": "0", "PARLOUR_SECRET": secret, **(env or {})}
    if public_host is not None:
        env["PARLOUR_PUBLIC_URL"] = f"http://{public_host}:{port}"
    command = [sys.executable, "-m", "parlour", "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out, (errors or log).open("ab") as err:
        process = subprocess.Popen(
            [*command, "--database", database], env=env, stdout=out,
            stderr=err if errors else subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/-/health", process, log)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until `url` answers 200; fail with `log` if the process dies first or takes
    too long (a bound, not a timing: a loaded CI box starts servers slowly)."""
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "did not start:\n" + log.read_text()
        time.sleep(0.1)


CHROMIUM = "/usr/bin/chromium"
# Every browser test runs with third-party cookies blocked, as Chrome and Safari do.
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--test-third-party-cookie-phaseout",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright (browsers cannot be downloaded here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def rss_kib(pid: int) -> int:
    """RSS of a process and its children (granian's master and its workers), in KiB."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def descendants(pid: int) -> list[int]:
    """The processes a process started, and theirs, from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *descendants(kid)]
    return found


def threads(pid: int) -> list[int]:
    """The thread ids of a process and of its descendants, from /proc (a thread can end
    before its caller looks at it)."""
    return [int(task.name) for p in (pid, *descendants(pid)) for task in Path(f"/proc/{p}/task").glob("*")]


# Every open page holds an event stream; a busy post's readers hold thousands at once.
OPEN_PAGES = 3000

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@contextmanager
def open_files(wanted: int) -> Iterator[None]:
    """This process may open `wanted` files (its soft limit raised within the hard one),
    then its limit as it was. Skips a test where the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"this machine lets a process open {hard} files, not {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def open_streams(
    base: str, site: str, origin: str, thread: str, pages: int, into: list[Stream]
) -> None:
    """Open `pages` event streams to one thread (raw connections, as many browsers) and
    wait until each has begun. Each goes into `into` as it connects, so that the caller
    closes all of them even when this fails or times out (60 s)."""
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"GET /api/v1/events?site={site}&thread={thread} HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\n\r\n"
    ).encode()

    async def one() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        into.append((reader, writer))
        writer.write(request)
        await reader.readuntil(b"retry: 3000\n\n")

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(pages))), 60)


def hold_streams_then_count(base: str, site: str, origin: str, pages: int = OPEN_PAGES) -> tuple[int, int]:
    """Open `pages` event streams, then ask for counts on a connection of its own while
    they stay open. Returns how many streams opened and the status of the counts."""
    with open_files(pages + 100):
        return asyncio.run(_hold_streams_then_count(base, site, origin, pages))


async def _hold_streams_then_count(base: str, site: str, origin: str, pages: int) -> tuple[int, int]:
    streams: list[Stream] = []
    try:
        await open_streams(base, site, origin, "/busy", pages, streams)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            counts = await client.get("/api/v1/counts", params={"site": site, "thread": "/busy"})
        return len(streams), counts.status_code
    finally:
        for _, writer in streams:
            writer.close()
