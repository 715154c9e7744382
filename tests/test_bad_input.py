"""Bad input: a clear error with a stable code and a 4xx, never a 500, never a half-written row."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from starlette.testclient import TestClient

from factories import error_code, make_site, post, read
from parlour.services.context import Context


def _count_rows(ctx: Context) -> tuple[int, int]:
    from sqlalchemy import func, select

    from parlour.store.schema import comments, threads

    with ctx.db.read() as tx:
        return (
            tx.execute(select(func.count()).select_from(comments)).scalar_one(),
            tx.execute(select(func.count()).select_from(threads)).scalar_one(),
        )


CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("empty body", {"body": ""}, 422, "empty_body"),
    ("whitespace body", {"body": " \n\t "}, 422, "empty_body"),
    ("body over the limit", {"body": "x" * 10_001}, 422, "body_too_long"),
    ("name over the limit", {"author_name": "n" * 81}, 422, "name_too_long"),
    ("bad email", {"author_email": "not an email"}, 422, "invalid_email"),
    ("unknown site", {"site": "nowhere"}, 404, "unknown_site"),
    ("unknown parent", {"parent_id": 987654}, 422, "unknown_parent"),
    ("NUL in body", {"body": "hello\x00world"}, 422, "invalid_characters"),
    ("empty thread", {"thread": "  "}, 422, "invalid_thread_key"),
    ("tab in thread", {"thread": "/post\tx"}, 422, "invalid_thread_key"),
    ("line break in thread", {"thread": "/post\r\nx"}, 422, "invalid_thread_key"),
    ("body not text", {"body": 42}, 422, "invalid_request"),
    ("missing body", {"body": None}, 422, "invalid_request"),
    ("parent not a number", {"parent_id": "seven"}, 422, "invalid_request"),
    ("script url", {"url": "javascript:alert(1)"}, 422, "invalid_input"),
    ("data url", {"url": "data:text/html,hi"}, 422, "invalid_input"),
    ("protocol-relative url", {"url": "//evil.example/x"}, 422, "invalid_input"),
]


@pytest.mark.parametrize(("case", "change", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_comment_is_refused_with_a_stable_code(
    ctx: Context, client: TestClient, case: str, change: dict[str, Any], status: int, code: str
) -> None:
    make_site(ctx)
    payload = {"site": "blog", "thread": "/post", "body": "fine", **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    before = _count_rows(ctx)
    response = client.post("/api/v1/comments", json=payload)
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert response.json()["error"]["message"]
    assert _count_rows(ctx) == before


def test_parent_in_another_thread_is_refused(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    elsewhere = post(client, "over there", thread="/other")["comment"]["id"]
    before = _count_rows(ctx)
    response = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "hi", "parent_id": elsewhere}
    )
    assert response.status_code == 422 and error_code(response) == "parent_in_other_thread"
    assert _count_rows(ctx)[0] == before[0]


def test_malformed_json_is_a_400(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    response = client.post(
        "/api/v1/comments", content=b'{"site": "blog",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and error_code(response) == "malformed_json"


@pytest.mark.parametrize("headers", [{}, {"X-Parlour-SSO": "x"}])
def test_an_error_that_names_a_lone_surrogate_the_request_sent_answers_in_the_envelope(
    ctx: Context, client: TestClient, headers: dict[str, str]
) -> None:
    """The unknown site is named in the error's details; a lone surrogate
    there cannot be UTF-8, so it is sent as U+FFFD rather than failing the answer."""
    make_site(ctx)
    response = client.post(
        "/api/v1/comments",
        content=b'{"site": "blog\\ud800", "thread": "/post", "body": "ok"}',
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 404 and error_code(response) == "unknown_site", response.text
    assert response.json()["error"]["details"] == {"site": "blog\ufffd"}


def test_a_trailing_slash_sends_to_the_address_without_it_on_this_server_whatever_the_host_says(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    for path, to in [
        ("/feeds/blog.atom/", "/feeds/blog.atom"),
        ("/api/v1/comments/?site=blog&thread=/post", "/api/v1/comments?site=blog&thread=/post"),
        ("/desk/", "/desk"),
        ("/feeds/%E6%97%A5%E6%9C%AC.atom/?x=%25", "/feeds/%E6%97%A5%E6%9C%AC.atom?x=%25"),  # as sent
    ]:
        answer = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (307, to), path
    for path in ("/nothing/here/", "/feeds/", "/%5Cevil.example/", "/feeds/blog.atom%2F"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 404 and error_code(answer) == "not_found", path


@pytest.mark.parametrize("parent", [True, "1", 1.0, 1.5])
def test_a_parent_that_is_not_a_json_integer_is_refused_not_read_as_one(
    ctx: Context, client: TestClient, parent: object
) -> None:
    make_site(ctx)
    post(client, "The first, id 1")
    answer = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "hi", "parent_id": parent}
    )
    assert answer.status_code == 422 and error_code(answer) == "invalid_request", answer.text
    assert answer.json()["error"]["details"]["fields"][0]["field"] == "parent_id"


@pytest.mark.parametrize(
    "content",
    [b'{"site": "blog", "body": "caf\xe9"}', b"[" * 20_000 + b"]" * 20_000],
    ids=["latin-1", "too deep"],
)
def test_a_body_json_cannot_decode_at_all_is_malformed_json(
    ctx: Context, client: TestClient, content: bytes
) -> None:
    make_site(ctx)
    answer = client.post("/api/v1/comments", content=content, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and error_code(answer) == "malformed_json"


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate, gzip"])
def test_a_body_sent_with_a_content_encoding_is_a_415_naming_the_one_taken(
    ctx: Context, client: TestClient, coding: str
) -> None:
    make_site(ctx)
    body = b'{"site": "blog", "thread": "/post", "body": "Hello"}'
    sent = gzip.compress(body) if coding == "gzip" else body
    answer = client.post(
        "/api/v1/comments",
        content=sent,
        headers={"Content-Type": "application/json", "Content-Encoding": coding},
    )
    assert answer.status_code == 415 and answer.headers["accept-encoding"] == "identity"
    assert read(client)["thread"]["comment_count"] == 0
    plain = client.post(
        "/api/v1/comments",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "identity"},
    )
    assert plain.status_code == 201


def test_wrong_content_type_is_a_415(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ]:
        response = client.post(
            "/api/v1/comments",
            content=b'{"site":"blog","thread":"/p","body":"x"}',
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 415 and error_code(response) == "unsupported_media_type"


def test_oversized_request_is_a_413(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    big = b'{"site":"blog","thread":"/p","body":"' + b"x" * 70_000 + b'"}'
    response = client.post("/api/v1/comments", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_code(response) == "request_too_large"


def test_oversized_streamed_request_is_refused(ctx: Context, client: TestClient) -> None:
    make_site(ctx)

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"site":"blog","thread":"/p","body":"'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    response = client.post("/api/v1/comments", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and error_code(response) == "request_too_large"
    assert read(client, "/p")["thread"]["comment_count"] == 0


def test_unknown_address_and_method_answer_in_the_envelope(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    wrong = client.put("/api/v1/counts")
    assert wrong.status_code == 405 and error_code(wrong) == "method_not_allowed"


def test_comment_id_that_is_not_a_number_is_a_422(client: TestClient) -> None:
    response = client.patch("/api/v1/comments/abc", json={"body": "x"})
    assert response.status_code == 422 and error_code(response) == "invalid_request"


def test_validation_errors_name_the_field(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    response = client.post("/api/v1/comments", json={"site": "blog", "thread": "/p"})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "body"
    assert "body" in response.json()["error"]["message"]


def test_ids_and_cursors_beyond_64_bits_are_refused_not_overflowed(ctx: Context, client: TestClient) -> None:
    import base64

    make_site(ctx)
    huge = 10**20
    edit = client.patch(
        f"/api/v1/comments/{huge}", json={"body": "x"}, headers={"Authorization": "Bearer e1.1.x"}
    )
    assert edit.status_code == 422 and error_code(edit) == "invalid_request"
    reply = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/p", "body": "x", "parent_id": huge}
    )
    assert reply.status_code == 422 and error_code(reply) == "invalid_request"
    cursor = (
        base64.urlsafe_b64encode(b'{"s":"oldest","k":[0,9223372036854775808],"r":null}').decode().rstrip("=")
    )
    for path in ["/api/v1/comments", "/comments.html"]:
        page = client.get(path, params={"site": "blog", "thread": "/p", "cursor": cursor})
        assert page.status_code == 400


def test_tokens_with_non_ascii_characters_are_refused_not_crashed_on(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    cid = post(client, "hi")["comment"]["id"]
    edit = client.patch(
        f"/api/v1/comments/{cid}",
        json={"body": "x"},
        headers={"Authorization": "Bearer e1.1.\xe9".encode("latin-1")},
    )
    assert edit.status_code == 401 and error_code(edit) == "invalid_token"
    heart = client.put(
        f"/api/v1/comments/{cid}/heart", headers={"X-Parlour-Reader": "r1.abc.\xe9\xe9".encode("latin-1")}
    )
    assert heart.status_code == 401 and error_code(heart) == "invalid_token"
