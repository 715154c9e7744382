"""Editing and removing comments: the author within the window, the writer always."""

from __future__ import annotations

from starlette.testclient import TestClient

from factories import assert_matches_schema, error_code, make_site, post, read, walk, writer_headers
from parlour.services.clock import now_ms
from parlour.services.context import Context


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_reader_edits_own_comment_within_the_window(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    created = post(client, "Teh typo")
    cid, token = created["comment"]["id"], created["edit_token"]
    response = client.patch(f"/api/v1/comments/{cid}", json={"body": "The **fix**"}, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert_matches_schema(response.json(), "CommentEnvelope")
    comment = read(client)["comments"][0]
    assert comment["body"] == "The **fix**" and comment["html"] == "<p>The <strong>fix</strong></p>\n"
    assert comment["edited_at"] is not None


def test_edit_after_the_window_is_refused(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    created = post(client, "Old words")
    ctx.now = lambda: now_ms() + 30 * 86_400_000  # a month later
    response = client.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"body": "New"},
        headers=bearer(created["edit_token"]),
    )
    assert response.status_code == 403 and error_code(response) == "edit_window_closed"
    delete = client.delete(
        f"/api/v1/comments/{created['comment']['id']}", headers=bearer(created["edit_token"])
    )
    assert delete.status_code == 403 and error_code(delete) == "edit_window_closed"
    assert read(client)["comments"][0]["body"] == "Old words"


def test_wrong_or_missing_token_cannot_edit(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    mine = post(client, "Mine")
    theirs = post(client, "Theirs", author_name="Other")
    cid = mine["comment"]["id"]
    for headers in [{}, bearer("e1.1.forged"), bearer(theirs["edit_token"])]:
        response = client.patch(f"/api/v1/comments/{cid}", json={"body": "Hijacked"}, headers=headers)
        assert response.status_code == 401 and error_code(response) == "invalid_token"
    assert read(client)["comments"][0]["body"] == "Mine"


def test_writer_edits_her_own_comment_but_not_a_readers(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    writer = writer_headers(ctx)
    hers = post(client, "Her words", headers=writer)["comment"]["id"]
    reader = post(client, "Reader words")["comment"]["id"]
    ctx.now = lambda: now_ms() + 30 * 86_400_000  # the window does not apply to her
    assert (
        client.patch(
            f"/api/v1/comments/{hers}", json={"body": "Her better words"}, headers=writer
        ).status_code
        == 200
    )
    response = client.patch(f"/api/v1/comments/{reader}", json={"body": "Not yours"}, headers=writer)
    assert response.status_code == 403 and error_code(response) == "not_permitted"


def test_removing_a_comment_keeps_its_replies_under_a_placeholder(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    created = post(client, "Parent", author_name="Ada")
    cid = created["comment"]["id"]
    post(client, "Child", parent_id=cid)
    response = client.delete(f"/api/v1/comments/{cid}", headers=bearer(created["edit_token"]))
    assert response.status_code == 200
    page = read(client)
    placeholder = page["comments"][0]
    assert placeholder["removed"] is True
    assert (placeholder["body"], placeholder["html"], placeholder["author"]["name"]) == ("", "", None)
    assert [r["body"] for r in placeholder["replies"]] == ["Child"]
    assert page["thread"]["comment_count"] == 1


def test_removed_comment_without_replies_disappears(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    keep = post(client, "Stays")
    gone = post(client, "Goes", author_name="B")
    client.delete(f"/api/v1/comments/{gone['comment']['id']}", headers=bearer(gone["edit_token"]))
    assert [c["body"] for c in walk(read(client)["comments"])] == [keep["comment"]["body"]]
    counts = client.get("/api/v1/counts", params={"site": "blog", "thread": "/post"}).json()
    assert counts == {"counts": {"/post": 1}}


def test_writer_removes_any_comment_at_any_time(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    cid = post(client, "Spam spam spam")["comment"]["id"]
    ctx.now = lambda: now_ms() + 30 * 86_400_000
    response = client.delete(f"/api/v1/comments/{cid}", headers=writer_headers(ctx))
    assert response.status_code == 200 and response.json()["comment"]["removed"] is True
    assert read(client)["comments"] == []


def test_writer_of_another_site_cannot_remove(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    make_site(ctx, "other", origins=("https://other.example",))
    cid = post(client, "Safe")["comment"]["id"]
    response = client.delete(f"/api/v1/comments/{cid}", headers=writer_headers(ctx, "other"))
    assert response.status_code == 403 and error_code(response) == "not_permitted"


def test_replying_to_a_removed_comment_is_a_conflict(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    cid = post(client, "Soon gone")["comment"]["id"]
    client.delete(f"/api/v1/comments/{cid}", headers=writer_headers(ctx))
    response = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "hi", "parent_id": cid}
    )
    assert response.status_code == 409 and error_code(response) == "comment_removed"


def test_editing_an_unknown_comment_is_not_found(ctx: Context, client: TestClient) -> None:
    response = client.patch("/api/v1/comments/999999", json={"body": "x"}, headers=bearer("e1.999999.x"))
    assert response.status_code == 404 and error_code(response) == "unknown_comment"


def test_pinning_is_for_the_writer_only(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    created = post(client, "Pin me")
    cid = created["comment"]["id"]
    response = client.put(f"/api/v1/comments/{cid}/pin", headers=bearer(created["edit_token"]))
    assert response.status_code == 403 and error_code(response) == "not_permitted"
    assert (
        client.put(f"/api/v1/comments/{cid}/pin", headers=writer_headers(ctx)).json()["comment"]["pinned"]
        is True
    )
    assert (
        client.delete(f"/api/v1/comments/{cid}/pin", headers=writer_headers(ctx)).json()["comment"]["pinned"]
        is False
    )


def test_a_removed_conversation_start_stays_reachable_when_its_first_replies_are_removed(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    writer = writer_headers(ctx)
    top = post(client, "Start")["comment"]["id"]
    first = post(client, "Spam reply", parent_id=top)["comment"]["id"]
    kept = post(client, "A real reply", parent_id=top)["comment"]["id"]
    client.delete(f"/api/v1/comments/{first}", headers=writer)
    client.delete(f"/api/v1/comments/{top}", headers=writer)
    page = read(client, replies_limit=1)
    assert [c["id"] for c in page["comments"]] == [top]
    cursor = page["comments"][0]["replies_cursor"]
    assert cursor
    rest = read(client, root=top, cursor=cursor)
    assert [c["id"] for c in walk(rest["comments"])] == [kept]
    assert [c["id"] for c in walk(read(client)["comments"])] == [top, kept]


def test_concurrent_changes_to_one_comment_keep_the_counts_right(ctx: Context, client: TestClient) -> None:
    import threading

    from parlour.domain.model import Actor
    from parlour.services import posting

    make_site(ctx)
    top = post(client, "Start")["comment"]["id"]
    reply = post(client, "Reply", parent_id=top)["comment"]["id"]
    writer = Actor(ip_hash="w", writer_site="blog")
    barrier = threading.Barrier(6)
    failures: list[BaseException] = []

    def act(index: int) -> None:
        try:
            barrier.wait()
            if index < 2:
                posting.remove_comment(ctx, writer, reply, None)
            else:
                posting.set_heart(ctx, Actor(ip_hash="r", reader_id=f"reader-{index}"), top, True)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=act, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    page = read(client)
    assert page["thread"]["comment_count"] == 1
    assert page["comments"][0]["reply_count"] == 0 and page["comments"][0]["hearts"] == 4
