"""Factories and personas: tests say who acts (`reader`, `writer`, `stranger`) and what happens."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any, TypeVar

import httpx2 as httpx
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from parlour.app import create_app
from parlour.services import sites
from parlour.services.context import Context

BLOG = "https://blog.example"

T = TypeVar("T")

PUSH_WINDOW = 1.0  # seconds: a write through one process is read through any other by then


def within(seconds: float, check: Callable[[], T]) -> T:
    """`check()` once it stops failing its assertions, trying again until `seconds` passed.

    For what another process learns of by a push (services/directory.py): its caches are
    true within PUSH_WINDOW of a commit, not at the instant of it.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def make_site(
    ctx: Context, site_id: str = "blog", origins: tuple[str, ...] = (BLOG,), writer: str = "Wren"
) -> str:
    sites.create_site(ctx, site_id, site_id.title(), writer, list(origins))
    return site_id


def writer_headers(ctx: Context, site_id: str = "blog") -> dict[str, str]:
    return {"Authorization": "Bearer " + sites.create_writer_token(ctx, site_id)}


def post(client: TestClient, body: str = "Hello there", *, expect: int | None = 201, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
    """POST a comment (site `blog`, thread `/post` unless given) and return the JSON answer."""
    payload = {"site": "blog", "thread": "/post", "body": body, **fields}
    response = client.post("/api/v1/comments", json=payload, headers=headers or {})
    if expect is not None:
        assert response.status_code == expect, response.text
    data: dict[str, Any] = response.json()
    return data


def read(client: TestClient, thread: str = "/post", site: str = "blog", **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/comments", params={"site": site, "thread": thread, **params})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    assert_matches_schema(data, "PageOut")
    return data


def new_reader(client: TestClient) -> dict[str, str]:
    response = client.post("/api/v1/readers")
    assert response.status_code == 201, response.text
    assert_matches_schema(response.json(), "ReaderOut")
    return {"X-Parlour-Reader": response.json()["reader_token"]}


@cache
def openapi_document() -> dict[str, Any]:
    from parlour.settings import Settings

    app = create_app(Settings(database="sqlite:///:memory:"))
    document: dict[str, Any] = app.openapi()
    return document


def assert_matches_schema(data: Any, schema_name: str) -> None:
    """Validate an API answer against the component schema in our OpenAPI document."""
    document = openapi_document()
    assert schema_name in document["components"]["schemas"], schema_name
    root = {**document, "$ref": f"#/components/schemas/{schema_name}"}
    errors = sorted(Draft202012Validator(root).iter_errors(data), key=str)
    assert not errors, [e.message for e in errors[:5]]


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert_matches_schema(body, "ErrorOut")
    code: str = body["error"]["code"]
    return code


def walk(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every comment in a nested list, depth first."""
    out: list[dict[str, Any]] = []
    for c in comments:
        out.append(c)
        out.extend(walk(c["replies"]))
    return out


def drain_all(ctx: Context, consumer: Any) -> None:
    """Drain `consumer` until it has handled every event recorded before this call.

    On PostgreSQL an event becomes readable only once every older transaction has ended
    (store/events.py), so one drain may stop short while another connection (a worker in
    the background) still has a transaction open: drain again until none is left."""
    from sqlalchemy import text

    from parlour.services import consumers
    from parlour.store import events

    with ctx.db.read() as tx:
        last = events.last_id(tx)

    def done() -> None:
        consumers.drain(ctx.db, consumer, ctx.now)
        with ctx.db.read() as tx:
            tx_id, event_id = events.cursor(tx, consumer.name)
            left = tx.execute(
                text(
                    "SELECT count(*) FROM events WHERE id <= :last AND (tx_id > :t OR (tx_id = :t AND id > :e))"
                ),
                {"last": last, "t": tx_id, "e": event_id},
            ).scalar_one()
        assert left == 0, f"{left} events not handled yet"

    within(15, done)


def mail_bodies(ctx: Context, address: str) -> list[str]:
    """The text of every message to `address` in the outbox, sent or not (without
    PARLOUR_SMTP_URL a running server "sends" it to its log within a second)."""
    from sqlalchemy import text

    with ctx.db.read() as tx:
        rows = tx.execute(text("SELECT body FROM outbox WHERE recipient = :r ORDER BY id"), {"r": address})
        return [str(row[0]) for row in rows]


def started_processes(monkeypatch: Any, module: ModuleType) -> list[subprocess.Popen[bytes]]:
    """The child processes `module` starts from now on (it calls `subprocess.Popen`)."""
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child = real(*args, **kwargs)
        started.append(child)
        return child

    monkeypatch.setattr(module.subprocess, "Popen", popen)
    return started
