"""Hearts: once per reader identity, taken back, and the writer's own heart."""

from __future__ import annotations

from starlette.testclient import TestClient

from factories import assert_matches_schema, error_code, make_site, new_reader, post, read, writer_headers
from parlour.services.context import Context


def test_a_reader_token_no_longer_valid_is_refused_naming_its_header_and_a_new_one_is_given(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    stale = {"X-Parlour-Reader": "r1.someone.signed-with-an-old-secret"}
    refused = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "Hi"}, headers=stale
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    assert refused.json()["error"]["details"] == {"header": "X-Parlour-Reader"}
    given = client.post("/api/v1/readers", headers=stale)
    assert given.status_code == 201, given.text
    fresh = {"X-Parlour-Reader": given.json()["reader_token"]}
    posted = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/post", "body": "Hi"}, headers=fresh
    )
    assert posted.status_code == 201, posted.text


def test_reader_hearts_a_comment_once_however_often_they_ask(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    cid = post(client, "Heart me")["comment"]["id"]
    reader = new_reader(client)
    for _ in range(5):
        response = client.put(f"/api/v1/comments/{cid}/heart", headers=reader)
        assert response.status_code == 200
        assert_matches_schema(response.json(), "HeartOut")
    assert response.json() == {"id": cid, "hearts": 1, "liked_by_writer": False, "hearted": True}
    client.put(f"/api/v1/comments/{cid}/heart", headers=new_reader(client))
    assert read(client)["comments"][0]["hearts"] == 2


def test_reader_takes_a_heart_back(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    cid = post(client, "Heart me")["comment"]["id"]
    reader = new_reader(client)
    client.put(f"/api/v1/comments/{cid}/heart", headers=reader)
    response = client.delete(f"/api/v1/comments/{cid}/heart", headers=reader)
    assert response.json()["hearts"] == 0 and response.json()["hearted"] is False
    again = client.delete(f"/api/v1/comments/{cid}/heart", headers=reader)
    assert again.status_code == 200 and again.json()["hearts"] == 0


def test_writer_heart_shows_as_liked_by_the_writer(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    cid = post(client, "Heart me")["comment"]["id"]
    response = client.put(f"/api/v1/comments/{cid}/heart", headers=writer_headers(ctx))
    assert response.json()["liked_by_writer"] is True
    comment = read(client)["comments"][0]
    assert comment["liked_by_writer"] is True and comment["hearts"] == 0
    client.delete(f"/api/v1/comments/{cid}/heart", headers=writer_headers(ctx))
    assert read(client)["comments"][0]["liked_by_writer"] is False


def test_heart_needs_a_signed_reader_identity(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    cid = post(client, "Heart me")["comment"]["id"]
    anonymous = client.put(f"/api/v1/comments/{cid}/heart")
    assert anonymous.status_code == 401 and error_code(anonymous) == "reader_required"
    forged = client.put(f"/api/v1/comments/{cid}/heart", headers={"X-Parlour-Reader": "r1.someone.forged"})
    assert forged.status_code == 401 and error_code(forged) == "invalid_token"
    assert read(client)["comments"][0]["hearts"] == 0


def test_removed_comment_cannot_be_hearted(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    cid = post(client, "Gone soon")["comment"]["id"]
    client.delete(f"/api/v1/comments/{cid}", headers=writer_headers(ctx))
    response = client.put(f"/api/v1/comments/{cid}/heart", headers=new_reader(client))
    assert response.status_code == 409 and error_code(response) == "comment_removed"


def test_new_reader_identities_are_rate_limited_per_address(ctx: Context, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for(reader_rate_limit=2)
    new_reader(client)
    new_reader(client)
    response = client.post("/api/v1/readers")
    assert response.status_code == 429 and error_code(response) == "rate_limited"
    assert response.headers["retry-after"] == "3600"
