"""`parlour serve` as in production: a real server, two worker processes, one database."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from factories import PUSH_WINDOW, within
from parlour.services import sites
from parlour.services.context import open_context
from parlour.settings import Settings
from servers import running_parlour, served_database


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


# Every open page holds an event stream; a busy post's readers hold thousands at once.
OPEN_PAGES = 3000


async def _hold_streams_then_count(base: str, pages: int) -> tuple[int, int]:
    """Open `pages` event streams, then ask for counts on a connection of its own while
    they stay open. The streams that opened, and the status of the counts."""
    host, port = base.removeprefix("http://").split(":")
    streams: list[asyncio.StreamWriter] = []

    async def open_stream() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        streams.append(writer)
        writer.write(
            b"GET /api/v1/events?site=blog&thread=/busy HTTP/1.1\r\nHost: comments\r\n"
            b"Origin: https://blog.example\r\n\r\n"
        )
        await reader.readuntil(b"retry: 3000\n\n")

    try:
        opened = await asyncio.wait_for(asyncio.gather(*(open_stream() for _ in range(pages))), 60)
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            counts = await client.get("/api/v1/counts", params={"site": "blog", "thread": "/busy"})
        return len(opened), counts.status_code
    finally:
        for writer in streams:
            writer.close()


@pytest.mark.slow
def test_an_instance_answers_while_thousands_of_open_pages_hold_event_streams(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < OPEN_PAGES + 100:
        pytest.skip(f"this machine lets a process open {hard} files, not {OPEN_PAGES}")
    database = f"sqlite:///{tmp_path / 'served.db'}"
    try:
        # The server starts with a login shell's usual soft limit, 1,024 files (granian
        # raises its own); this process raises its own to open the streams.
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        with running_parlour(database, tmp_path / "serve.log") as base:
            resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_PAGES + 100, hard))
            ctx = open_context(Settings(database=database, secret="served"))
            sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
            ctx.close()
            assert asyncio.run(_hold_streams_then_count(base, OPEN_PAGES)) == (OPEN_PAGES, 200)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
