"""Single sign-on from the writer's site (a JWT signed with the site's secret, sent as
X-Parlour-SSO) and who may comment, per site and per thread, on both databases."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from factories import BLOG, error_code, make_site, post, read, writer_headers
from parlour.cli.main import main
from parlour.services import sso
from parlour.services.context import Context


def token(secret: str, **claims: Any) -> str:
    """A token as the writer's site signs it (claims default to a free member, an hour)."""
    now = int(time.time())
    body = {"sub": "reader-1", "name": "Ada Lovelace", "exp": now + 3600, "tier": "free", **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, secret.encode("utf-8"), algorithm="HS256")


@pytest.fixture
def secret(ctx: Context) -> str:
    make_site(ctx)
    return sso.sso_secret(ctx, "blog")


def as_member(secret: str, **claims: Any) -> dict[str, str]:
    return {"X-Parlour-SSO": token(secret, **claims)}


def test_a_signed_in_reader_posts_under_the_name_the_writers_site_gave_with_a_mark(
    client: TestClient, secret: str
) -> None:
    posted = post(client, "Hello", author_name="Someone else", headers=as_member(secret))
    author = posted["comment"]["author"]
    assert author == {"name": "Ada Lovelace", "is_writer": False, "avatar_url": None, "verified": True}
    assert read(client)["comments"][0]["author"]["verified"] is True
    anonymous = post(client, "Hi", author_name="Bo")
    assert anonymous["comment"]["author"]["verified"] is False


def test_nobody_else_may_post_under_a_signed_in_readers_name(client: TestClient, secret: str) -> None:
    post(client, "Mine", headers=as_member(secret))
    for impostor in ("Ada Lovelace", "ada  lovelace", "ＡＤＡ Lovelace"):
        response = client.post(
            "/api/v1/comments",
            json={"site": "blog", "thread": "/post", "body": "Me", "author_name": impostor},
        )
        assert response.status_code == 409 and error_code(response) == "name_taken", impostor
    other = post(client, "Also me", headers=as_member(secret, sub="reader-2", name="Ada Lovelace"))
    assert other["comment"]["author"]["name"] == "Ada Lovelace"  # the writer's site vouches for both
    with pytest.raises(AssertionError):
        post(client, "again", author_name="Ada Lovelace")


@pytest.mark.parametrize(
    ("claims", "signing_secret", "algorithm"),
    [
        ({"exp": -3600}, None, "HS256"),  # expired
        ({"exp": 2 * 3600}, None, "HS256"),  # lives longer than an hour
        ({}, "not the site's secret, though long enough", "HS256"),
        ({}, None, "HS512"),
        ({"sub": None}, None, "HS256"),
        ({"name": None}, None, "HS256"),
        ({"tier": "gold"}, None, "HS256"),
        ({"picture": "javascript:alert(1)"}, None, "HS256"),
        ({"email": "ada@example.org, eve@example.org"}, None, "HS256"),
        ({"nbf": 600}, None, "HS256"),  # not valid yet
    ],
)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 with the site's key
def test_a_token_the_site_did_not_sign_or_that_lives_too_long_is_refused_with_its_own_code(
    client: TestClient, secret: str, claims: dict[str, Any], signing_secret: str | None, algorithm: str
) -> None:
    now = int(time.time())  # times are from now, not from collection (a long run passes an nbf)
    claims = {k: now + v if k in ("exp", "nbf") else v for k, v in claims.items()}
    body = {"sub": "reader-1", "name": "Ada", "exp": now + 600, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    signed = jwt.encode(body, (signing_secret or secret).encode(), algorithm=algorithm)
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "Hi"},
        headers={"X-Parlour-SSO": signed},
    )
    assert response.status_code == 401 and error_code(response) == "invalid_sso_token", response.text
    assert read(client)["comments"] == []


def test_a_token_of_alg_none_is_refused(client: TestClient, secret: str) -> None:
    unsigned = jwt.encode({"sub": "x", "name": "X", "exp": int(time.time()) + 60}, None, algorithm="none")
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "Hi"},
        headers={"X-Parlour-SSO": unsigned},
    )
    assert error_code(response) == "invalid_sso_token"


@pytest.mark.parametrize(
    ("rule", "anonymous", "free", "paid"),
    [
        ("everyone", 201, 201, 201),
        ("signed-in", 403, 201, 201),
        ("members", 403, 201, 201),
        ("paid", 403, 403, 201),
        ("closed", 403, 403, 403),
    ],
)
def test_who_may_comment_is_the_sites_choice(
    client: TestClient, ctx: Context, secret: str, rule: str, anonymous: int, free: int, paid: int
) -> None:
    sso.set_who_may_comment(ctx, "blog", rule)
    assert read(client)["thread"]["who_may_comment"] == rule
    for headers, expected, n in [({}, anonymous, 0), (as_member(secret), free, 1),
                                 (as_member(secret, sub="p", name="Pat", tier="paid"), paid, 2)]:  # fmt: skip
        response = client.post(
            "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": f"Try {n}"}, headers=headers
        )
        assert response.status_code == expected, (rule, n, response.text)
        if expected == 403:
            assert error_code(response) == "commenting_restricted"
            assert response.json()["error"]["details"]["who_may_comment"] == rule
    assert post(client, "The writer always may", headers=writer_headers(ctx))["comment"]["author"][
        "is_writer"
    ]


def test_a_thread_can_choose_for_itself_and_go_back_to_the_sites_choice(
    client: TestClient, ctx: Context, secret: str
) -> None:
    sso.set_who_may_comment(ctx, "blog", "members")
    sso.set_who_may_comment(ctx, "blog", "everyone", thread_key="/open-letter")
    assert read(client, thread="/open-letter")["thread"]["who_may_comment"] == "everyone"
    assert read(client, thread="/post")["thread"]["who_may_comment"] == "members"
    post(client, "Anyone here", thread="/open-letter")
    sso.set_who_may_comment(ctx, "blog", "site", thread_key="/open-letter")
    assert read(client, thread="/open-letter")["thread"]["who_may_comment"] == "members"
    response = client.post("/api/v1/comments", json={"site": "blog", "thread": "/open-letter", "body": "No"})
    assert response.status_code == 403


def test_a_signed_in_reader_edits_their_comment_from_another_device(client: TestClient, secret: str) -> None:
    posted = post(client, "Frist", headers=as_member(secret))
    comment_id = posted["comment"]["id"]
    edited = client.patch(f"/api/v1/comments/{comment_id}", json={"body": "First"}, headers=as_member(secret))
    assert edited.status_code == 200 and edited.json()["comment"]["body"] == "First"
    someone = client.patch(
        f"/api/v1/comments/{comment_id}", json={"body": "Hijacked"}, headers=as_member(secret, sub="reader-2")
    )
    assert someone.status_code == 401 and error_code(someone) == "invalid_token"


def test_the_sso_header_is_allowed_by_cors_preflight(client: TestClient, secret: str) -> None:
    response = client.options(
        "/api/v1/comments",
        headers={"Origin": BLOG, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type, x-parlour-sso"},
    )  # fmt: skip
    assert response.status_code == 204
    assert "X-Parlour-SSO" in response.headers["access-control-allow-headers"]


def test_a_site_without_a_secret_refuses_sso_tokens(client: TestClient, ctx: Context) -> None:
    make_site(ctx, "other")
    response = client.post(
        "/api/v1/comments",
        json={"site": "other", "thread": "/post", "body": "Hi"},
        headers={"X-Parlour-SSO": token("a secret of some other site, long enough")},
    )
    assert response.status_code == 401 and error_code(response) == "invalid_sso_token"


def test_parlour_site_sso_secret_prints_the_secret_and_rotates_it(db_url: str, tmp_path: Path) -> None:
    env = {"PARLOUR_SECRET": "cli"}

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, [*args, "--database", db_url], env=env, catch_exceptions=False)

    assert run("site", "create", "blog", "--origin", BLOG).exit_code == 0
    first = run("site", "sso-secret", "blog")
    assert first.exit_code == 0 and len(first.output.strip()) >= 40
    assert run("site", "sso-secret", "blog").output == first.output  # printed again, not replaced
    rotated = run("site", "sso-secret", "blog", "--rotate").output.strip()
    assert rotated and rotated != first.output.strip()
    assert run("site", "set", "blog", "--comments", "members").exit_code == 0
    assert (
        "Who may comment on thread /x: closed."
        in run("site", "set", "blog", "--comments", "closed", "--thread", "/x").output
    )
    unknown = CliRunner().invoke(main, ["site", "sso-secret", "nope", "--database", db_url], env=env)
    assert unknown.exit_code == 1 and "unknown_site" in unknown.output


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "a\ud800"},
        {"sub": "a\x00b"},
        {"picture": "https://pics.example/\x00.png"},
        {"picture": "https://pics.example/\ud800.png"},
        {"picture": "https:///no-host"},
        {"exp": float("nan")},
        {"exp": True},
        {"nbf": "soon"},
        {"email": ["ada@example.org"]},
        {"name": "Ada\x00"},
    ],
)
def test_hostile_claims_are_a_401_never_a_server_error(
    client: TestClient, secret: str, claims: dict[str, Any]
) -> None:
    import json

    header = {"alg": "HS256", "typ": "JWT"}
    body = {"sub": "reader-1", "name": "Ada", "exp": int(time.time()) + 600, **claims}
    # Signed by hand: json.dumps writes NaN and lone surrogates as PyJWT would not.
    import base64
    import hashlib
    import hmac

    def part(data: dict[str, Any]) -> bytes:
        raw = json.dumps(data, ensure_ascii=True, allow_nan=True).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing = part(header) + b"." + part(body)
    signature = base64.urlsafe_b64encode(hmac.new(secret.encode(), signing, hashlib.sha256).digest()).rstrip(
        b"="
    )
    forged = (signing + b"." + signature).decode()
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "Hi"},
        headers={"X-Parlour-SSO": forged},
    )
    assert response.status_code == 401 and error_code(response) == "invalid_sso_token", response.text


def test_a_blocked_member_stays_blocked_from_any_address(
    client: TestClient, ctx: Context, secret: str
) -> None:
    from parlour.services import accounts, moderation

    owner = accounts.create_user(ctx, "wren@blog.example", "correct horse battery", is_owner=True)
    comment_id = post(client, "Trouble", headers=as_member(secret))["comment"]["id"]
    moderation.block_author(ctx, owner, comment_id, "reader", "trouble", None)
    again = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/post", "body": "Back again"},
        headers={**as_member(secret), "X-Forwarded-For": "203.0.113.9"},
    )
    assert again.status_code == 403 and error_code(again) == "reader_blocked"
    assert post(client, "Someone else", headers=as_member(secret, sub="reader-2", name="Bo"))


def test_posting_the_same_comment_again_after_the_thread_closed_is_refused(
    client: TestClient, ctx: Context
) -> None:
    make_site(ctx)
    post(client, "Said once")
    sso.set_who_may_comment(ctx, "blog", "closed")
    again = client.post("/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "Said once"})
    assert again.status_code == 403 and error_code(again) == "commenting_restricted"
