"""Moderation: held comments, the queue, words, links, locks, blocks and site settings."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from desk_helpers import desk_client, desk_post, make_user, sign_in
from factories import error_code, make_site, new_reader, post, read, writer_headers
from parlour.services.context import Context

SETTINGS = {
    "name": "Blog", "writer_name": "Wren", "origins": "https://blog.example", "writer_avatar": "",
    "moderation": "publish", "held_words": "", "rejected_words": "", "max_links": "",
    "close_after_days": "", "edit_window_minutes": "", "writer_heart": "1",
}  # fmt: skip


def configure(writer: TestClient, **changes: Any) -> Any:
    response = desk_post(writer, "/desk/sites/blog", {**SETTINGS, **changes}, page="/desk/sites/blog")
    return response


def held_ids(writer: TestClient) -> list[int]:
    return [int(i) for i in re.findall(r'id="held-(\d+)"', writer.get("/desk/queue").text)]


def test_held_comment_is_shown_to_nobody_until_a_moderator_approves_it(
    writer: TestClient, client: TestClient
) -> None:
    assert configure(writer, moderation="hold_all").status_code == 200
    answer = post(client, "Waiting patiently", author_name="Ada")
    assert answer["comment"]["held"] is True and answer["edit_token"]
    assert read(client)["comments"] == [] and read(client)["thread"]["comment_count"] == 0
    assert held_ids(writer) == [answer["comment"]["id"]]

    approved = desk_post(
        writer, "/desk/queue", {"id": answer["comment"]["id"], "action": "approve"}, "/desk/queue"
    )
    assert approved.status_code == 303
    page = read(client)
    assert [c["body"] for c in page["comments"]] == ["Waiting patiently"]
    assert page["thread"]["comment_count"] == 1 and page["comments"][0]["held"] is False
    assert held_ids(writer) == []
    audit = writer.get("/desk/audit").text
    assert "approve" in audit and "wren@blog.example" in audit


def test_first_comment_mode_holds_a_reader_until_one_is_approved(
    writer: TestClient, client: TestClient
) -> None:
    configure(writer, moderation="first_comment")
    reader = new_reader(client)
    first = post(client, "Hello, first time here", headers=reader)["comment"]
    assert first["held"] is True
    desk_post(writer, "/desk/queue", {"id": first["id"], "action": "approve"}, "/desk/queue")
    second = post(client, "And again", headers=reader)["comment"]
    assert second["held"] is False
    stranger = post(client, "Someone new", headers=new_reader(client))["comment"]
    assert stranger["held"] is True
    writers_own = post(client, "The writer is never held", headers=writer_headers(writer.app.state.ctx))[
        "comment"
    ]
    assert writers_own["held"] is False


def test_words_and_links_hold_or_refuse_and_a_refused_comment_leaves_no_row(
    writer: TestClient, client: TestClient
) -> None:
    configure(writer, held_words="casino\ncheap pills", rejected_words="idiot", max_links="1")
    refused = post(client, "You IDIOT.", expect=422)
    assert refused["error"]["code"] == "comment_rejected"
    assert post(client, "Try our Casino tonight")["comment"]["held"] is True
    assert post(client, "see https://a.example and https://b.example")["comment"]["held"] is True
    assert post(client, "one link is fine: https://a.example")["comment"]["held"] is False
    assert post(client, "idiotic is not the word")["comment"]["held"] is False  # whole words only
    assert len(held_ids(writer)) == 2
    assert read(client)["thread"]["comment_count"] == 2


def test_bulk_decisions_act_on_every_ticked_comment(writer: TestClient, client: TestClient) -> None:
    configure(writer, moderation="hold_all")
    ids = [post(client, f"Held {n}")["comment"]["id"] for n in range(3)]
    response = writer.post(
        "/desk/queue",
        data={"csrf": re.search(r'name="csrf" value="([^"]+)"', writer.get("/desk/queue").text).group(1),  # type: ignore[union-attr]
              "id": [str(ids[0]), str(ids[1])], "action": "spam"},
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == "/desk/queue?decided=2"
    assert held_ids(writer) == [ids[2]]
    assert read(client)["comments"] == []
    bad = desk_post(writer, "/desk/queue", {"id": ids[2], "action": "delete"}, "/desk/queue")
    assert bad.status_code == 422


def test_moderator_of_another_site_can_neither_see_nor_decide_nor_configure(
    ctx: Context, writer: TestClient, client: TestClient
) -> None:
    configure(writer, moderation="hold_all")
    held = post(client, "For the blog's moderators only")["comment"]
    make_site(ctx, "other", origins=("https://other.example",))
    make_user(ctx, "mo@other.example", moderator_of=("other",))
    moderator = desk_client(ctx)
    try:
        sign_in(moderator, "mo@other.example")
        assert held_ids(moderator) == []
        response = desk_post(moderator, "/desk/queue", {"id": held["id"], "action": "approve"}, "/desk/queue")
        assert response.status_code == 403
        assert moderator.get("/desk/sites/blog").status_code == 403
        assert configure(moderator).status_code == 403
        own = desk_post(moderator, "/desk/sites/other", SETTINGS, page="/desk/sites/other")
        assert own.status_code == 403 and "Only the site" in own.text  # moderators do not change settings
        assert "blog" not in moderator.get("/desk/sites").text
    finally:
        moderator.__exit__(None, None, None)
    assert held_ids(writer) == [held["id"]]


def test_locked_and_closed_threads_refuse_new_comments(writer: TestClient, client: TestClient) -> None:
    post(client, "Before the lock")
    locked = desk_post(
        writer, "/desk/sites/blog/lock", {"thread": "/post", "locked": "1"}, "/desk/sites/blog"
    )
    assert locked.status_code == 303
    assert read(client)["thread"]["locked"] is True
    assert post(client, "After the lock", expect=403)["error"]["code"] == "thread_locked"
    desk_post(writer, "/desk/sites/blog/lock", {"thread": "/post", "locked": "0"}, "/desk/sites/blog")
    post(client, "Unlocked again")

    assert read(client)["thread"]["closes_at"] is None
    configure(writer, close_after_days="1")
    ctx: Context = writer.app.state.ctx  # type: ignore[attr-defined]
    now = ctx.now()
    closes = read(client)["thread"]["closes_at"]  # for the widget: a time, right however long it is cached
    created = datetime.fromisoformat(read(client)["comments"][0]["created_at"])
    assert timedelta(0) <= datetime.fromisoformat(closes) - created - timedelta(days=1) < timedelta(minutes=1)
    ctx.now = lambda: now + 2 * 86_400_000  # type: ignore[method-assign]
    assert post(client, "Two days later", expect=403)["error"]["code"] == "thread_locked"
    post(client, "A new post is open", thread="/new-post")


def test_blocked_readers_cannot_comment_until_the_block_is_lifted(
    writer: TestClient, client: TestClient
) -> None:
    reader = new_reader(client)
    response = desk_post(
        writer, "/desk/sites/blog/blocks",
        {"kind": "email", "value": "Troll@Example.com", "reason": "abuse", "days": ""}, "/desk/sites/blog",
    )  # fmt: skip
    assert response.status_code == 303
    refused = post(client, "Hi", author_email="troll@example.com", expect=403)
    assert refused["error"]["code"] == "reader_blocked"
    post(client, "Someone else", author_email="kind@example.com")
    token = reader["X-Parlour-Reader"]
    reader_id = token.split(".")[1]
    desk_post(
        writer,
        "/desk/sites/blog/blocks",
        {"kind": "reader", "value": reader_id, "reason": "", "days": "2"},
        "/desk/sites/blog",
    )
    assert post(client, "Blocked identity", headers=reader, expect=403)["error"]["code"] == "reader_blocked"

    page = writer.get("/desk/sites/blog").text
    block_ids = re.findall(r'name="block" value="(\d+)"', page)
    for block_id in block_ids:
        desk_post(writer, "/desk/sites/blog/unblock", {"block": block_id}, "/desk/sites/blog")
    post(client, "Hello again", author_email="troll@example.com")
    assert "block email" in writer.get("/desk/audit").text and "abuse" in writer.get("/desk/audit").text


def test_site_settings_are_checked_and_the_writers_heart_can_be_hidden(
    writer: TestClient, client: TestClient
) -> None:
    bad = configure(writer, max_links="many")
    assert bad.status_code == 422 and 'data-code="invalid_input"' in bad.text
    comment = post(client, "Lovely")["comment"]
    post(client, "", expect=422)
    from parlour.domain.model import Actor
    from parlour.services import posting

    ctx: Context = writer.app.state.ctx  # type: ignore[attr-defined]
    posting.set_heart(ctx, Actor(ip_hash="x", writer_site="blog"), comment["id"], True)
    assert read(client)["comments"][0]["liked_by_writer"] is True
    configure(writer, writer_heart="")
    assert read(client)["comments"][0]["liked_by_writer"] is False
    page = writer.get("/desk/sites/blog").text
    assert "embed.js" in page and 'data-site="blog"' in page.replace("&#34;", '"').replace("&quot;", '"')


def test_moderator_removes_a_comment_leaving_its_replies(writer: TestClient, client: TestClient) -> None:
    top = post(client, "Rude remark")["comment"]
    post(client, "A kind reply", parent_id=top["id"])
    removed = desk_post(writer, f"/desk/comments/{top['id']}/remove", {"reason": "rude"})
    assert removed.status_code == 200 and "Removed" in removed.text
    page = read(client)["comments"][0]
    assert page["removed"] is True and page["replies"][0]["body"] == "A kind reply"
    assert error_code(client.get("/api/v1/comments", params={"site": "blog"})) == "invalid_parameter"


def test_moderator_restores_a_removed_comment_from_search(writer: TestClient, client: TestClient) -> None:
    top = post(client, "Removed by mistake")["comment"]
    desk_post(writer, f"/desk/comments/{top['id']}/remove", {"reason": "misclick"})
    found = writer.get("/desk/search", params={"q": "mistake", "status": "removed"}).text
    assert f"/desk/comments/{top['id']}/restore" in found
    restored = desk_post(writer, f"/desk/comments/{top['id']}/restore", {})
    assert restored.status_code == 200 and "Restored" in restored.text
    page = read(client)
    assert page["thread"]["comment_count"] == 1 and page["comments"][0]["body"] == "Removed by mistake"
    assert "restore" in writer.get("/desk/audit").text


def test_owner_adds_a_site_and_sets_its_name_writer_picture_and_origins_in_the_desk(
    writer: TestClient, client: TestClient
) -> None:
    created = desk_post(
        writer, "/desk/sites",
        {"site_id": "notes", "name": "Field Notes", "writer_name": "Ada Park", "origin": "https://notes.example"},
        page="/desk/sites",
    )  # fmt: skip
    assert created.status_code == 303 and created.headers["location"] == "/desk/sites/notes"
    taken = desk_post(writer, "/desk/sites", {"site_id": "notes"}, page="/desk/sites")
    assert taken.status_code == 409 and 'data-code="site_exists"' in taken.text
    bad = desk_post(writer, "/desk/sites", {"site_id": "no spaces"}, page="/desk/sites")
    assert bad.status_code == 422

    changes = {
        **SETTINGS, "name": "Field Notes", "writer_name": "Ada", "origins": "https://notes.example\nhttps://www.notes.example",
        "writer_avatar": "https://notes.example/ada.jpg",
    }  # fmt: skip
    saved = desk_post(writer, "/desk/sites/notes", changes, page="/desk/sites/notes")
    assert saved.status_code == 200 and "Saved." in saved.text
    ctx: Context = writer.app.state.ctx  # type: ignore[attr-defined]
    reply = post(client, "Hello from Ada", site="notes", headers=writer_headers(ctx, "notes"))["comment"]
    assert reply["author"] == {
        "name": "Ada",
        "is_writer": True,
        "avatar_url": "https://notes.example/ada.jpg",
        "verified": False,
    }
    reader = post(client, "A reader", site="notes")["comment"]
    assert reader["author"]["avatar_url"] is None
    unsafe = desk_post(
        writer,
        "/desk/sites/notes",
        {**changes, "writer_avatar": "javascript:alert(1)"},
        page="/desk/sites/notes",
    )
    assert unsafe.status_code == 422 and 'data-code="invalid_input"' in unsafe.text
    bad_origin = desk_post(
        writer, "/desk/sites/notes", {**changes, "origins": "not an origin"}, page="/desk/sites/notes"
    )
    assert bad_origin.status_code == 422 and 'data-code="invalid_origin"' in bad_origin.text
    assert "create site" in writer.get("/desk/audit").text


def test_moderator_blocks_a_comments_author_by_address_without_seeing_it(
    writer: TestClient, client: TestClient
) -> None:
    rude = post(client, "Rude", author_name="Troll")["comment"]
    page = writer.get("/desk/search", params={"q": "Rude"}).text
    reader_url = re.search(r'href="(/desk/readers\?key=[^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    reader_page = writer.get(reader_url).text
    assert "Block this reader" in reader_page
    blocked = desk_post(
        writer, f"/desk/comments/{rude['id']}/block", {"kind": "address", "reason": "rude", "days": "7"}
    )
    assert blocked.status_code == 303
    assert post(client, "Again", expect=403)["error"]["code"] == "reader_blocked"  # same address
    history = writer.get(reader_url).text
    assert "block address" in history and "rude" in history
    no_email = desk_post(writer, f"/desk/comments/{rude['id']}/block", {"kind": "email"})
    assert no_email.status_code == 422


def test_approving_one_comment_twice_at_once_counts_it_once(writer: TestClient, client: TestClient) -> None:
    configure(writer, moderation="hold_all")
    held = post(client, "Once only")["comment"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', writer.get("/desk/queue").text).group(1)  # type: ignore[union-attr]
    response = writer.post(
        "/desk/queue", data={"csrf": csrf, "id": [str(held["id"])] * 2, "action": "approve"}
    )
    assert response.headers["location"] == "/desk/queue?decided=1"
    again = writer.post("/desk/queue", data={"csrf": csrf, "id": str(held["id"]), "action": "approve"})
    assert again.headers["location"] == "/desk/queue?decided=0"
    assert read(client)["thread"]["comment_count"] == 1
    huge = writer.post("/desk/queue", data={"csrf": csrf, "id": "9" * 30, "action": "approve"})
    assert huge.status_code == 422


def test_a_block_ends_when_it_expires(writer: TestClient, client: TestClient) -> None:
    response = desk_post(
        writer,
        "/desk/sites/blog/blocks",
        {"kind": "email", "value": "late@example.com", "days": "1"},
        "/desk/sites/blog",
    )
    assert response.status_code == 303
    assert (
        post(client, "Blocked today", author_email="late@example.com", expect=403)["error"]["code"]
        == "reader_blocked"
    )
    ctx: Context = writer.app.state.ctx  # type: ignore[attr-defined]
    now = ctx.now()
    ctx.now = lambda: now + 86_400_000 + 1  # type: ignore[method-assign]
    post(client, "Welcome back", author_email="late@example.com")
