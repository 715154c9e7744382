"""The writer's desk: accounts, sessions, CSRF, and the reply inbox, with personas."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from desk_helpers import PASSWORD, csrf, desk_client, desk_post, make_user, sign_in
from factories import make_site, post, read, writer_headers
from parlour.domain import errors
from parlour.services import accounts
from parlour.services.context import Context


@pytest.fixture
def browsers(ctx: Context) -> Iterator[Any]:
    opened: list[TestClient] = []

    def make() -> TestClient:
        opened.append(desk_client(ctx))
        return opened[-1]

    yield make
    for c in opened:
        c.__exit__(None, None, None)


def test_first_visit_creates_the_owner_once_and_signs_her_in(ctx: Context, browsers: Any) -> None:
    writer = browsers()
    assert writer.get("/desk").headers["location"] == "/desk/setup"
    token = csrf(writer, "/desk/setup")
    guess = {"csrf": token, "email": "Wren@Blog.example", "password": PASSWORD, "code": "guessed"}
    refused = writer.post("/desk/setup", data=guess)
    assert refused.status_code == 403 and 'data-code="wrong_setup_code"' in refused.text
    response = writer.post("/desk/setup", data={**guess, "code": accounts.setup_code(ctx)})
    assert response.status_code == 303 and response.headers["location"] == "/desk/inbox"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "parlour_session" in v
    )
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/desk" in cookie
    assert writer.get("/desk/inbox").status_code == 200

    stranger = browsers()
    assert stranger.get("/desk").headers["location"] == "/desk/inbox"  # set up: no second owner
    assert stranger.get("/desk/setup").headers["location"] == "/desk/sign-in"
    late = stranger.post(
        "/desk/setup",
        data={
            "csrf": csrf(stranger),
            "email": "x@else.example",
            "password": PASSWORD,
            "code": accounts.setup_code(ctx),
        },
    )
    assert late.status_code == 303 and late.headers["location"] == "/desk/sign-in"  # the page is gone
    with pytest.raises(errors.SetupDone):
        accounts.set_up_owner(ctx, "x@else.example", PASSWORD, accounts.setup_code(ctx))
    assert sign_in(stranger, "someone@else.example").status_code == 401


def test_forms_without_the_csrf_token_or_from_another_origin_are_refused(ctx: Context, browsers: Any) -> None:
    make_user(ctx, "wren@blog.example", owner=True)
    stranger = browsers()
    csrf(stranger)  # has the cookie, but sends no token
    response = stranger.post("/desk/sign-in", data={"email": "wren@blog.example", "password": PASSWORD})
    assert response.status_code == 403
    assert 'data-code="csrf_check_failed"' in response.text
    forged = stranger.post(
        "/desk/sign-in",
        data={"csrf": csrf(stranger), "email": "wren@blog.example", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    other = browsers()
    stolen = csrf(other)  # a token bound to another browser's cookie
    assert (
        stranger.post("/desk/sign-in", data={"csrf": stolen, "email": "x@y.z", "password": "p"}).status_code
        == 403
    )


def test_wrong_passwords_are_refused_then_the_account_waits(ctx: Context, make_ctx: Any) -> None:
    limited = make_ctx(sign_in_rate_limit=3)
    make_user(limited, "wren@blog.example", owner=True)
    client = desk_client(limited)
    try:
        for _ in range(3):
            wrong = sign_in(client, "wren@blog.example", "not the password")
            assert wrong.status_code == 401 and 'data-code="sign_in_failed"' in wrong.text
        refused = sign_in(client, "wren@blog.example")  # even the right password waits now
        assert refused.status_code == 429 and 'data-code="rate_limited"' in refused.text
        assert sign_in(client, "nobody@blog.example", "whatever").status_code == 401
    finally:
        client.__exit__(None, None, None)


def test_sign_out_everywhere_ends_every_session(ctx: Context, browsers: Any) -> None:
    make_user(ctx, "wren@blog.example", owner=True)
    laptop, phone = browsers(), browsers()
    assert sign_in(laptop, "wren@blog.example").status_code == 303
    assert sign_in(phone, "wren@blog.example").status_code == 303
    assert phone.get("/desk/inbox").status_code == 200
    assert desk_post(laptop, "/desk/sign-out-everywhere").status_code == 303
    assert phone.get("/desk/inbox").headers["location"].startswith("/desk/sign-in")
    assert laptop.get("/desk/inbox").headers["location"].startswith("/desk/sign-in")
    assert sign_in(phone, "wren@blog.example").status_code == 303  # signing in again works


def test_inbox_lists_unanswered_reader_comments_oldest_first_and_marks_questions(
    ctx: Context, client: TestClient, browsers: Any
) -> None:
    make_site(ctx)
    first = post(client, "Thank you for this.", author_name="Ada")["comment"]
    question = post(client, "Where do you buy your seeds?", author_name="Bea", thread="/other")["comment"]
    answered = post(client, "Lovely.", author_name="Cy")["comment"]
    post(client, "Thank you, Cy!", parent_id=answered["id"], headers=writer_headers(ctx))
    make_user(ctx, "wren@blog.example", owner=True)
    writer = browsers()
    sign_in(writer, "wren@blog.example")
    page = writer.get("/desk/inbox").text
    ids = [int(i) for i in re.findall(r'id="item-(\d+)"', page)]
    assert ids == [first["id"], question["id"]]
    assert "<span data-waiting>2</span> waiting for a reply" in page
    asks = re.search(rf'id="item-{question["id"]}" class="item asks"', page)
    assert asks and "Asks you something" in page
    assert f'id="item-{first["id"]}" class="item"' in page


def test_writer_replies_hearts_and_marks_no_reply_needed_from_the_inbox(
    ctx: Context, client: TestClient, browsers: Any
) -> None:
    make_site(ctx)
    one = post(client, "A first thought", author_name="Ada")["comment"]
    two = post(client, "A second thought", author_name="Bea")["comment"]
    make_user(ctx, "wren@blog.example", owner=True)
    writer = browsers()
    sign_in(writer, "wren@blog.example")

    replied = desk_post(writer, f"/desk/inbox/{one['id']}/reply", {"body": "Thank you, *Ada*."})
    assert replied.status_code == 200 and "Answered" in replied.text
    hearted = desk_post(writer, f"/desk/inbox/{two['id']}/heart", {"on": "1"})
    assert hearted.status_code == 200 and 'aria-pressed="true"' in hearted.text
    done = desk_post(writer, f"/desk/inbox/{two['id']}/done")
    assert done.status_code == 200 and "no reply needed" in done.text

    assert "<span data-waiting>0</span> waiting" in writer.get("/desk/inbox").text
    thread = read(client)["comments"]
    reply = thread[0]["replies"][0]
    assert reply["author"] == {"name": "Wren", "is_writer": True, "avatar_url": None, "verified": False}
    assert reply["html"] == "<p>Thank you, <em>Ada</em>.</p>\n"
    assert thread[1]["liked_by_writer"] is True

    empty = desk_post(writer, f"/desk/inbox/{two['id']}/reply", {"body": "   "})
    assert empty.status_code == 422 and 'data-code="empty_body"' in empty.text
    assert empty.headers["HX-Retarget"] == f"#reply-error-{two['id']}"


def test_moderator_of_another_site_reaches_nothing_of_this_one(
    ctx: Context, client: TestClient, browsers: Any
) -> None:
    make_site(ctx)
    make_site(ctx, "other", origins=("https://other.example",))
    comment = post(client, "For the blog's writer only", author_name="Ada")["comment"]
    make_user(ctx, "mo@other.example", moderator_of=("other",))
    moderator = browsers()
    sign_in(moderator, "mo@other.example")
    assert "For the blog" not in moderator.get("/desk/inbox").text
    assert moderator.get("/desk/inbox?site=blog").status_code == 403
    for path, data in [
        (f"/desk/inbox/{comment['id']}/reply", {"body": "Not mine to answer"}),
        (f"/desk/inbox/{comment['id']}/heart", {"on": "1"}),
        (f"/desk/inbox/{comment['id']}/done", {}),
    ]:
        response = desk_post(moderator, path, data)
        assert response.status_code == 403, path
        assert 'data-code="not_permitted"' in response.text
    assert read(client)["comments"][0]["replies"] == []
    assert read(client)["comments"][0]["liked_by_writer"] is False

    reader = browsers()  # a reader with no account
    assert reader.get("/desk/inbox").headers["location"] == "/desk/sign-in?next=/desk/inbox"
    response = reader.post(f"/desk/inbox/{comment['id']}/done", data={"csrf": csrf(reader)})
    assert response.status_code == 401


def test_weekly_figures_count_comments_replies_rate_and_time_to_reply(
    ctx: Context, client: TestClient, browsers: Any
) -> None:
    make_site(ctx)
    # Last week's Monday morning: the reply two hours later falls in the same week (from
    # a Sunday evening's clock, two hours later was the next week's).
    today = datetime.fromtimestamp(ctx.now() / 1000, UTC)
    monday = (today - timedelta(days=today.weekday() + 7)).replace(hour=10, minute=0, second=0, microsecond=0)
    start = int(monday.timestamp() * 1000)
    ctx.now = lambda: start  # type: ignore[method-assign]
    asked = post(client, "How long did it take?", author_name="Ada")["comment"]
    post(client, "No answer yet", author_name="Bea")
    ctx.now = lambda: start + 2 * 3_600_000  # type: ignore[method-assign]
    post(client, "About a month.", parent_id=asked["id"], headers=writer_headers(ctx))
    make_user(ctx, "wren@blog.example", owner=True)
    writer = browsers()
    sign_in(writer, "wren@blog.example")
    from parlour.services import accounts, inbox

    user = accounts.session_user(ctx, writer.cookies.get("parlour_session"))
    assert user is not None
    this_week = inbox.weekly(ctx, user)[-1]
    assert (this_week.comments, this_week.replies) == (2, 1)
    assert this_week.reply_rate == 0.5
    assert this_week.median_reply_hours == 2.0


def test_forged_or_strange_tokens_and_search_words_are_refused_not_crashed(
    ctx: Context, client: TestClient, browsers: Any
) -> None:
    make_site(ctx)
    make_user(ctx, "wren@blog.example", owner=True)
    stranger = browsers()
    # Browsers may send any byte in a header; the server reads them as latin-1.
    strange = stranger.get("/desk/inbox", headers={"Cookie": "parlour_session=s1.1.0.0.é".encode("latin-1")})
    assert strange.status_code == 303  # not signed in, not a 500
    forged = {"Authorization": "Bearer ws1.1.0.9.blog.é".encode("latin-1")}
    response = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "hi"}, headers=forged
    )
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"
    form = stranger.post("/desk/sign-in", data={"csrf": "é", "email": "a@b.c", "password": "x"})
    assert form.status_code == 403
    writer = browsers()
    sign_in(writer, "wren@blog.example")
    assert writer.get("/desk/search", params={"q": "rain\x00"}).status_code == 200


def test_the_desk_accepts_its_own_origin_behind_a_tls_proxy(make_ctx: Any) -> None:
    ctx = make_ctx(trust_proxy=True)
    make_user(ctx, "wren@blog.example", owner=True)
    client = desk_client(ctx)  # reached over https://parlour.test
    try:
        token = csrf(client)
        form = {"csrf": token, "email": "wren@blog.example", "password": PASSWORD, "next": "/desk/inbox"}
        nonce = client.cookies.get("parlour_csrf")
        behind = TestClient(client.app, base_url="http://parlour.test", client=("127.0.0.1", 50000)).post(
            "/desk/sign-in",  # what the app sees when TLS ends at the proxy
            data=form,
            headers={
                "Origin": "https://parlour.test",
                "X-Forwarded-Proto": "https",
                "Cookie": f"parlour_csrf={nonce}",
            },
            follow_redirects=False,
        )
        assert behind.status_code == 303
        elsewhere = client.post("/desk/sign-in", data=form, headers={"Origin": "https://evil.example"})
        assert elsewhere.status_code == 403
    finally:
        client.__exit__(None, None, None)


def test_inbox_links_to_the_post_only_on_the_sites_own_origin(
    ctx: Context, client: TestClient, browsers: Any
) -> None:
    make_site(ctx)
    post(client, "From the real post", thread="/real", url="https://blog.example/real")
    post(client, "From a made-up address", thread="/fake", url="https://phish.example/login")
    make_user(ctx, "wren@blog.example", owner=True)
    writer = browsers()
    sign_in(writer, "wren@blog.example")
    page = writer.get("/desk/inbox").text
    assert 'href="https://blog.example/real#comment-' in page
    assert "phish.example" not in page


def test_an_inbox_reply_shows_the_comment_it_answers(ctx: Context, client: TestClient, browsers: Any) -> None:
    make_site(ctx)
    first = post(client, "Sow <i>beans</i> in March?", author_name="Ada")["comment"]
    answer = post(client, "Yes, after the frost.", parent_id=first["id"], headers=writer_headers(ctx))[
        "comment"
    ]
    thanks = post(client, "Thank you!", author_name="Ada", parent_id=answer["id"])["comment"]
    asks = post(client, "And peas, Ada?", author_name="Bo", parent_id=first["id"])["comment"]
    make_user(ctx, "wren@blog.example", owner=True)
    writer = browsers()
    sign_in(writer, "wren@blog.example")
    page = writer.get("/desk/inbox").text
    items = {int(m.group(1)): m.group(0) for m in re.finditer(r'id="item-(\d+)".*?</li>', page, re.S)}
    assert list(items) == [thanks["id"], asks["id"]]
    assert "Answering your comment:" in items[thanks["id"]] and "after the frost" in items[thanks["id"]]
    assert (
        "Answering Ada:" in items[asks["id"]]
        and "Sow &lt;i&gt;beans&lt;/i&gt; in March?" in items[asks["id"]]
    )
