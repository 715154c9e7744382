"""A cache hit touches no database: every process hears of every write by a push.

Two `parlour serve` processes on one database: a write through one is read through the
other within a second (PUSH_WINDOW), also after the listening connection was cut. And
a slow PostgreSQL statement on one request does not hold up a cached read served by the
same process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
from sqlalchemy import text

from factories import PUSH_WINDOW, make_site, post, within
from parlour.app import create_app
from parlour.services import posting, sites
from parlour.services.context import Context, open_context
from parlour.settings import Settings
from parlour.store.changes import APPLICATION_NAME
from parlour.store.hot import HotReads
from servers import running_parlour, served_database


@pytest.fixture
def two_servers(db_url: str, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Two separate `parlour serve` processes (one worker each) on one database."""
    database = served_database(db_url, tmp_path)
    with (
        running_parlour(database, tmp_path / "one.log") as one,
        running_parlour(database, tmp_path / "two.log") as two,
    ):
        ctx = open_context(Settings(database=database, secret="served"))
        try:
            sites.create_site(ctx, "blog", "Blog", "Wren", ["https://blog.example"])
        finally:
            ctx.close()
        yield one, two, database


def comment_count(base: str, thread: str = "/post") -> int:
    page = httpx.get(f"{base}/api/v1/comments", params={"site": "blog", "thread": thread}).json()
    counted = httpx.get(f"{base}/api/v1/counts", params={"site": "blog", "thread": thread}).json()
    assert counted["counts"][thread] == page["thread"]["comment_count"]
    return int(page["thread"]["comment_count"])


def post_through(base: str, body: str, thread: str = "/post") -> None:
    answer = httpx.post(
        f"{base}/api/v1/comments",
        json={"site": "blog", "thread": thread, "body": body},
        headers={"Origin": "https://blog.example"},
    )
    assert answer.status_code == 201, answer.text


def read_within_a_second(base: str, expected: int, thread: str = "/post") -> None:
    def counted() -> None:
        assert comment_count(base, thread) == expected

    within(PUSH_WINDOW, counted)


def test_a_write_through_one_process_is_read_through_another_within_a_second(
    two_servers: tuple[str, str, str],
) -> None:
    one, two, _ = two_servers
    assert comment_count(two) == 0  # both processes have the thread's page cached now
    assert comment_count(one) == 0
    for n in range(1, 6):
        post_through(one if n % 2 else two, f"comment {n}")
        read_within_a_second(two, n)
        read_within_a_second(one, n)
    post_through(one, "on a new page", thread="/new")  # a page that had no thread before
    read_within_a_second(two, 1, thread="/new")


def listeners(database: str) -> list[int]:
    with psycopg.connect(database, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        ).fetchall()
    return [row[0] for row in rows]


def test_writes_are_still_read_within_a_second_after_the_listening_connection_drops(
    two_servers: tuple[str, str, str], db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite's change counter is read from the file: there is no connection to drop")
    one, two, database = two_servers
    assert comment_count(two) == 0
    before = listeners(database)
    assert len(before) == 2  # one per process
    with psycopg.connect(database, autocommit=True) as conn:
        for pid in before:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    post_through(one, "while nobody listens")
    read_within_a_second(two, 1)

    def back() -> None:  # each process listens again, on a new connection
        now = listeners(database)
        assert len(now) == 2 and not set(now) & set(before)

    within(10, back)
    assert comment_count(two) == 1
    post_through(one, "after they came back")
    read_within_a_second(two, 2)


@pytest.fixture
def served(ctx: Context) -> Iterator[Context]:
    """The context hearing of changes, as a server's lifespan starts it."""
    ctx.start_push()
    deadline = time.monotonic() + 10
    while not ctx.threads.synced:
        assert time.monotonic() < deadline, "the change listener did not start"
        time.sleep(0.01)
    yield ctx
    ctx.stop_push()


def test_a_cached_read_and_a_cached_count_make_no_query(
    served: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = served
    make_site(ctx)
    posting.post_comment(ctx, posting.Actor(ip_hash="x"), posting.NewComment("blog", "/post", "Hello"))

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=create_app(context=ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://parlour.test") as client:
            params = {"site": "blog", "thread": "/post"}
            first = await client.get("/api/v1/comments", params=params)
            await client.get("/api/v1/counts", params=params)

            def no_database(*_args: Any, **_kwargs: Any) -> Any:
                raise AssertionError("a cache hit asked the database")

            monkeypatch.setattr(HotReads, "threads", no_database)
            monkeypatch.setattr(ctx.db, "read", no_database)
            monkeypatch.setattr(ctx.db, "write", no_database)
            again = await client.get("/api/v1/comments", params=params)
            counts = await client.get("/api/v1/counts", params=params)
            assert again.status_code == 200 and again.content == first.content
            assert counts.json() == {"counts": {"/post": 1}}

    asyncio.run(scenario())


def test_a_slow_postgresql_statement_does_not_hold_up_a_cached_read(
    served: Context, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite queries run in-process; the network wait is PostgreSQL's")
    ctx = served
    make_site(ctx)
    posting.post_comment(ctx, posting.Actor(ip_hash="x"), posting.NewComment("blog", "/post", "Hello"))

    def slow_reader(_ctx: Context, _actor: Any) -> str:
        with ctx.db.read() as tx:
            tx.execute(text("SELECT pg_sleep(2)"))
        return "token"

    monkeypatch.setattr(posting, "issue_reader", slow_reader)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=create_app(context=ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://parlour.test") as client:
            params = {"site": "blog", "thread": "/post"}
            await client.get("/api/v1/comments", params=params)  # now cached
            slow = asyncio.create_task(client.post("/api/v1/readers"))
            while not any(a.startswith("SELECT pg_sleep") for a in await asyncio.to_thread(running, ctx)):
                await asyncio.sleep(0.01)
            for _ in range(20):  # served by the same event loop while the slow statement runs
                answer = await client.get("/api/v1/comments", params=params)
                assert answer.status_code == 200
                counts = await client.get("/api/v1/counts", params=params)
                assert counts.json() == {"counts": {"/post": 1}}
            assert not slow.done()
            assert (await slow).status_code == 201

    asyncio.run(scenario())


def running(ctx: Context) -> list[str]:
    """The statements now running on this database."""
    with psycopg.connect(ctx.settings.database, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
        ).fetchall()
    return [row[0] for row in rows]


def test_a_pooled_connection_dropped_while_it_rested_is_replaced_unnoticed(
    ctx: Context, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that rested in the pool is pinged before it is lent, so a server that
    closed it meanwhile (a restart, an idle timeout) costs no request an error; one lent
    again at once under load is not pinged (a round trip a post)."""
    if ctx.db.is_sqlite:
        pytest.skip("a SQLite connection is a file: nothing can drop it")
    from parlour.store import database

    make_site(ctx)
    pinged: list[object] = []
    real_ping = ctx.db.engine.dialect.do_ping
    monkeypatch.setattr(ctx.db.engine.dialect, "do_ping", lambda conn: pinged.append(conn) or real_ping(conn))
    with ctx.db.read() as tx:  # whichever connection this is, it is the latest returned
        tx.execute(text("SELECT 1"))
    pinged.clear()
    for _ in range(3):
        with ctx.db.read() as tx:
            tx.execute(text("SELECT 1"))
    assert pinged == []  # lent again within PING_IDLE: no ping
    with ctx.db.read() as tx:
        pids = {tx.execute(text("SELECT pg_backend_pid()")).scalar_one()}
    with psycopg.connect(
        ctx.db.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as admin:
        pids |= {
            row[0]
            for row in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND application_name <> %s",
                (APPLICATION_NAME,),
            )
        }  # every pooled connection of this test's database, the one just used among them
        # Each call waits (up to 5 s) until that backend has exited.
        admin.execute("SELECT pg_terminate_backend(pid, 5000) FROM unnest(%s::int[]) AS pid", (list(pids),))
    monkeypatch.setattr(database, "PING_IDLE", 0.0)
    pinged.clear()
    post(client, "Posted after the server closed every connection.")  # 201, not an error
    assert pinged  # the rested connection was checked, found dead, and the pool renewed
    with ctx.db.read() as tx:
        assert tx.execute(text("SELECT pg_backend_pid()")).scalar_one() not in pids
