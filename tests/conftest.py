"""Fixtures: every test that takes `db_url` runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from parlour.app import create_app
from parlour.services.context import Context, open_context
from parlour.settings import Settings
from parlour.store import Database, migrate
from smtp_server import Server, running_smtp

PG_URL = os.environ.get("PARLOUR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("PARLOUR_TEST_REQUIRE_POSTGRES") == "1"
TABLES = (
    "meta, sites, site_origins, tokens, threads, comments, hearts, readers, idempotency_keys, "
    "users, memberships, sign_in_links, sign_in_attempts, outbox, audit_log, blocks, events, event_cursors, inbox, "
    "revoked_tokens, widget_grants, mail_readers, subscriptions, digests, site_readers, webhooks, "
    "webhook_deliveries, reader_accounts, reader_sign_ins, imports, imported_comments"
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "parlour.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id: str, testrun_uid: str) -> Iterator[str | None]:
    """A fresh, migrated PostgreSQL database for this test worker of this run (so two
    runs on one machine, say two checkouts, never share one), dropped at the end."""
    name = f"parlour_test_{testrun_uid[:8]}_{worker_id}".replace("-", "_")
    url = create_pg_database(name)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    yield url
    drop_pg_database(name)


def create_pg_database(name: str) -> str:
    """An empty PostgreSQL database `name` on the test server (made afresh), its URL; the
    test is skipped if the server is not reachable, unless PostgreSQL is required."""
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if REQUIRE_PG:
            raise
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}: {exc}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_URL.rpartition('/')[0]}/{name}"


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "parlour.db"
        shutil.copy(sqlite_template, target)
        return f"sqlite:///{target}"
    url: str | None = request.getfixturevalue("postgres_url")
    assert url is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Test settings: a fixed secret, and no per-address limit (tests post from one address)."""
    return Settings(database=db_url, secret="test-secret", comment_rate_limit=0, reader_rate_limit=0)


@pytest.fixture
def make_ctx(settings: Settings) -> Iterator[Any]:
    """Open a context with some settings changed."""
    opened: list[Context] = []

    def make(**changes: Any) -> Context:
        ctx = open_context(settings.replace(**changes))
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


@pytest.fixture
def ctx(make_ctx: Any) -> Context:
    context: Context = make_ctx()
    return context


@pytest.fixture
def client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(context=ctx), base_url="http://parlour.test") as test_client:
        yield test_client


@pytest.fixture
def client_for(make_ctx: Any) -> Iterator[Any]:
    """A client on a context with some settings changed."""
    clients: list[TestClient] = []

    def make(peer: str = "testclient", **changes: Any) -> TestClient:
        c = TestClient(
            create_app(context=make_ctx(**changes)), base_url="http://parlour.test", client=(peer, 50000)
        )
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def writer(ctx: Context) -> Iterator[TestClient]:
    """The owner of site `blog`, signed in to the desk (her own browser: cookies)."""
    from desk_helpers import desk_client, make_user, sign_in
    from factories import make_site

    make_site(ctx)
    make_user(ctx, "wren@blog.example", owner=True)
    client = desk_client(ctx)
    sign_in(client, "wren@blog.example")
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def smtp() -> Iterator[tuple[Server, int]]:
    """A real SMTP server (aiosmtpd) on a free port: (what it received and refuses, port)."""
    handler = Server()
    with running_smtp(handler) as port:
        yield handler, port


@pytest.fixture(autouse=True)
def _close_desk_clients() -> Iterator[None]:
    from desk_helpers import close_desk_clients

    yield
    close_desk_clients()
