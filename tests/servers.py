"""A real `parlour serve` process, for the tests that need one (a second process, a browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def served_database(db_url: str, tmp_path: Path) -> str:
    """The database URL to serve: PostgreSQL as given, SQLite as a fresh file (serve migrates it)."""
    return f"sqlite:///{tmp_path / 'served.db'}" if db_url.startswith("sqlite") else db_url


@contextmanager
def running_parlour(database: str, log: Path, workers: int = 1, secret: str = "served") -> Iterator[str]:
    """Start `parlour serve` on a free port, wait for /-/health, yield its base URL, stop it."""
    port = free_port()
    env = {**os.environ, "PARLOUR_COMMENT_RATE_LIMIT": "0", "PARLOUR_SECRET": secret}
    command = [sys.executable, "-m", "parlour", "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--database", database], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/-/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start:\n" + log.read_text()
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
