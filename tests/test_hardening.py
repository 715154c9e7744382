"""What a hostile visitor tried, and what must hold (issue 9), on both databases."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from desk_helpers import PASSWORD, csrf, desk_client, make_user
from factories import error_code, make_site, post
from parlour.services.context import Context
from parlour.store import outbox


def mails(ctx: Context) -> list[Any]:
    with ctx.db.read() as tx:
        return outbox.pending(tx)


def ask_for_link(client: Any, host: str) -> Any:
    token = csrf(client)
    return client.post(
        "/desk/sign-in/link",
        data={"csrf": token, "email": "wren@blog.example"},
        headers={"Host": host, "Origin": f"https://{host}", "X-Forwarded-Host": host},
    )


def test_a_sign_in_link_points_at_the_public_url_whatever_host_was_asked(make_ctx: Any) -> None:
    ctx = make_ctx(public_url="https://comments.blog.example")
    make_user(ctx, "wren@blog.example", owner=True)
    client = desk_client(ctx)
    try:
        answer = ask_for_link(client, "evil.example")
        assert answer.status_code == 200, answer.text
        (message,) = mails(ctx)
        assert "https://comments.blog.example/desk/sign-in/link?token=" in message.body
        assert "evil.example" not in message.body
    finally:
        client.__exit__(None, None, None)


def test_without_a_public_url_sign_in_links_are_refused_with_a_reason(ctx: Context) -> None:
    make_user(ctx, "wren@blog.example", owner=True)
    client = desk_client(ctx)
    try:
        answer = ask_for_link(client, "parlour.test")
        assert answer.status_code == 409
        assert 'data-code="public_url_missing"' in answer.text and "PARLOUR_PUBLIC_URL" in answer.text
        assert mails(ctx) == []
        signed_in = client.post(  # the password still works
            "/desk/sign-in",
            data={
                "csrf": csrf(client),
                "email": "wren@blog.example",
                "password": PASSWORD,
                "next": "/desk/inbox",
            },
        )
        assert signed_in.status_code == 303
    finally:
        client.__exit__(None, None, None)


@pytest.mark.parametrize("public_url", ["", "https://comments.blog.example"])
def test_no_page_carries_the_requests_host_into_a_link(make_ctx: Any, public_url: str) -> None:
    ctx = make_ctx(public_url=public_url)
    make_site(ctx)
    make_user(ctx, "wren@blog.example", owner=True)
    client = desk_client(ctx)
    try:
        client.post(
            "/desk/sign-in",
            data={
                "csrf": csrf(client),
                "email": "wren@blog.example",
                "password": PASSWORD,
                "next": "/desk/inbox",
            },
        )
        forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        for page in ["/desk/sites/blog", "/demo", "/comments.html?site=blog&thread=/post", "/desk/inbox"]:
            text = client.get(page, headers=forged).text
            assert "evil.example" not in text, page
        snippet = client.get("/desk/sites/blog").text
        assert (public_url or "https://comments.example.com") + "/embed.js" in snippet
    finally:
        client.__exit__(None, None, None)


def test_a_thread_links_only_to_the_sites_own_pages(ctx: Context, client: Any) -> None:
    from factories import post, read

    make_site(ctx)
    post(client, "First!", title="A post", url="https://evil.example/phish")
    assert read(client)["thread"]["url"] is None
    post(client, "Second", title="A post", url="https://blog.example/post")  # the real address fills it
    assert read(client)["thread"]["url"] == "https://blog.example/post"
    page = client.get("/comments.html", params={"site": "blog", "thread": "/post"}).text
    assert 'href="https://blog.example/post"' in page and "evil.example" not in page


def test_a_stored_address_off_the_sites_origins_is_never_shown(ctx: Context, client: Any) -> None:
    """Origins change: an address stored while it was allowed stops being linked."""
    from factories import post, read
    from parlour.services import sites

    make_site(ctx)
    post(client, "First!", title="A post", url="https://blog.example/post")
    sites.update_site(ctx, "blog", origins=["https://newblog.example"])
    assert read(client)["thread"]["url"] is None
    page = client.get("/comments.html", params={"site": "blog", "thread": "/post"}).text
    assert "blog.example/post" not in page


def test_a_blocked_reader_cannot_edit_her_comment_either(ctx: Context, client: Any) -> None:
    from factories import error_code, new_reader, post, read
    from parlour.services import accounts, moderation

    make_site(ctx)
    owner = accounts.create_user(ctx, "wren@blog.example", PASSWORD, is_owner=True)
    reader = new_reader(client)
    created = post(client, "Nice and polite", headers=reader)
    moderation.block_author(ctx, owner, created["comment"]["id"], "reader", "abuse", None)
    answer = client.patch(
        f"/api/v1/comments/{created['comment']['id']}",
        json={"body": "Now something rude"},
        headers={**reader, "Authorization": f"Bearer {created['edit_token']}"},
    )
    assert error_code(answer) == "reader_blocked"
    assert read(client)["comments"][0]["body"] == "Nice and polite"


DEEP = 5000


def deep_chain(ctx: Context) -> list[int]:
    """A thread with one top-level comment and a chain of replies DEEP levels under it."""
    from parlour.domain.model import Status
    from parlour.services import lifecycle
    from parlour.store import sites as site_store
    from parlour.store import threads as thread_store

    make_site(ctx)
    ids: list[int] = []
    with ctx.db.write() as tx:
        site = site_store.get_site(tx, "blog")
        assert site is not None
        thread = thread_store.get_or_create_thread(tx, "blog", "/deep", "Deep", None, ctx.now())
        parent = None
        for i in range(DEEP + 1):
            author = lifecycle.Author(key=f"a:{i % 2}", ip_hash="ip", name=("Ann", "Bo")[i % 2])
            text = lifecycle.Text(f"level {i}", f"<p>level {i}</p>")
            parent = lifecycle.create(tx, site, thread, parent, author, text, Status.PUBLISHED, ctx.now())
            ids.append(parent.id)
    return ids


def depth_of(node: dict[str, Any]) -> int:
    deepest, stack = 0, [(node, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in item["replies"])
    return deepest


def every_id(nodes: list[dict[str, Any]]) -> list[int]:
    found, stack = [], list(nodes)
    while stack:
        item = stack.pop()
        found.append(item["id"])
        stack.extend(item["replies"])
    return sorted(found)


def test_a_reply_chain_thousands_deep_reads_through_every_parameter(ctx: Context, client: Any) -> None:
    ids = deep_chain(ctx)
    base = {"site": "blog", "thread": "/deep"}
    first = client.get("/api/v1/comments", params=base)
    assert first.status_code == 200
    whole = client.get("/api/v1/comments", params={**base, "replies_limit": 500}).json()
    top = whole["comments"][0]
    assert depth_of(top) <= 40 and len(every_id([top])) == 501
    seen, cursor = [top["id"]], None
    while True:  # every reply, page by page, under the top-level comment
        params = {**base, "root": top["id"], "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/comments", params=params).json()
        seen += every_id(page["comments"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ids
    permalink = client.get("/api/v1/comments", params={**base, "until": ids[-1]})
    assert permalink.status_code == 200 and ids[-1] in every_id(permalink.json()["comments"])
    deepest = [n for n in permalink.json()["comments"][0]["replies"] if n["id"] == ids[-1]]
    assert deepest == [] or deepest[0]["parent_id"] == ids[-2]  # listed under an ancestor, true parent kept
    html = client.get("/comments.html", params=base)
    assert html.status_code == 200 and "level 1" in html.text


def test_removing_the_middle_of_a_deep_chain_keeps_what_is_under_it(ctx: Context, client: Any) -> None:
    from parlour.services import accounts, moderation

    ids = deep_chain(ctx)
    owner = accounts.create_user(ctx, "wren@blog.example", PASSWORD, is_owner=True)
    moderation.remove(ctx, owner, ids[2500])
    page = client.get("/api/v1/comments", params={"site": "blog", "thread": "/deep", "until": ids[-1]}).json()
    assert ids[-1] in every_id(page["comments"]) and ids[2500] in every_id(page["comments"])


def at_once(count: int, work: Any) -> list[Any]:
    """Run `work(i)` in `count` threads released together; the results or the errors."""
    import threading

    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_forty_posts_at_once_from_one_address_create_at_most_the_limit(make_ctx: Any) -> None:
    from parlour.domain import errors
    from parlour.services import posting

    ctx = make_ctx(comment_rate_limit=5)
    make_site(ctx)
    actor = posting.Actor(ip_hash="one-address")
    results = at_once(
        40, lambda i: posting.post_comment(ctx, actor, posting.NewComment("blog", "/post", f"comment {i}"))
    )
    created = [r for r in results if isinstance(r, posting.Posted)]
    refused = [r for r in results if isinstance(r, errors.RateLimited)]
    assert len(created) == 5 and len(refused) == 35, [r for r in results if isinstance(r, Exception)][:1]


def test_forty_wrong_passwords_at_once_are_counted_exactly(make_ctx: Any) -> None:
    from parlour.domain import errors
    from parlour.services import accounts

    ctx = make_ctx(sign_in_rate_limit=10)
    accounts.create_user(ctx, "wren@blog.example", PASSWORD, is_owner=True)
    results = at_once(40, lambda i: accounts.sign_in(ctx, "wren@blog.example", f"wrong {i}", "one-address"))
    assert sum(isinstance(r, errors.SignInFailed) for r in results) == 10
    assert sum(isinstance(r, errors.RateLimited) for r in results) == 30


def test_signing_in_never_counts_against_the_limit(make_ctx: Any) -> None:
    from parlour.services import accounts

    ctx = make_ctx(sign_in_rate_limit=3)
    accounts.create_user(ctx, "wren@blog.example", PASSWORD, is_owner=True)
    for _ in range(10):
        assert accounts.sign_in(ctx, "wren@blog.example", PASSWORD, "her-laptop").email == "wren@blog.example"


def test_strangers_failing_from_many_addresses_never_lock_the_owner_out_at_her_own(make_ctx: Any) -> None:
    from parlour.domain import errors
    from parlour.services import accounts

    ctx = make_ctx(sign_in_rate_limit=2)
    accounts.create_user(ctx, "wren@blog.example", PASSWORD, is_owner=True)
    accounts.sign_in(ctx, "wren@blog.example", PASSWORD, "her-laptop")  # where she signs in
    for i in range(40):  # more than the account's limit from anywhere (20)
        with pytest.raises((errors.SignInFailed, errors.RateLimited)):
            accounts.sign_in(ctx, "wren@blog.example", "guess", f"stranger-{i}")
    with pytest.raises(errors.RateLimited):  # a new address is refused now...
        accounts.sign_in(ctx, "wren@blog.example", PASSWORD, "a-new-address")
    assert accounts.sign_in(ctx, "wren@blog.example", PASSWORD, "her-laptop")  # ...but not hers


def test_a_direct_client_rotating_forwarded_for_gets_no_extra_posts(client_for: Any) -> None:
    client = client_for(peer="203.0.113.50", comment_rate_limit=2, trust_proxy=True)
    make_site(client.app.state.ctx)
    answers = [
        client.post(
            "/api/v1/comments",
            json={"site": "blog", "thread": "/post", "body": f"comment {i}"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        ).status_code
        for i in range(5)
    ]
    assert answers == [201, 201, 429, 429, 429]


def test_a_direct_client_rotating_forwarded_for_gets_no_extra_sign_in_attempts(make_ctx: Any) -> None:
    from starlette.testclient import TestClient

    from parlour.app import create_app

    ctx = make_ctx(sign_in_rate_limit=2, trust_proxy=True)
    make_user(ctx, "wren@blog.example", owner=True)
    client = TestClient(create_app(context=ctx), base_url="https://parlour.test", client=("203.0.113.50", 1))
    with client:
        statuses = []
        for i in range(4):
            answer = client.post(
                "/desk/sign-in",
                data={
                    "csrf": csrf(client),
                    "email": "wren@blog.example",
                    "password": "wrong",
                    "next": "/desk",
                },
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            statuses.append(answer.status_code)
    assert statuses == [401, 401, 429, 429]


@pytest.mark.parametrize(
    ("peer", "forwarded", "seen"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("127.0.0.1", "made-up, 203.0.113.7", "203.0.113.7"),  # what the client wrote is ignored
        ("127.0.0.1", "203.0.113.7, 10.0.0.2", "203.0.113.7"),  # through two trusted proxies
        ("10.0.0.2", "203.0.113.7", "203.0.113.7"),
        ("203.0.113.50", "203.0.113.7", "203.0.113.50"),  # not a proxy: its header is ignored
        ("127.0.0.1", "", "127.0.0.1"),
    ],
)
def test_only_a_named_proxy_sets_the_client_address(peer: str, forwarded: str, seen: str) -> None:
    from starlette.requests import Request

    from parlour.settings import Settings
    from parlour.web.http import client_address

    settings = Settings(
        database="sqlite:///x.db", trust_proxy=True, trusted_proxies="127.0.0.1/32 10.0.0.0/8"
    )
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    request = Request({"type": "http", "headers": headers, "client": (peer, 1)})
    assert client_address(request, settings) == seen


def test_previews_are_rate_limited_per_address(client_for: Any) -> None:
    from factories import error_code

    client = client_for(preview_rate_limit=3)
    answers = [client.post("/api/v1/preview", json={"body": f"*try* {i}"}) for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert error_code(answers[-1]) == "rate_limited" and answers[-1].headers["retry-after"] == "60"


def test_previews_from_one_address_are_counted_together_by_every_instance(client_for: Any) -> None:
    """Two apps on their own contexts, as two instances behind a proxy are: the limit is
    the address's, not each instance's."""
    one, two = client_for(preview_rate_limit=3), client_for(preview_rate_limit=3)
    answers = [(one if i % 2 else two).post("/api/v1/preview", json={"body": f"try {i}"}) for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]


def test_a_preview_that_renders_too_long_is_refused_and_the_server_goes_on(
    client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from factories import error_code
    from parlour.services import markup

    client = client_for()
    real = markup.render

    def slow(text: str) -> str:
        if "slow" in text:
            time.sleep(3)
        return real(text)

    monkeypatch.setattr(markup, "render", slow)
    answer = client.post("/api/v1/preview", json={"body": "a slow one"})
    assert answer.status_code == 422 and error_code(answer) == "preview_too_complex"
    assert (
        client.post("/api/v1/preview", json={"body": "a quick one"}).json()["html"] == "<p>a quick one</p>\n"
    )


@pytest.mark.parametrize("path", ["/desk/sign-in", "/desk/sign-in/link", "/desk/setup", "/desk/sites/blog"])
def test_desk_forms_refuse_oversized_and_multipart_bodies_before_parsing(client: Any, path: str) -> None:
    from factories import error_code

    big = client.post(
        path, content=b"a=" + b"x" * 300_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert big.status_code == 413 and error_code(big) == "request_too_large"
    multipart = client.post(path, files={"file": ("a.txt", b"hello")}, data={"csrf": "x"})
    assert multipart.status_code == 415 and error_code(multipart) == "unsupported_media_type"

    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 10_000

    chunked = client.post(
        path, content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert chunked.status_code == 413


def test_no_other_address_takes_a_body(client: Any) -> None:
    from factories import error_code

    answer = client.post("/comments.html", content=b"{}", headers={"Content-Type": "application/json"})
    assert answer.status_code == 415 and error_code(answer) == "unsupported_media_type"


HOSTILE = [
    "nul\x00byte",
    "bell\x07",
    "%ED%A0%80 a lone surrogate, percent-encoded",
    "e\u0301" * 150,
    "\ufdfa" * 60,
    "a" * 5000,
    "<script>x</script>",
]
DESK_FORMS = [
    (
        "/desk/sites/blog",
        ["name", "writer_name", "origins", "held_words", "rejected_words", "writer_avatar", "max_links"],
    ),
    ("/desk/sites/blog/blocks", ["kind", "value", "reason", "days"]),
    ("/desk/sites/blog/lock", ["thread", "locked", "reason"]),
    ("/desk/sites", ["site_id", "name", "writer_name", "origin"]),
    ("/desk/queue", ["id", "action", "reason"]),
]


@pytest.mark.parametrize("value", HOSTILE)
def test_desk_forms_and_pages_answer_hostile_text_alike_on_both_databases(writer: Any, value: str) -> None:
    from desk_helpers import desk_post

    for path, fields in DESK_FORMS:
        for field in fields:
            answer = desk_post(writer, path, {field: value}, page="/desk/sites/blog")
            assert answer.status_code < 500, (path, field, answer.status_code)
    for page in ["/desk/search", "/desk/readers", "/desk/posts", "/desk/inbox", "/desk/audit"]:
        for field in ["q", "key", "site", "status", "thread"]:
            answer = writer.get(page, params={field: value})
            assert answer.status_code < 500, (page, field, answer.status_code)
            raw = writer.get(f"{page}?{field}=%ED%A0%80%00%FF")  # not UTF-8 at all
            assert raw.status_code < 500, (page, field, raw.status_code)


@pytest.mark.parametrize(
    "body",
    [
        "&#99;asino night",
        "ＣＡＳＩＮＯ night",
        "\u0441\u0430sino night",
        "ca\u200bsino night",
        "CaSiNo night",
        "ca\u202esino",
    ],
)
def test_a_refused_word_is_found_however_it_is_disguised(client: Any, writer: Any, body: str) -> None:
    from desk_helpers import desk_post
    from factories import error_code

    form = {
        "name": "Blog",
        "writer_name": "Wren",
        "origins": "https://blog.example",
        "rejected_words": "casino",
    }
    assert desk_post(writer, "/desk/sites/blog", form, page="/desk/sites/blog").status_code in (200, 303)
    answer = client.post("/api/v1/comments", json={"site": "blog", "thread": "/post", "body": body})
    assert error_code(answer) == "comment_rejected", answer.text


def test_the_shipped_look_alike_table_is_the_confusables_list_as_packaged() -> None:
    """`fold` reads a small table shipped with Parlour instead of parsing the package's
    900 KB list in every process; it must be the same table. After upgrading
    confusable-homoglyphs: PARLOUR_UPDATE_LOOK_ALIKES=1 pytest -k look_alike."""
    import os
    from importlib import resources

    from parlour.services import folding

    expected = folding.table_text(folding.look_alikes_from_confusables())
    shipped = resources.files("parlour.services").joinpath(folding.TABLE)
    if os.environ.get("PARLOUR_UPDATE_LOOK_ALIKES") == "1":
        Path(str(shipped)).write_text(expected, "ascii")
    assert shipped.read_text("ascii") == expected, "run with PARLOUR_UPDATE_LOOK_ALIKES=1 to rewrite it"
    table = folding._look_alikes()
    assert table[ord("\u0430")] == "a" and table[ord("\u0441")] == "c"  # Cyrillic а, с
    assert len(table) > 1000 and all(len(t) == 1 and t.isascii() and t.isalnum() for t in table.values())


@pytest.mark.parametrize("name", ["Wren", "wren", "ＷＲＥＮ", "Wr\u0435n", " Wren  "])
def test_a_reader_cannot_take_a_name_that_looks_like_the_writers(
    ctx: Context, client: Any, name: str
) -> None:
    from factories import error_code

    make_site(ctx)
    answer = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "Hello", "author_name": name}
    )
    assert error_code(answer) == "name_taken"


@pytest.mark.parametrize(
    "name",
    [
        "\u202eevil",
        "Wr\u200ben",
        "a\u2066b\u2069",
        "x\ufeff",
        "Alice\U000e0061\U000e0064",
        "\u200dAnn",
        "Ann\u200d",
    ],
)
def test_names_never_carry_invisible_or_direction_characters(ctx: Context, client: Any, name: str) -> None:
    from factories import error_code

    make_site(ctx)
    answer = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "Hello", "author_name": name}
    )
    assert error_code(answer) == "invalid_characters"


@pytest.mark.parametrize(
    "name", ["👩\u200d👩\u200d👧\u200d👦 Family", "Ann 🏳️\u200d🌈", "क्\u200dष", "می\u200cخواهم", "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f Ali"]
)  # fmt: skip
def test_names_keep_the_joiners_of_emoji_and_of_indic_and_persian_letters(
    ctx: Context, client: Any, name: str
) -> None:
    make_site(ctx)
    assert post(client, "Hello", author_name=name)["comment"]["author"]["name"] == name


def test_a_name_the_writers_with_a_joiner_inside_is_still_the_writers(ctx: Context, client: Any) -> None:
    make_site(ctx)
    assert post(client, "Hi", author_name="Wr\u200den", expect=None)["error"]["code"] == "name_taken"


@pytest.mark.parametrize("name", ["\u2800", "\u3164", "\u115f\u1160", "\u200d", " \u200b "])
def test_a_name_that_shows_nothing_is_no_name(ctx: Context, client: Any, name: str) -> None:
    make_site(ctx)
    # anonymous, as a blank name is
    assert post(client, "Hello", author_name=name)["comment"]["author"]["name"] is None


@pytest.mark.parametrize("body", ["\u200b", "\u00ad\ufeff", "\u2800 \n \u3164", "\u200e\u200f"])
def test_a_body_that_shows_nothing_is_empty(ctx: Context, client: Any, body: str) -> None:
    make_site(ctx)
    assert post(client, body, expect=422)["error"]["code"] == "empty_body"


@pytest.mark.parametrize(
    ("field", "code"), [("author_name", "invalid_characters"), ("thread", "invalid_thread_key")]
)
def test_c1_control_characters_are_refused_in_names_and_thread_keys(
    ctx: Context, client: Any, field: str, code: str
) -> None:
    make_site(ctx)
    fields = {"thread": "/post", "author_name": "Ann"}
    fields[field] += "\u009f"
    assert post(client, "Hello", expect=422, **fields)["error"]["code"] == code


def test_a_body_keeps_a_c1_control_pasted_from_an_old_page(ctx: Context, client: Any) -> None:
    """So that such a comment (an import, an old paste) can still be edited."""
    make_site(ctx)
    assert post(client, "Line one\u0085line two")["comment"]["body"] == "Line one\u0085line two"


def test_signing_out_ends_that_session_on_the_server(ctx: Context) -> None:
    from desk_helpers import desk_post, sign_in

    make_user(ctx, "wren@blog.example", owner=True)
    client = desk_client(ctx)
    other = desk_client(ctx)
    try:
        sign_in(client, "wren@blog.example")
        sign_in(other, "wren@blog.example")  # her other device
        copied = client.cookies.get("parlour_session")
        assert client.get("/desk/inbox").status_code == 200
        assert desk_post(client, "/desk/sign-out").status_code == 303
        replay = desk_client(ctx)
        replay.cookies.set("parlour_session", copied or "", domain="parlour.test", path="/desk")
        answer = replay.get("/desk/inbox")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/desk/sign-in")
        replay.__exit__(None, None, None)
        assert other.get("/desk/inbox").status_code == 200  # only that session ended
    finally:
        client.__exit__(None, None, None)
        other.__exit__(None, None, None)


# 7. The writer's token in the widget: short-lived, refreshed, with the account's role,
# revocable from the desk, and every action with it audited in the action's transaction.


def widget_sign_in(ctx: Context, email: str, site_id: str = "blog") -> tuple[str, str]:
    """What the desk's popup hands the widget: (token, expiry), through the real page."""
    from desk_helpers import sign_in

    desk = desk_client(ctx)
    try:
        sign_in(desk, email)
        page = desk.get("/desk/widget", params={"site": site_id, "origin": "https://blog.example"}).text
    finally:
        desk.__exit__(None, None, None)
    token = page.split('data-token="')[1].split('"')[0]
    expires = page.split('data-expires="')[1].split('"')[0]
    return token, expires


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Origin": "https://blog.example"}


def audit_lines(ctx: Context) -> list[tuple[str, str, int | None]]:
    with ctx.db.read() as tx:
        rows = tx.execute(
            text(
                "SELECT u.email, a.action, a.comment_id FROM audit_log a JOIN users u ON u.id = a.user_id ORDER BY a.id"
            )
        )
        return [(row[0], row[1], row[2]) for row in rows]


def parse_iso(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture
def blog(ctx: Context) -> Context:
    make_site(ctx, "blog", origins=("https://blog.example",))
    make_user(ctx, "wren@blog.example", owner=True)
    make_user(ctx, "mo@blog.example", moderator_of=("blog",))
    return ctx


def test_the_widgets_writer_token_lives_an_hour_and_is_refreshed_while_its_grant_stands(
    blog: Context, client: Any
) -> None:
    from parlour.services.clock import now_ms

    token, expires = widget_sign_in(blog, "wren@blog.example")
    start = now_ms()
    assert 55 * 60_000 < parse_iso(expires) - start <= 60 * 60_000
    fresh = client.post("/api/v1/writer-token", headers=bearer(token))
    assert fresh.status_code == 201, fresh.text
    renewed = fresh.json()["writer_token"]
    assert renewed != token and parse_iso(fresh.json()["expires_at"]) >= parse_iso(expires)
    post = {"site": "blog", "thread": "/post", "body": "Thank you for reading"}
    assert client.post("/api/v1/comments", json=post, headers=bearer(renewed)).json()["comment"]["author"][
        "is_writer"
    ]
    blog.now = lambda: start + 61 * 60_000  # type: ignore[method-assign]
    for old in (token, renewed):  # an hour later, unrefreshed: both have ended
        assert error_code(client.post("/api/v1/comments", json=post, headers=bearer(old))) == "invalid_token"
        assert error_code(client.post("/api/v1/writer-token", headers=bearer(old))) == "invalid_token"
    # Refreshed every hour, it still ends with its grant, a desk session's life (30 days):
    # a sign-in refreshed until 30 minutes before that end gets a token for the hour...
    blog.now = now_ms  # type: ignore[method-assign]
    begun = now_ms()
    token, _ = widget_sign_in(blog, "wren@blog.example")
    with blog.db.read() as tx:
        grant_end = tx.execute(text("SELECT max(expires_at) FROM widget_grants")).scalar_one()
    assert begun + 30 * 86_400_000 <= grant_end <= begun + 30 * 86_400_000 + 120_000
    # (Thirty days of hourly refreshes, compressed: the grant is moved to end in 30 minutes.)
    with blog.db.write() as tx:
        tx.execute(text("UPDATE widget_grants SET expires_at = :end"), {"end": begun + 30 * 60_000})
    grant_end = begun + 30 * 60_000
    blog.now = lambda: grant_end - 30 * 60_000  # type: ignore[method-assign]
    last = client.post("/api/v1/writer-token", headers=bearer(token))
    assert last.status_code == 201
    last_token = last.json()["writer_token"]
    # ... which stops working when the grant ends, though the token's own hour is not over.
    blog.now = lambda: grant_end + 1  # type: ignore[method-assign]
    assert (
        error_code(client.post("/api/v1/comments", json=post, headers=bearer(last_token))) == "invalid_token"
    )
    assert error_code(client.post("/api/v1/writer-token", headers=bearer(last_token))) == "invalid_token"


def test_a_refresh_is_only_given_to_the_pages_of_the_grants_own_origin(blog: Context, client: Any) -> None:
    token, _ = widget_sign_in(blog, "wren@blog.example")
    stranger = {"Authorization": f"Bearer {token}", "Origin": "https://evil.example"}
    assert client.post("/api/v1/writer-token", headers=stranger).status_code == 403
    # A program (no Origin) cannot keep a copied token alive either: it dies within the hour.
    copied = client.post("/api/v1/writer-token", headers={"Authorization": f"Bearer {token}"})
    assert copied.status_code == 403 and error_code(copied) == "origin_not_allowed"
    assert error_code(client.post("/api/v1/writer-token")) == "invalid_token"
    assert error_code(client.post("/api/v1/writer-token", headers=bearer("ws2.1.99999999999999.x"))) == (
        "invalid_token"
    )


def test_a_moderators_widget_token_cannot_rewrite_the_writers_words(blog: Context, client: Any) -> None:
    wren, _ = widget_sign_in(blog, "wren@blog.example")
    mo, _ = widget_sign_in(blog, "mo@blog.example")
    mine = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "My own words"},
        headers=bearer(wren),
    ).json()["comment"]
    changed = client.patch(f"/api/v1/comments/{mine['id']}", json={"body": "Not hers"}, headers=bearer(mo))
    assert changed.status_code == 403 and error_code(changed) == "not_permitted"
    assert client.get("/api/v1/comments", params={"site": "blog", "thread": "/post"}).json()["comments"][0][
        "body"
    ] == ("My own words")
    edited = client.patch(
        f"/api/v1/comments/{mine['id']}", json={"body": "My own, better"}, headers=bearer(wren)
    )
    assert edited.status_code == 200


def test_every_action_with_the_widgets_token_is_in_the_audit_log(blog: Context, client: Any) -> None:
    token, _ = widget_sign_in(blog, "wren@blog.example")
    reader = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "A question", "author_name": "Ann"},
    ).json()["comment"]
    answer = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "An answer", "parent_id": reader["id"]},
        headers=bearer(token),
    ).json()["comment"]
    cid, aid = reader["id"], answer["id"]
    assert client.put(f"/api/v1/comments/{cid}/heart", headers=bearer(token)).status_code == 200
    assert client.put(f"/api/v1/comments/{cid}/pin", headers=bearer(token)).status_code == 200
    assert client.patch(
        f"/api/v1/comments/{aid}", json={"body": "A fuller answer"}, headers=bearer(token)
    ).is_success
    assert client.delete(f"/api/v1/comments/{cid}", headers=bearer(token)).status_code == 200
    who = "wren@blog.example"
    assert audit_lines(blog) == [
        (who, "widget_sign_in", None),
        (who, "widget_reply", aid),
        (who, "widget_heart", cid),
        (who, "widget_pin", cid),
        (who, "widget_edit", aid),
        (who, "widget_remove", cid),
    ]


def test_an_action_refused_with_the_widgets_token_leaves_no_audit_line(blog: Context, client: Any) -> None:
    token, _ = widget_sign_in(blog, "wren@blog.example")
    refused = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "Hi", "parent_id": 999_999},
        headers=bearer(token),
    )
    assert refused.status_code in (404, 422)
    assert audit_lines(blog) == [("wren@blog.example", "widget_sign_in", None)]


def test_the_desk_lists_widget_sign_ins_and_ends_one_at_once(blog: Context, client: Any) -> None:
    from desk_helpers import desk_post, sign_in

    wren, _ = widget_sign_in(blog, "wren@blog.example")
    mo, _ = widget_sign_in(blog, "mo@blog.example")
    owner, moderator = desk_client(blog), desk_client(blog)
    try:
        sign_in(owner, "wren@blog.example")
        sign_in(moderator, "mo@blog.example")
        page = owner.get("/desk/sites/blog").text
        assert "wren@blog.example (owner)" in page and "mo@blog.example (moderator)" in page
        theirs = moderator.get("/desk/sites/blog").text  # a moderator sees and ends only their own
        assert "mo@blog.example (moderator)" in theirs and "wren@blog.example (owner)" not in theirs
        with blog.db.read() as tx:
            rows = tx.execute(
                text("SELECT u.email, g.id FROM widget_grants g JOIN users u ON u.id = g.user_id")
            )
            ids = {row[0]: row[1] for row in rows}
        assert (
            desk_post(
                moderator, "/desk/sites/blog/widget-sign-ins", {"grant": ids["wren@blog.example"]}
            ).status_code
            == 403
        )
        ended = desk_post(owner, "/desk/sites/blog/widget-sign-ins", {"grant": ids["mo@blog.example"]})
        assert ended.status_code == 303
        post = {"site": "blog", "thread": "/post", "body": "Still here?"}
        assert error_code(client.post("/api/v1/comments", json=post, headers=bearer(mo))) == "invalid_token"
        assert error_code(client.post("/api/v1/writer-token", headers=bearer(mo))) == "invalid_token"
        assert client.post("/api/v1/comments", json=post, headers=bearer(wren)).status_code == 201
        assert "mo@blog.example (moderator)" not in owner.get("/desk/sites/blog").text
        assert ("wren@blog.example", "widget_revoke", None) in audit_lines(blog)
        for odd in ["²", "-1", "1e3", "", "9" * 30]:  # never a 500
            answer = desk_post(owner, "/desk/sites/blog/widget-sign-ins", {"grant": odd})
            assert 400 <= answer.status_code < 500, (odd, answer.status_code)
        # An hour after its page last renewed it, a sign-in can never be used again: not listed.
        from parlour.services.clock import now_ms

        later = now_ms() + 61 * 60_000
        blog.now = lambda: later  # type: ignore[method-assign]
        assert "wren@blog.example (owner)" not in owner.get("/desk/sites/blog").text
    finally:
        owner.__exit__(None, None, None)
        moderator.__exit__(None, None, None)


def test_signing_out_in_the_widget_or_everywhere_ends_its_token(blog: Context, client: Any) -> None:
    from desk_helpers import desk_post, sign_in

    post = {"site": "blog", "thread": "/post", "body": "Hello again"}
    token, _ = widget_sign_in(blog, "wren@blog.example")
    assert client.delete("/api/v1/writer-token", headers=bearer(token)).status_code == 204
    assert error_code(client.post("/api/v1/comments", json=post, headers=bearer(token))) == "invalid_token"
    token, _ = widget_sign_in(blog, "wren@blog.example")
    desk = desk_client(blog)
    try:
        sign_in(desk, "wren@blog.example")
        assert desk_post(desk, "/desk/sign-out-everywhere").status_code == 303
    finally:
        desk.__exit__(None, None, None)
    assert error_code(client.post("/api/v1/comments", json=post, headers=bearer(token))) == "invalid_token"


def test_taking_a_role_away_ends_its_widget_sign_ins(blog: Context, client: Any) -> None:
    token, _ = widget_sign_in(blog, "mo@blog.example")
    with blog.db.write() as tx:
        tx.execute(text("DELETE FROM memberships"))
    post = {"site": "blog", "thread": "/post", "body": "Am I still here?"}
    assert error_code(client.post("/api/v1/comments", json=post, headers=bearer(token))) == "invalid_token"


def test_an_import_upload_without_a_length_is_held_only_to_a_forms_size(client: Any) -> None:
    from factories import error_code

    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 10_000  # 400 KB: within an import's limit, past a form's

    answer = client.post(
        "/desk/sites/blog/import",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert answer.status_code == 413 and error_code(answer) == "request_too_large"
