"""Live updates: new comments pushed to open pages over Server-Sent Events, across processes."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from starlette.testclient import TestClient

from factories import BLOG, error_code, make_site
from parlour.services import posting, sites
from parlour.services.context import Context, open_context
from parlour.services.live import CATCH_UP_MAX, QUEUE_MAX, Listener
from parlour.services.stopping import STOP_SIGNALS, end_streams_when_told_to_stop, hold_stop_signals
from parlour.settings import Settings
from parlour.web import events
from servers import running_parlour, served_database


def test_events_for_an_unknown_site_are_an_error(client: TestClient) -> None:
    response = client.get("/api/v1/events", params={"site": "nope", "thread": "/post"})
    assert response.status_code == 404
    assert error_code(response) == "unknown_site"
    assert error_code(client.get("/api/v1/events", params={"site": "nope"})) == "invalid_parameter"


@pytest.mark.slow
def test_comment_posted_through_one_process_reaches_a_page_listening_on_another(
    db_url: str, tmp_path: Path
) -> None:
    database = served_database(db_url, tmp_path)
    with (
        running_parlour(database, tmp_path / "a.log", secret="live") as first,
        running_parlour(database, tmp_path / "b.log", secret="live") as second,
    ):
        ctx = open_context(Settings(database=database, secret="live"))
        try:
            sites.create_site(ctx, "blog", "Blog", "Wren", [BLOG])
        finally:
            ctx.close()
        params = {"site": "blog", "thread": "/post"}
        with httpx.stream(
            "GET", first + "/api/v1/events", params=params, headers={"Origin": BLOG}, timeout=10
        ) as events:
            assert events.status_code == 200
            assert events.headers["content-type"].startswith("text/event-stream")
            assert events.headers["access-control-allow-origin"] == BLOG
            lines = (line for line in events.iter_lines() if line)
            assert next(lines) == "retry: 3000"
            posted = httpx.post(
                second + "/api/v1/comments",
                json={**params, "body": "Hello from *elsewhere*", "author_name": "Ada"},
                headers={"Origin": BLOG},
            )
            assert posted.status_code == 201, posted.text
            other = httpx.post(
                second + "/api/v1/comments",
                json={"site": "blog", "thread": "/other", "body": "Not this thread"},
                headers={"Origin": BLOG},
            )
            assert other.status_code == 201
            received = []
            for line in lines:
                received.append(line)
                if line.startswith("data: "):
                    break
    assert received[0] == "event: comment"
    assert received[1] == f"id: {posted.json()['comment']['id']}"
    comment = orjson.loads(received[2].removeprefix("data: "))
    assert comment == posted.json()["comment"]
    assert comment["html"] == "<p>Hello from <em>elsewhere</em></p>\n"


@pytest.mark.slow
def test_a_page_is_sent_only_comments_newer_than_its_own_and_never_removed_ones(
    db_url: str, tmp_path: Path
) -> None:
    database = served_database(db_url, tmp_path)
    with running_parlour(database, tmp_path / "a.log", secret="live") as base:
        ctx = open_context(Settings(database=database, secret="live"))
        try:
            sites.create_site(ctx, "blog", "Blog", "Wren", [BLOG])
            token = sites.create_writer_token(ctx, "blog")
        finally:
            ctx.close()
        params = {"site": "blog", "thread": "/post"}

        def comment(body: str) -> dict[str, object]:
            response = httpx.post(
                base + "/api/v1/comments", json={**params, "body": body}, headers={"Origin": BLOG}
            )
            assert response.status_code == 201
            created: dict[str, object] = response.json()["comment"]
            return created

        seen = comment("Already on the page")
        gone = comment("Removed by the writer")
        removed = httpx.delete(
            f"{base}/api/v1/comments/{gone['id']}", headers={"Authorization": f"Bearer {token}"}
        )
        assert removed.status_code == 200
        missed = comment("Posted while the page was loading")
        with httpx.stream(
            "GET", base + "/api/v1/events", params={**params, "after": str(seen["id"])}, timeout=10
        ) as events:
            lines = (line for line in events.iter_lines() if line.startswith("data: "))
            first = orjson.loads(next(lines).removeprefix("data: "))
            assert first["id"] == missed["id"]  # not the removed one, not the one it had
            later = comment("Posted after")
            assert orjson.loads(next(lines).removeprefix("data: "))["id"] == later["id"]


@pytest.mark.slow
def test_a_comment_approved_later_reaches_open_pages_whether_they_connected_before_or_after(
    db_url: str, tmp_path: Path
) -> None:
    from parlour.services import accounts, moderation

    database = served_database(db_url, tmp_path)
    with running_parlour(database, tmp_path / "a.log", secret="live") as base:
        ctx = open_context(Settings(database=database, secret="live"))
        try:
            sites.create_site(ctx, "blog", "Blog", "Wren", [BLOG])
            owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
            form = {"name": "Blog", "writer_name": "Wren", "origins": BLOG, "moderation": "hold_all"}
            moderation.save_settings(ctx, owner, "blog", moderation.read_settings(form))
            params = {"site": "blog", "thread": "/post"}

            def held(body: str) -> int:
                response = httpx.post(
                    base + "/api/v1/comments", json={**params, "body": body}, headers={"Origin": BLOG}
                )
                assert response.json()["comment"]["held"] is True
                return int(response.json()["comment"]["id"])

            early, late = held("Approved while the page loaded"), held("Approved while it is open")
            shown = httpx.post(
                base + "/api/v1/comments",
                json={**params, "body": "The writer"},
                headers={"Authorization": f"Bearer {sites.create_writer_token(ctx, 'blog')}"},
            ).json()["comment"]
            # The page read the thread (it had `shown`), then this one was approved before
            # its stream connected: older than the page's newest, and still sent.
            moderation.decide(ctx, owner, [early], "approve")
            with httpx.stream(
                "GET", base + "/api/v1/events", params={**params, "after": str(shown["id"])}, timeout=10
            ) as events:
                lines = (line for line in events.iter_lines() if line)
                assert next(lines) == "retry: 3000"  # listening, after the catch-up was queued
                data = (line for line in lines if line.startswith("data: "))
                caught_up = orjson.loads(next(data).removeprefix("data: "))
                assert caught_up["id"] == early and caught_up["held"] is False
                moderation.decide(ctx, owner, [late], "approve")
                approved = orjson.loads(next(data).removeprefix("data: "))
            assert approved["id"] == late and approved["held"] is False
        finally:
            ctx.close()


# One stream in process, through the ASGI endpoint itself: what a page is sent while it
# waits, and how its stream ends.


class _Page:
    """An open page as the ASGI endpoint sees it: the request, then (once `leave` is
    called) `http.disconnect`; everything sent to it in `sent`."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.left = asyncio.Event()
        self._asked = 0

    async def receive(self) -> dict[str, Any]:
        self._asked += 1
        if self._asked == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        await asyncio.sleep(0)  # as a server's send may: others run meanwhile

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    async def until(self, seen: bytes) -> None:
        async with asyncio.timeout(10):
            while seen not in self.body():
                await asyncio.sleep(0.01)


def _stream(ctx: Context, page: _Page, thread: str = "/post", more: str = "") -> Any:
    scope = {
        "type": "http", "method": "GET", "path": "/api/v1/events", "headers": [],
        "query_string": f"site=blog&thread={thread}{more}".encode(),
        "app": SimpleNamespace(state=SimpleNamespace(ctx=ctx)),
    }  # fmt: skip
    return asyncio.ensure_future(events.thread_events(scope, page.receive, page.send))


def test_a_waiting_page_is_sent_a_keep_alive_and_then_the_comments_posted_meanwhile(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_site(ctx)
    monkeypatch.setattr(events, "KEEPALIVE_SECONDS", 0.05)

    async def run() -> None:
        page = _Page()
        stream = _stream(ctx, page)
        await page.until(b": keep-alive\n\n")
        assert page.sent[0]["status"] == 200
        assert dict(page.sent[0]["headers"])[b"content-type"] == b"text/event-stream; charset=utf-8"
        assert page.body().startswith(b"retry: 3000\n\n: keep-alive\n\n")
        for text in ("First", "Second"):
            await ctx.db.run(lambda t=text: _post(ctx, t))
        ctx.live.changed(set())
        await page.until(b"Second")
        frames = [f for f in page.body().split(b"\n\n") if f.startswith(b"event: comment")]
        assert [orjson.loads(f.split(b"data: ")[1])["body"] for f in frames] == ["First", "Second"]
        page.left.set()
        await asyncio.wait_for(stream, 5)
        await ctx.live.close()

    asyncio.run(run())


def test_a_page_that_leaves_stops_listening_and_is_sent_nothing_more(ctx: Context) -> None:
    make_site(ctx)

    async def run() -> None:
        listening: list[int] = []
        ctx.live.count_with(listening.append)
        page = _Page()
        stream = _stream(ctx, page)
        await page.until(b"retry: 3000\n\n")
        assert listening[-1] == 1
        sent = len(page.sent)
        page.left.set()
        await asyncio.wait_for(stream, 5)
        assert listening[-1] == 0
        await ctx.db.run(lambda: _post(ctx, "After the page left"))
        ctx.live.changed(set())
        await asyncio.sleep(0.2)
        assert len(page.sent) == sent  # no comment, not even the end of the response: no one is there
        await ctx.live.close()

    asyncio.run(run())


def test_a_stopping_process_ends_every_open_stream(ctx: Context) -> None:
    make_site(ctx)

    async def run() -> None:
        pages = [_Page() for _ in range(3)]
        streams = [_stream(ctx, page, f"/post{i % 2}") for i, page in enumerate(pages)]
        for page in pages:
            await page.until(b"retry: 3000\n\n")
        await ctx.live.close()
        await asyncio.wait_for(asyncio.gather(*streams), 5)
        for page in pages:
            assert page.sent[-1] == {"type": "http.response.body", "body": b""}

    asyncio.run(run())


def test_once_its_process_is_told_to_stop_open_streams_end_and_new_ones_end_at_once(ctx: Context) -> None:
    make_site(ctx)

    async def run() -> None:
        before, after = _Page(), _Page()
        open_before = _stream(ctx, before)
        await before.until(b"retry: 3000\n\n")
        ctx.live.end_streams()
        open_after = _stream(ctx, after)
        await asyncio.wait_for(asyncio.gather(open_before, open_after), 5)
        for page in (before, after):
            assert page.sent[-1] == {"type": "http.response.body", "body": b""}
        await ctx.live.close()

    asyncio.run(run())


def test_a_catch_up_longer_than_a_stream_may_hold_is_cut_short_and_the_page_stays_open(ctx: Context) -> None:
    """A page coming back to a busy thread is not dropped for its catch-up: it would come
    back to the same catch-up. The feed's first look, which reaches further back, sends
    none of it again. (On SQLite the catch-up and that look take turns on the loop; on
    PostgreSQL both run in threads and the look may come first, and fill the stream.)"""
    if not ctx.db.is_sqlite:
        pytest.skip("the catch-up and the feed's first look race on PostgreSQL")
    make_site(ctx)
    for i in range(QUEUE_MAX + 5):
        _post(ctx, f"Busy {i}")

    async def run() -> None:
        page = _Page()
        stream = _stream(ctx, page, more="&after=0")
        await page.until(f'"Busy {CATCH_UP_MAX - 1}"'.encode())
        await asyncio.sleep(0.3)  # the feed's first look is done
        assert not stream.done()
        assert page.body().count(b"event: comment") == CATCH_UP_MAX
        page.left.set()
        await asyncio.wait_for(stream, 5)
        await ctx.live.close()

    asyncio.run(run())


def test_a_page_connecting_is_not_sent_comments_older_than_the_catch_up_however_low_its_after(
    ctx: Context,
) -> None:
    """The feed's first look reaches LATE_IDS events back, on a quiet site far older than
    the last 30 seconds: those are the page's already (it read the thread), even where
    its `after` is lower, as it is for a thread that was empty when it loaded."""
    from sqlalchemy import update

    from parlour.store.schema import comments
    from parlour.store.schema import events as event_table

    make_site(ctx)
    for i in range(3):
        _post(ctx, f"From this morning {i}")
    hours_ago = ctx.now() - 5 * 3_600_000
    with ctx.db.write() as tx:
        tx.execute(update(event_table).values(created_at=hours_ago))
        tx.execute(update(comments).values(created_at=hours_ago, published_at=hours_ago))

    async def run() -> None:
        page = _Page()
        stream = _stream(ctx, page, more="&after=0")
        await page.until(b"retry: 3000\n\n")
        await asyncio.sleep(0.3)  # the feed's first look is done
        await asyncio.to_thread(_post, ctx, "Just now")
        await page.until(b"Just now")
        assert page.body().count(b"event: comment") == 1
        page.left.set()
        await asyncio.wait_for(stream, 5)
        await ctx.live.close()

    asyncio.run(run())


def test_a_stop_signal_ends_the_streams_and_goes_on_to_the_servers_own_handler() -> None:
    heard: list[int] = []
    ended: list[str] = []
    live = SimpleNamespace(end_streams=lambda: ended.append("ended"))
    original = signal.getsignal(signal.SIGTERM)

    async def run() -> None:
        signal.signal(signal.SIGTERM, lambda signum, _frame: heard.append(signum))  # the server's
        restore = end_streams_when_told_to_stop(live)  # type: ignore[arg-type]
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert heard == [signal.SIGTERM] and ended == ["ended"]
        restore()
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert heard == [signal.SIGTERM, signal.SIGTERM] and ended == ["ended"]  # the server's alone again
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # no handler of the server's: nothing is chained
        end_streams_when_told_to_stop(live)()  # type: ignore[arg-type]
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    try:
        asyncio.run(run())
    finally:
        signal.signal(signal.SIGTERM, original)


def test_a_stop_signal_that_came_while_a_worker_started_reaches_the_servers_handler_once_set() -> None:
    heard: list[int] = []
    ended: list[str] = []
    live = SimpleNamespace(end_streams=lambda: ended.append("ended"))
    original = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    async def run() -> None:
        hold_stop_signals()  # just forked
        signal.raise_signal(signal.SIGTERM)  # told to stop while importing the app
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert heard == [] and ended == []  # held, not acted on by a handler of no one's
        signal.signal(signal.SIGTERM, lambda signum, _frame: heard.append(signum))  # the server's
        signal.signal(signal.SIGINT, lambda signum, _frame: heard.append(signum))
        restore = end_streams_when_told_to_stop(live)  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert heard == [signal.SIGTERM] and ended == ["ended"]  # once, as the server was told once
        restore()
        end_streams_when_told_to_stop(live)()  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert heard == [signal.SIGTERM]  # delivered once only

    try:
        asyncio.run(run())
    finally:
        for sig, handler in original.items():
            signal.signal(sig, handler)


def test_a_page_too_far_behind_is_dropped_rather_than_held_in_memory() -> None:
    async def run() -> None:
        listener = Listener("blog", "/post")
        waiting = asyncio.ensure_future(listener.wait(60))
        await asyncio.sleep(0)
        listener.put({"id": 1})
        await asyncio.wait_for(waiting, 1)  # woken by the comment, not the minute
        for i in range(2, QUEUE_MAX + 1):
            listener.put({"id": i})
        assert len(listener.pending) == QUEUE_MAX and not listener.dropped
        listener.put({"id": QUEUE_MAX + 1})
        assert listener.dropped
        assert len(listener.pending) == QUEUE_MAX

    asyncio.run(run())


def _post(ctx: Context, text: str) -> None:
    posting.post_comment(ctx, posting.Actor(ip_hash="x"), posting.NewComment("blog", "/post", text))
