"""Whatever arrives, the answer is a clear 4xx or a success: never a 500, never a half-written row."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from desk_helpers import csrf
from factories import make_site
from parlour.services.context import Context
from parlour.web.routes import routes

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


# Every route in the route table, API and desk alike: arbitrary Unicode (lone surrogates,
# NUL, controls, text that normalisation lengthens) in its path, query and body gets a
# 2xx, 3xx or 4xx, never a 5xx. New routes are fuzzed as they are added.

# Characters the databases and normalisation treat differently, mixed into the generated text.
AWKWARD = [
    "\x00",
    "\ud800",
    "\udfff",
    "\u202e",
    "\u200b",
    "\ufdfa",
    "\ufb03" * 40,
    "ﷺ" * 30,
    "\r\n",
    "%",
    "../",
]
unicode_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.lists(st.sampled_from(AWKWARD) | st.text(max_size=5), max_size=6).map("".join),
)
FIELDS = [
    "site", "thread", "body", "parent_id", "author_name", "author_email", "title", "url", "sort", "limit",
    "cursor", "root", "until", "q", "key", "status", "id", "action", "reason", "kind", "value", "days",
    "locked", "moderation", "site_id", "name", "writer_name", "origin", "origins", "email", "password",
    "code", "next", "token", "grant", "block", "page", "replies_limit",
]  # fmt: skip
# Tokens as clients send them: well-formed prefixes with arbitrary printable ASCII after.
header_token = st.none() | st.builds(
    str.__add__,
    st.sampled_from(["ws2.", "ws1.", "pw_", "e1.", "r1.", ""]),
    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=40),
)
STREAMS = {"/api/v1/events"}  # opens an endless event stream when its query is valid (tests/test_live.py)


def _every_route() -> list[tuple[str, str]]:
    found = []
    for route in routes():
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD" and path not in STREAMS:
                found.append((method, path))
    return found


def _raw(value: str) -> str:
    """Percent-encoded, lone surrogates included (as the bytes a broken client would send)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@pytest.mark.parametrize(("method", "path"), _every_route())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path_value=unicode_text | st.sampled_from(["blog", "1", "2"]),  # real ones too: the site, comments
    query=st.dictionaries(st.sampled_from(FIELDS) | unicode_text, unicode_text, max_size=4),
    body=st.dictionaries(st.sampled_from(FIELDS), json_values | unicode_text, max_size=5),
    as_form=st.booleans(),
    bearer=header_token,
    reader=header_token,
)
def test_every_route_answers_arbitrary_unicode_without_a_server_error(
    writer: TestClient, method: str, path: str, path_value: str, query: dict[str, str], body: dict[str, Any],
    as_form: bool, bearer: str | None, reader: str | None,
) -> None:  # fmt: skip
    if not writer.get("/api/v1/counts", params={"site": "blog", "thread": "/post"}).json()["counts"]["/post"]:
        for body_text in ("A first comment", "A second one"):  # ids 1 and 2, for the paths above
            comment = {"site": "blog", "thread": "/post", "body": body_text, "author_name": "Ann"}
            assert writer.post("/api/v1/comments", json=comment).status_code == 201
    url = path
    for name in ("comment_id", "site_id", "code"):
        url = url.replace("{" + name + "}", _raw(path_value))
    url += "?" + "&".join(f"{_raw(k)}={_raw(v)}" for k, v in query.items())
    headers = {"Origin": "https://parlour.test"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    if reader is not None:
        headers["X-Parlour-Reader"] = reader
    if method == "GET":
        answer = writer.request(method, url, headers=headers)
    elif path.startswith("/desk") or as_form:
        fields = {"csrf": csrf(writer, "/desk/sites/blog"), **{k: str(v) for k, v in body.items()}}
        form = "&".join(f"{_raw(k)}={_raw(v)}" for k, v in fields.items())
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = writer.request(method, url, content=form.encode(), headers=headers)
    else:
        # orjson refuses lone surrogates; the standard library escapes them, as a client could.
        try:
            content = orjson.dumps(body)
        except TypeError:
            content = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        answer = writer.request(method, url, content=content, headers=headers)
    assert answer.status_code < 500, (method, url, answer.status_code, answer.text[:300])
