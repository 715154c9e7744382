"""Cross-origin use: CORS per site's origins, and writes checked against the site's origins."""

from __future__ import annotations

from starlette.testclient import TestClient

from factories import BLOG, error_code, make_site, post
from parlour.services import sites
from parlour.services.context import Context


def test_preflight_from_a_sites_origin_is_allowed(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    response = client.options(
        "/api/v1/comments",
        headers={
            "Origin": BLOG,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == BLOG
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "X-Parlour-Reader" in response.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in response.headers


def test_preflight_from_an_unknown_origin_is_refused(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    response = client.options(
        "/api/v1/comments",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_reads_and_errors_carry_cors_headers_for_allowed_origins(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    ok = client.get("/api/v1/comments", params={"site": "blog", "thread": "/p"}, headers={"Origin": BLOG})
    assert ok.headers["access-control-allow-origin"] == BLOG and "Origin" in ok.headers["vary"]
    bad = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/p", "body": ""}, headers={"Origin": BLOG}
    )
    assert bad.status_code == 422 and bad.headers["access-control-allow-origin"] == BLOG


def test_write_from_another_sites_origin_is_refused(ctx: Context, client: TestClient) -> None:
    """CSRF: a page on one site cannot write into another site's threads."""
    make_site(ctx)
    make_site(ctx, "other", origins=("https://other.example",))
    response = client.post(
        "/api/v1/comments",
        json={"site": "blog", "thread": "/p", "body": "x"},
        headers={"Origin": "https://other.example"},
    )
    assert response.status_code == 403 and error_code(response) == "origin_not_allowed"
    assert client.get("/api/v1/counts", params={"site": "blog", "thread": "/p"}).json() == {
        "counts": {"/p": 0}
    }
    post(client, "from home", headers={"Origin": BLOG}, thread="/p")


def test_origins_can_be_changed_and_take_effect(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    sites.update_site(ctx, "blog", origins=["https://new.example"])
    response = client.post(
        "/api/v1/comments", json={"site": "blog", "thread": "/p", "body": "x"}, headers={"Origin": BLOG}
    )
    assert response.status_code == 403
    post(client, "moved", thread="/p", headers={"Origin": "https://new.example"})


def test_requests_from_parlours_own_pages_are_allowed(ctx: Context, client: TestClient) -> None:
    make_site(ctx)
    post(client, "same origin", headers={"Origin": "http://parlour.test"})


def test_a_foreign_page_cannot_use_up_its_visitors_reader_identities(
    ctx: Context, client: TestClient
) -> None:
    make_site(ctx)
    foreign = client.post("/api/v1/readers", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and error_code(foreign) == "origin_not_allowed"
    assert client.post("/api/v1/readers", headers={"Origin": BLOG}).status_code == 201


def test_a_read_from_an_origin_no_site_allows_gets_a_readable_refusal_and_no_data(
    ctx: Context, client: TestClient
) -> None:
    """So that a widget on a blog whose origin was never added can say what is wrong."""
    make_site(ctx)
    post(client, "Not for strangers", headers={"Origin": BLOG}, thread="/p")
    stranger = "https://new-blog.example"
    preflight = client.options(
        "/api/v1/comments",
        headers={
            "Origin": stranger,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-parlour-reader",
        },
    )
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == stranger
    assert preflight.headers["access-control-allow-methods"] == "GET, HEAD"
    read = client.get(
        "/api/v1/comments", params={"site": "blog", "thread": "/p"}, headers={"Origin": stranger}
    )
    assert read.status_code == 403 and error_code(read) == "origin_not_allowed"
    assert read.json()["error"]["details"] == {"origin": stranger}
    assert read.headers["access-control-allow-origin"] == stranger and "Not for strangers" not in read.text
    counts = client.get(
        "/api/v1/counts", params={"site": "blog", "thread": "/p"}, headers={"Origin": stranger}
    )
    assert counts.status_code == 403
    own = client.get(
        "/api/v1/comments", params={"site": "blog", "thread": "/p"}, headers={"Origin": "http://parlour.test"}
    )
    assert own.status_code == 200 and "Not for strangers" in own.text
