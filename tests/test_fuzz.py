"""Whatever arrives, the answer is a clear 4xx or a success: never a 500, never a half-written row."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from factories import make_site
from parlour.services.context import Context

text = st.text(max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz
@given(site=text, thread=text, sort=text, limit=text, cursor=text, root=text)
def test_any_read_query_gets_a_clear_answer(
    ctx: Context, client: TestClient, site: str, thread: str, sort: str, limit: str, cursor: str, root: str
) -> None:
    if ctx.sites.get("blog") is None:
        make_site(ctx, "blog")
    params = {"site": site, "thread": thread, "sort": sort, "limit": limit, "cursor": cursor, "root": root}
    for chosen in [
        params,
        {"site": "blog", "thread": thread, "cursor": cursor},
        {"site": site, "thread": thread},
    ]:
        response = client.get("/api/v1/comments", params=chosen)
        assert response.status_code in (200, 400, 404, 422), response.text
        assert response.headers["content-type"] == "application/json"
    counts = client.get("/api/v1/counts", params=[("site", site), ("thread", thread), ("thread", root)])
    assert counts.status_code in (200, 400, 404, 422), counts.text


@fuzz
@given(
    payload=st.dictionaries(
        st.sampled_from(
            ["site", "thread", "body", "parent_id", "author_name", "author_email", "title", "url"]
        ),
        json_values,
    )
)
def test_any_comment_payload_gets_a_clear_answer(
    ctx: Context, client: TestClient, payload: dict[str, Any]
) -> None:
    if ctx.sites.get("blog") is None:
        make_site(ctx, "blog")
    payload = {"site": "blog", "thread": "/fuzz", "body": "fine", **payload}
    before = client.get("/api/v1/counts", params={"site": "blog", "thread": "/fuzz"}).json()["counts"][
        "/fuzz"
    ]
    response = client.post("/api/v1/comments", json=payload)
    assert response.status_code in (200, 201, 400, 403, 404, 409, 413, 422), response.text
    after = client.get("/api/v1/counts", params={"site": "blog", "thread": "/fuzz"}).json()["counts"]["/fuzz"]
    assert after == before + (1 if response.status_code == 201 and payload.get("thread") == "/fuzz" else 0)
