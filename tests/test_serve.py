"""`parlour serve` as in production: a real server, two worker processes, one database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from parlour.services import sites
from parlour.services.context import open_context
from parlour.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'served.db'}"  # a fresh file: serve migrates it
    port = free_port()
    env = {**os.environ, "PARLOUR_COMMENT_RATE_LIMIT": "0", "PARLOUR_SECRET": "served"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "parlour",
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
                "--database",
                db_url,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
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
        ctx = open_context(Settings(database=db_url, secret="served"))
        sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
        ctx.close()
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_two_workers_serve_every_write_on_the_next_read(server: str) -> None:
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
                    page = fresh.get("/api/v1/comments", params={"site": "blog", "thread": "/live"}).json()
                    assert page["thread"]["comment_count"] == i + 1
                    counts = fresh.get("/api/v1/counts", params={"site": "blog", "thread": "/live"}).json()
                    assert counts == {"counts": {"/live": i + 1}}
        assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Parlour API"
