"""Reading threads: nesting, paging, sorting, counts and caching."""

from __future__ import annotations

from starlette.testclient import TestClient

from factories import (
    PUSH_WINDOW,
    assert_matches_schema,
    error_code,
    make_site,
    new_reader,
    post,
    read,
    walk,
    within,
    writer_headers,
)
from parlour.services import posting
from parlour.services.context import Context


def test_unknown_thread_of_known_site_is_an_empty_thread(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    page = read(client, "/brand-new-post")
    assert page == {
        "thread": {
            "site": "blog",
            "key": "/brand-new-post",
            "title": None,
            "url": None,
            "comment_count": 0,
            "locked": False,
            "closes_at": None,
            "who_may_comment": "everyone",
        },
        "comments": [],
        "next_cursor": None,
    }


def test_unknown_site_is_an_error(client: TestClient) -> None:
    response = client.get("/api/v1/comments", params={"site": "nope", "thread": "/post"})
    assert response.status_code == 404
    assert error_code(response) == "unknown_site"


def test_reply_nests_under_its_parent_to_any_depth(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    parent_id = post(client, "top")["comment"]["id"]
    for depth in range(6):
        parent_id = post(client, f"reply at depth {depth + 1}", parent_id=parent_id)["comment"]["id"]
    page = read(client)
    assert len(page["comments"]) == 1
    node, depth = page["comments"][0], 0
    while node["replies"]:
        assert node["reply_count"] == 1
        node, depth = node["replies"][0], depth + 1
    assert depth == 6 and node["body"] == "reply at depth 6"


def test_comment_carries_every_documented_field(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    post(client, "*hello*", title="A post", url="https://blog.example/post", author_name="Ada")
    page = read(client)
    comment = page["comments"][0]
    assert comment["author"] == {"name": "Ada", "is_writer": False, "avatar_url": None, "verified": False}
    assert comment["html"] == "<p><em>hello</em></p>\n"
    assert comment["created_at"].endswith("Z") and comment["edited_at"] is None
    flags = ("hearts", "liked_by_writer", "pinned", "removed", "held")
    assert tuple(comment[f] for f in flags) == (0, False, False, False, False)
    assert page["thread"] == {
        "site": "blog", "key": "/post", "title": "A post", "url": "https://blog.example/post", "comment_count": 1,
        "locked": False,
        "closes_at": None,
        "who_may_comment": "everyone",
    }  # fmt: skip


def test_thread_of_5000_comments_is_paged_not_sent_whole(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    actor = posting.Actor(ip_hash="bulk")
    for i in range(5000):
        posting.post_comment(ctx, actor, posting.NewComment("blog", "/big", f"comment {i}"))
    first = read(client, "/big")
    assert len(first["comments"]) == ctx.settings.page_size
    assert first["thread"]["comment_count"] == 5000
    seen = [c["body"] for c in first["comments"]]
    cursor = first["next_cursor"]
    while cursor:
        page = read(client, "/big", cursor=cursor, limit=500)
        assert len(page["comments"]) <= 500
        seen += [c["body"] for c in page["comments"]]
        cursor = page["next_cursor"]
    assert seen == [f"comment {i}" for i in range(5000)]


def test_long_reply_chain_is_paged_through_its_root(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    root = post(client, "root")["comment"]["id"]
    parent = root
    for i in range(30):
        parent = post(client, f"reply {i}", parent_id=parent)["comment"]["id"]
    page = read(client, replies_limit=10)
    top = page["comments"][0]
    assert len(walk(top["replies"])) == 10
    bodies = [c["body"] for c in walk(top["replies"])]
    cursor = top["replies_cursor"]
    assert cursor
    while cursor:
        more = read(client, root=root, cursor=cursor, limit=7)
        for fragment in more["comments"]:
            assert fragment["parent_id"] is not None
        bodies += [c["body"] for c in walk(more["comments"])]
        cursor = more["next_cursor"]
    assert bodies == [f"reply {i}" for i in range(30)]


def test_sorts_oldest_newest_and_top_with_pinned_first(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    ids = [post(client, f"comment {i}")["comment"]["id"] for i in range(4)]
    for n, cid in [(2, ids[1]), (1, ids[2])]:
        for _ in range(n):
            assert client.put(f"/api/v1/comments/{cid}/heart", headers=new_reader(client)).status_code == 200
    writer = writer_headers(ctx)
    assert client.put(f"/api/v1/comments/{ids[3]}/pin", headers=writer).status_code == 200

    def order(sort: str) -> list[int]:
        return [c["id"] for c in read(client, sort=sort)["comments"]]

    assert order("oldest") == [ids[3], ids[0], ids[1], ids[2]]
    assert order("newest") == [ids[3], ids[2], ids[1], ids[0]]
    assert order("top") == [ids[3], ids[1], ids[2], ids[0]]


def test_paging_in_each_sort_visits_every_comment_once(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    ids = [post(client, f"c{i}")["comment"]["id"] for i in range(11)]
    client.put(f"/api/v1/comments/{ids[5]}/pin", headers=writer_headers(ctx))
    for cid in ids[::3]:
        client.put(f"/api/v1/comments/{cid}/heart", headers=new_reader(client))
    for sort in ["oldest", "newest", "top"]:
        seen: list[int] = []
        page = read(client, sort=sort, limit=3)
        while True:
            seen += [c["id"] for c in page["comments"]]
            if not page["next_cursor"]:
                break
            page = read(client, sort=sort, limit=3, cursor=page["next_cursor"])
        assert sorted(seen) == ids and seen[0] == ids[5], sort


def test_a_cursor_from_another_sort_is_refused(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    for i in range(3):
        post(client, f"c{i}")
    cursor = read(client, limit=1)["next_cursor"]
    response = client.get(
        "/api/v1/comments", params={"site": "blog", "thread": "/post", "sort": "top", "cursor": cursor}
    )
    assert response.status_code == 400 and error_code(response) == "invalid_cursor"
    garbage = client.get(
        "/api/v1/comments", params={"site": "blog", "thread": "/post", "cursor": "!!not-base64"}
    )
    assert garbage.status_code == 400 and error_code(garbage) == "invalid_cursor"


def test_bad_query_parameters_are_named_in_the_error(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    for params, field in [
        ({"sort": "loudest"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"replies_limit": "-1"}, "replies_limit"),
    ]:
        response = client.get("/api/v1/comments", params={"site": "blog", "thread": "/post", **params})
        assert response.status_code == 400, params
        assert error_code(response) == "invalid_parameter"
        assert response.json()["error"]["details"]["field"] == field
    for params in [{"site": "blog"}, {"thread": "/post"}]:
        missing = client.get("/api/v1/comments", params=params)
        assert missing.status_code == 400 and error_code(missing) == "invalid_parameter"


def test_counts_answer_for_several_threads_at_once(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    post(client, "one", thread="/a")
    post(client, "two", thread="/a")
    post(client, "three", thread="/b")
    response = client.get(
        "/api/v1/counts", params=[("site", "blog"), ("thread", "/a"), ("thread", "/b"), ("thread", "/c")]
    )
    assert response.status_code == 200
    assert_matches_schema(response.json(), "CountsOut")
    assert response.json() == {"counts": {"/a": 2, "/b": 1, "/c": 0}}
    unknown = client.get("/api/v1/counts", params={"site": "nope", "thread": "/a"})
    assert unknown.status_code == 404 and error_code(unknown) == "unknown_site"
    none = client.get("/api/v1/counts", params={"site": "blog"})
    assert none.status_code == 400 and error_code(none) == "invalid_parameter"


def test_a_new_comment_shows_on_the_next_read_despite_the_cache(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    post(client, "first")
    assert [c["body"] for c in read(client)["comments"]] == ["first"]
    assert [c["body"] for c in read(client)["comments"]] == ["first"]  # served from the cache
    post(client, "second")
    assert [c["body"] for c in read(client)["comments"]] == ["first", "second"]


def test_a_write_in_another_process_invalidates_this_process_cache_within_a_second(
    ctx: Context, make_ctx, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    make_site(ctx)
    post(client, "first")
    read(client)
    other_process = make_ctx()  # its own engine and caches, same database
    posting.post_comment(
        other_process, posting.Actor(ip_hash="x"), posting.NewComment("blog", "/post", "from elsewhere")
    )

    def both_shown() -> None:
        assert [c["body"] for c in read(client)["comments"]] == ["first", "from elsewhere"]

    within(PUSH_WINDOW, both_shown)


def test_unchanged_page_answers_304_to_its_etag(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    post(client, "first")
    params = {"site": "blog", "thread": "/post"}
    first = client.get("/api/v1/comments", params=params)
    etag = first.headers["etag"]
    again = client.get("/api/v1/comments", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    post(client, "second")
    changed = client.get("/api/v1/comments", params=params, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_a_page_answers_304_to_its_etag_made_weak_or_in_a_list_as_rfc_9110_compares(
    ctx: Context, client: TestClient
) -> None:
    """A proxy that gzips the answer (nginx) hands the browser `W/"…"`, which it sends back."""
    make_site(ctx)
    post(client, "first")
    params = {"site": "blog", "thread": "/post"}
    etag = client.get("/api/v1/comments", params=params).headers["etag"]
    for sent in (f"W/{etag}", f'"other", {etag}', f'W/"other",W/{etag}', "*"):
        again = client.get("/api/v1/comments", params=params, headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
    for sent in ('"other"', f'{etag[:-1]}x"', ""):
        assert (
            client.get("/api/v1/comments", params=params, headers={"If-None-Match": sent}).status_code == 200
        )


def test_author_email_is_never_returned(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    secret = "private-address@reader.example"
    created = post(client, "hi", author_email=secret, author_name="Pat")
    assert secret not in str(created)
    post(client, "reply", parent_id=created["comment"]["id"], author_email=secret)
    for url in [
        "/api/v1/comments?site=blog&thread=/post",
        "/api/v1/counts?site=blog&thread=/post",
        "/comments.html?site=blog&thread=/post",
    ]:
        assert secret not in client.get(url).text


def test_renaming_the_writer_reaches_cached_pages(ctx: Context, client: TestClient) -> None:
    from parlour.services import sites

    make_site(ctx, writer="Wren")
    post(client, "hello", headers=writer_headers(ctx))
    assert read(client)["comments"][0]["author"]["name"] == "Wren"
    sites.update_site(ctx, "blog", writer_name="Wren A.")
    assert read(client)["comments"][0]["author"]["name"] == "Wren A."


def test_permalink_page_runs_on_until_it_holds_the_linked_reply(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    tops = [post(client, f"top {n}")["comment"]["id"] for n in range(5)]
    chain = [tops[3]]
    for n in range(4):
        chain.append(post(client, f"reply {n}", parent_id=chain[-1])["comment"]["id"])
    target = chain[3]

    page = read(client, limit=2, replies_limit=1, until=target)

    assert [c["id"] for c in page["comments"]] == tops[:4]
    assert target in [c["id"] for c in walk(page["comments"])]
    conversation = page["comments"][3]
    assert conversation["replies_cursor"] is not None  # the reply after the target comes later
    rest = read(client, cursor=page["next_cursor"], limit=2, replies_limit=1)
    assert [c["id"] for c in rest["comments"]] == tops[4:]
    more = read(client, root=tops[3], cursor=conversation["replies_cursor"])
    assert [c["id"] for c in walk(more["comments"])] == [chain[4]]


def test_permalink_to_a_comment_of_another_thread_is_the_usual_first_page(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    elsewhere = post(client, "elsewhere", thread="/other")["comment"]["id"]
    first = [post(client, f"top {n}")["comment"]["id"] for n in range(3)]
    page = read(client, limit=2, until=elsewhere)
    assert [c["id"] for c in page["comments"]] == first[:2]
    assert error_code(
        client.get("/api/v1/comments", params={"site": "blog", "thread": "/post", "until": "x"})
    ) == ("invalid_parameter")


def test_permalink_to_a_removed_conversation_with_nothing_left_is_the_usual_first_page(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    ids = [post(client, f"top {n}")["comment"]["id"] for n in range(6)]
    gone = ids[-1]
    response = client.delete(f"/api/v1/comments/{gone}", headers=writer_headers(ctx))
    assert response.status_code == 200
    page = read(client, limit=2, until=gone)
    assert [c["id"] for c in page["comments"]] == ids[:2] and page["next_cursor"]
