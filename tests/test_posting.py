"""Posting comments and replies, as a reader and as the writer; no double posts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from factories import assert_matches_schema, error_code, make_site, new_reader, post, read, writer_headers
from parlour.services import posting
from parlour.services.context import Context
from parlour.store import readers
from plans import plan_steps


def test_reader_posts_a_comment_and_gets_an_edit_token(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    created = post(client, "Lovely piece.", author_name="Ada", author_email="ada@example.org")
    assert_matches_schema(created, "PostedOut")
    assert created["comment"]["author"] == {
        "name": "Ada",
        "is_writer": False,
        "avatar_url": None,
        "verified": False,
    }
    assert created["edit_token"].startswith("e1.")
    assert read(client)["thread"]["comment_count"] == 1


def test_name_and_email_are_optional(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    created = post(client, "No name given.", author_name="   ", author_email="")
    assert created["comment"]["author"] == {
        "name": None,
        "is_writer": False,
        "avatar_url": None,
        "verified": False,
    }


def test_writer_token_posts_as_the_writer(ctx: Context, client: TestClient) -> None:
    make_site(ctx, writer="Wren Abbott")
    reader_comment = post(client, "A question for you?")["comment"]
    answer = post(
        client,
        "An answer.",
        parent_id=reader_comment["id"],
        headers=writer_headers(ctx),
        author_name="Someone else",
    )
    assert answer["comment"]["author"] == {
        "name": "Wren Abbott",
        "is_writer": True,
        "avatar_url": None,
        "verified": False,
    }
    assert answer["edit_token"] is None  # she edits with her own token
    reply = read(client)["comments"][0]["replies"][0]
    assert reply["author"]["is_writer"] is True


def test_writer_token_of_another_site_is_refused(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    make_site(ctx, "other", origins=("https://other.example",))
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/p", "body": "x"},
        headers=writer_headers(ctx, "other"),
    )
    assert response.status_code == 403 and error_code(response) == "not_permitted"


def test_unknown_writer_token_is_refused(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/p", "body": "x"},
        headers={"Authorization": "Bearer pw_forged"},
    )
    assert response.status_code == 401 and error_code(response) == "invalid_token"


def test_thread_is_created_on_first_comment_with_its_title(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    post(client, "first", thread="/new", title="A new post", url="https://blog.example/new")
    post(client, "second", thread="/new", title="A different title")
    assert read(client, "/new")["thread"]["title"] == "A new post"


def test_same_author_same_text_same_parent_returns_the_first_comment(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    first = post(client, "Thank you!", author_name="Ada")
    again = post(client, "Thank you!", author_name="Ada", expect=200)
    assert again["comment"]["id"] == first["comment"]["id"]
    assert read(client)["thread"]["comment_count"] == 1
    # Another author may say the same thing, and so may Ada elsewhere in the thread.
    post(client, "Thank you!", author_name="Bea")
    post(client, "Thank you!", author_name="Ada", parent_id=first["comment"]["id"])
    assert read(client)["thread"]["comment_count"] == 3


def test_same_text_after_the_dedupe_window_is_a_new_comment(ctx: Context, client_for: Any) -> None:
    client = client_for(dedupe_window=0)
    make_site(client.app.state.ctx)
    first = post(client, "Again")
    assert post(client, "Again")["comment"]["id"] != first["comment"]["id"]


def test_idempotency_key_returns_the_first_result(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    headers = {"Idempotency-Key": "9b1f-retry"}
    first = post(client, "Posted once", headers=headers)
    again = post(client, "Posted once", headers=headers, expect=200)
    assert again == first
    assert read(client)["thread"]["comment_count"] == 1


def test_idempotency_key_reused_for_another_request_is_a_conflict(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    post(client, "One thing", headers={"Idempotency-Key": "k1"})
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "Another"},
        headers={"Idempotency-Key": "k1"},
    )
    assert response.status_code == 409 and error_code(response) == "idempotency_key_reused"
    assert read(client)["thread"]["comment_count"] == 1


def test_rate_limit_per_address_stops_a_flood(ctx: Context, client_for: Any) -> None:
    client = client_for(comment_rate_limit=3)
    ctx = client.app.state.ctx
    make_site(ctx)
    for i in range(3):
        post(client, f"comment {i}")
    response = client.post("/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "one more"})
    assert response.status_code == 429 and error_code(response) == "rate_limited"
    assert response.headers["retry-after"] == "60"
    post(client, "the writer is never limited", headers=writer_headers(ctx))


def test_emoji_curly_quotes_and_every_script_round_trip(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    text = "“Thank you” — it’s lovely 😊 🫶🏽 ❤️ 🌍🤝💪\n\nΚαλημέρα, こんにちは, مرحبا, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢\u200d, e\u0301"
    created = post(client, text, author_name="Zoë 🌸")
    page = read(client)
    assert page["comments"][0]["body"] == text == created["comment"]["body"]
    assert page["comments"][0]["author"]["name"] == "Zoë 🌸"


def test_behind_a_proxy_the_address_our_proxy_saw_is_limited(ctx: Context, client_for: Any) -> None:
    client = client_for(peer="127.0.0.1", comment_rate_limit=1, trust_proxy=True)  # the proxy's address
    make_site(client.app.state.ctx)
    post(client, "first", headers={"X-Forwarded-For": "made-up-1, 203.0.113.7"})
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "second"},
        headers={"X-Forwarded-For": "made-up-2, 203.0.113.7"},
    )
    assert response.status_code == 429
    post(client, "from elsewhere", headers={"X-Forwarded-For": "203.0.113.8"})


def test_reposting_someones_public_text_and_name_does_not_hand_over_their_edit_token(
    ctx: Context, client: TestClient
) -> None:
    """Name, text and a shared address (NAT, a proxy) are public or common: no proof of authorship."""
    make_site(ctx)
    victim = post(client, "My honest opinion", author_name="Lea")
    copycat = post(client, "My honest opinion", author_name="Lea", expect=200)
    assert copycat["comment"]["id"] == victim["comment"]["id"]
    assert copycat["edit_token"] is None


def test_the_same_reader_identity_gets_its_edit_token_back_on_a_repeat(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    reader = new_reader(client)
    first = post(client, "Posted twice by a double click", headers=reader)
    again = post(client, "Posted twice by a double click", headers=reader, expect=200)
    assert again["comment"]["id"] == first["comment"]["id"]
    assert again["edit_token"] == first["edit_token"] is not None


def test_a_repeated_post_that_brings_the_title_does_not_leave_cached_pages_stale(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    post(client, "First, without a title", author_name="Ada")
    assert read(client)["thread"]["title"] is None
    post(client, "First, without a title", author_name="Ada", title="Now titled", expect=200)
    post(client, "A new comment", title="Now titled")
    assert read(client)["thread"]["title"] == "Now titled"


def test_a_post_title_drops_the_blogs_name_after_it(ctx: Context, client: TestClient) -> None:
    make_site(ctx)  # named "Blog"
    titled = {
        "/em-dash": ("First frost — Blog", "First frost"),
        "/pipe": ("First frost | blog", "First frost"),
        "/hyphen": ("Spring - part 2 - Blog", "Spring - part 2"),
        "/two-separators": ("Notes — from the shed |  BLOG ", "Notes — from the shed"),
        "/another-name": ("First frost — Another Blog", "First frost — Another Blog"),
        "/name-first": ("Blog — First frost", "Blog — First frost"),
        "/only-the-name": ("Blog", "Blog"),
        "/nothing-before": (" — Blog", "— Blog"),
        "/markup": ("<script>alert(1)</script> — Blog", "<script>alert(1)</script>"),
        "/inside": ("Why I Blog — a reply", "Why I Blog — a reply"),
    }
    for thread, (title, _) in titled.items():
        post(client, "Hello", thread=thread, title=title)
    assert {thread: read(client, thread)["thread"]["title"] for thread in titled} == {
        thread: stored for thread, (_, stored) in titled.items()
    }


def test_a_title_is_kept_whole_on_a_site_with_no_name(ctx: Context, client: TestClient) -> None:
    from parlour.services import sites

    sites.create_site(ctx, "blog", "", "Wren", ["https://blog.example"])
    post(client, "Hello", title="First frost — ")
    assert read(client)["thread"]["title"] == "First frost —"


@contextmanager
def statements_under_the_write_lock(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements run through SQLAlchemy while `ctx.db.write()` is held (not the
    consumers', the push's or a site reload's, which run on other threads)."""
    compiled: list[str] = []
    locked = threading.local()
    write = ctx.db.write

    @contextmanager
    def write_marked() -> Iterator[Any]:
        with write() as tx:
            locked.held = True
            try:
                yield tx
            finally:
                locked.held = False

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if getattr(locked, "held", False):
            compiled.append(statement)

    monkeypatch.setattr(ctx.db, "write", write_marked)
    event.listen(ctx.db.engine, "before_cursor_execute", capture)
    try:
        yield compiled
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", capture)
        monkeypatch.setattr(ctx.db, "write", write)


def test_a_plain_named_post_runs_its_statements_under_the_write_lock_straight_on_the_driver(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statements under the write lock are where SQLAlchemy's own work around a statement
    costs more than SQLite's (store/database.py, driver_rows): one such statement in
    every named post (the check that no signed-in reader holds the name) cost a fifth of
    the posts a second. A plain post with a name runs all of its own that way."""
    make_site(ctx)
    actor = posting.Actor(ip_hash="x")
    posting.post_comment(ctx, actor, posting.NewComment("blog", "/post", "The first, making the thread."))
    name_holder = readers.name_holder
    asked: list[str] = []

    def spy(tx: Any, site_id: str, folded: str) -> str | None:
        asked.append(folded)
        return name_holder(tx, site_id, folded)

    monkeypatch.setattr(readers, "name_holder", spy)
    new = posting.NewComment(
        "blog", "/post", "A second one.", author_name="Bea", author_email="bea@example.org"
    )
    with statements_under_the_write_lock(ctx, monkeypatch) as compiled:
        posting.post_comment(ctx, actor, new)
    assert asked == ["bea"]  # the name was checked
    assert compiled == []


@pytest.mark.parametrize(
    "kind", ["a reply", "a writer's reply", "a mention", "a first comment held", "a repeat by key"]
)
def test_replies_mentions_held_first_comments_and_repeats_run_no_statement_through_sqlalchemy_under_the_write_lock(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The same for what a post reads besides: its parent, the names it may mention,
    whether its author has a comment approved, the post an Idempotency-Key made."""
    from parlour.domain.model import Moderation
    from parlour.store import sites as site_store

    make_site(ctx)
    reader = posting.Actor(ip_hash="x")
    first = posting.post_comment(
        ctx, reader, posting.NewComment("blog", "/post", "The first.", author_name="Ann")
    ).comment["id"]
    actor, key = reader, None
    new = posting.NewComment("blog", "/post", "A reply.", author_name="Bea", parent_id=first)
    if kind == "a writer's reply":
        actor = posting.Actor(ip_hash="w", writer_site="blog")
        new = posting.NewComment("blog", "/post", "Thank you, Ann.", parent_id=first)
    elif kind == "a mention":
        new = posting.NewComment("blog", "/post", "Thank you, @Ann.", author_name="Bea")
    elif kind == "a first comment held":
        with ctx.db.write() as tx:
            site_store.update_moderation(
                tx, "blog", moderation=Moderation.FIRST_COMMENT, held_words=(), rejected_words=(),
                max_links=None, close_after_days=None, edit_window=None, writer_heart=True,
                writer_avatar=None,
            )  # fmt: skip
        ctx.sites.invalidate()
        actor = posting.Actor(ip_hash="y")
        new = posting.NewComment("blog", "/post", "My first here.", author_name="Cy")
    elif kind == "a repeat by key":
        key = "post-1"
        new = posting.NewComment("blog", "/post", "Sent twice.", author_name="Di")
        posting.post_comment(ctx, actor, new, idempotency_key=key)
    with statements_under_the_write_lock(ctx, monkeypatch) as compiled:
        posted = posting.post_comment(ctx, actor, new, idempotency_key=key)
    assert compiled == []
    assert posted.created is (kind != "a repeat by key")
    if kind == "a first comment held":
        assert posted.comment["held"] is True
    if kind == "a mention":
        assert "@Ann" in posted.comment["html"]


def test_the_name_check_finds_a_names_holder_by_its_index(ctx: Context) -> None:
    """(Its statement runs on the driver, which `statements_run` cannot see: read here.)"""
    make_site(ctx)
    sql = readers._NAME_HOLDER if ctx.db.is_sqlite else readers._NAME_HOLDER.replace("?", "%s")
    with ctx.db.read() as tx:
        steps = plan_steps(ctx, tx, sql, ("blog", "bea"))
    assert any("ix_site_readers_name" in step for step in steps), steps
