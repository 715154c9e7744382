"""Live updates: new comments pushed to open pages over Server-Sent Events, across processes."""

from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
import orjson
import pytest
from starlette.testclient import TestClient

from factories import BLOG, error_code
from parlour.services import sites
from parlour.services.context import open_context
from parlour.settings import Settings
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
