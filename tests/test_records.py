"""The desk's posts list, full-text search and reader pages, on SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from desk_helpers import desk_client, make_user, sign_in
from factories import make_site, new_reader, post, writer_headers
from parlour.services.context import Context


def found_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="found-(\d+)"', page)]


def test_search_finds_every_word_in_any_post_and_filters_by_post_and_status(
    writer: TestClient, client: TestClient
) -> None:
    tomato = post(client, "My tomatoes split after the rain", title="Tomatoes")["comment"]
    rain = post(client, "Rain again, and the café is closed", thread="/other")["comment"]
    post(client, "Nothing about the weather")
    # Order: newest first on SQLite, best match first on PostgreSQL.
    assert set(found_ids(writer.get("/desk/search", params={"q": "rain"}).text)) == {rain["id"], tomato["id"]}
    assert found_ids(writer.get("/desk/search", params={"q": "tomatoes rain"}).text) == [tomato["id"]]
    assert found_ids(writer.get("/desk/search", params={"q": "rain", "thread": "/other"}).text) == [
        rain["id"]
    ]
    assert (
        found_ids(writer.get("/desk/search", params={"q": '"quoted" AND OR NEAR('}).text) == []
    )  # no syntax errors
    assert found_ids(writer.get("/desk/search", params={"q": "rain", "status": "removed"}).text) == []
    page = writer.get("/desk/search", params={"q": "", "status": "published"}).text
    assert len(found_ids(page)) == 3 and "3 comments found" in page
    assert writer.get("/desk/search", params={"status": "lost"}).status_code == 422


def test_posts_list_counts_comments_and_those_waiting_for_the_writer(
    ctx: Context, writer: TestClient, client: TestClient
) -> None:
    asked = post(client, "A question?", title="First post")["comment"]
    post(client, "Another", title="First post")
    post(client, "Answered", parent_id=asked["id"], headers=writer_headers(ctx))
    post(client, "Elsewhere", thread="/second", title="Second post")
    page = writer.get("/desk/posts").text
    rows = re.findall(
        r"<tr>\s*<td><a[^>]*>([^<]+)</a>.*?<td[^>]*>(\d+)</td>\s*<td[^>]*>(?:<a[^>]*>)?(\d+)", page, re.S
    )
    assert sorted(rows) == [("First post", "3", "1"), ("Second post", "1", "1")]


def test_reader_page_shows_their_comments_and_moderation_history(
    writer: TestClient, client: TestClient, ctx: Context
) -> None:
    reader = new_reader(client)
    first = post(client, "Hello from Ada", author_name="Ada", headers=reader)["comment"]
    post(client, "Ada again", author_name="Ada", headers=reader, thread="/other")
    post(client, "Someone else", author_name="Bea")
    csrf = re.search(r'name="csrf" value="([^"]+)"', writer.get("/desk/inbox").text).group(1)  # type: ignore[union-attr]
    writer.post(f"/desk/comments/{first['id']}/remove", data={"csrf": csrf, "reason": "off topic"})
    search = writer.get("/desk/search", params={"q": "Ada"}).text
    link = re.search(r'href="(/desk/readers\?key=[^"]+)"', search)
    assert link
    page = writer.get(link.group(1).replace("&amp;", "&")).text
    assert "Ada" in page and "2 comments" in page and "Someone else" not in page
    assert "remove comment" in page and "off topic" in page

    make_site(ctx, "other", origins=("https://other.example",))
    make_user(ctx, "mo@other.example", moderator_of=("other",))
    moderator = desk_client(ctx)
    try:
        sign_in(moderator, "mo@other.example")
        assert moderator.get(link.group(1).replace("&amp;", "&")).status_code == 403
        assert found_ids(moderator.get("/desk/search", params={"q": "Ada"}).text) == []
        assert moderator.get("/desk/search", params={"site": "blog"}).status_code == 403
        assert "First post" not in moderator.get("/desk/posts").text
    finally:
        moderator.__exit__(None, None, None)


def test_search_finds_rare_and_common_words_alike_once_postgresql_has_statistics(
    ctx: Context, client: TestClient
) -> None:
    """On PostgreSQL a word among the most common (by ANALYZE) is searched newest first,
    any other straight from the index: both find the same comments as SQLite does."""
    from parlour.store import search

    make_site(ctx, "blog")
    for n in range(60):
        post(client, f"Thanks for the garden post, number {n}" + (" with a quokka" if n in (7, 42) else ""))
    if not ctx.db.is_sqlite:
        with ctx.db.write() as tx:
            tx.exec_driver_sql("ANALYZE comments")
        with ctx.db.read() as tx:
            assert search._all_common(tx, "garden post")
            assert not search._all_common(tx, "garden zebra")  # a word no comment has
            assert not search._all_common(tx, "")
    with ctx.db.read() as tx:
        common = search.search_comments(tx, ["blog"], "garden", limit=10)
        rare = search.search_comments(tx, ["blog"], "Quokka garden")
        assert search.search_comments(tx, ["blog"], "garden zebra") == []
    assert [f.id for f in common] == list(range(60, 50, -1))
    assert [f.id for f in rare] == [43, 8]
    assert {f.thread_key for f in rare} == {"/post"} and {f.site_id for f in rare} == {"blog"}
