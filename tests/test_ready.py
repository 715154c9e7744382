"""Alive and ready: /-/health asks nothing of the database, /-/ready asks whether it answers
and carries this code's migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import text

from parlour.app import create_app
from parlour.domain import errors
from parlour.services import health
from parlour.services.context import Context, open_context
from parlour.settings import Settings
from parlour.store import migrate, revisions
from servers import free_port


def test_the_code_head_read_from_the_revision_files_is_alembics() -> None:
    script = ScriptDirectory(str(migrate.MIGRATIONS))
    head, known = revisions.known()
    assert head == script.get_current_head()
    assert known == {rev.revision for rev in script.walk_revisions()}


def test_a_migrated_database_is_ready(client: TestClient) -> None:
    ready = client.get("/-/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "revision": revisions.known()[0],
        "expected": revisions.known()[0],
    }
    assert ready.headers["cache-control"] == "no-store"


def _set_revision(ctx: Context, revision: str) -> None:
    with ctx.db.write() as tx:
        tx.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_database_behind_the_code_is_not_ready_but_alive(ctx: Context, client: TestClient) -> None:
    head = revisions.known()[0]
    _set_revision(ctx, "0019")
    try:
        refused = client.get("/-/ready")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "migrations_pending"
        assert refused.json()["error"]["details"] == {"revision": "0019", "expected": head}
        assert client.get("/-/health").json()["status"] == "ok"
    finally:
        _set_revision(ctx, head)


def test_a_database_a_newer_parlour_migrated_is_ready_during_a_rolling_upgrade(
    ctx: Context, client: TestClient
) -> None:
    head = revisions.known()[0]
    _set_revision(ctx, "9999")
    try:
        ready = client.get("/-/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "revision": "9999", "expected": head}
    finally:
        _set_revision(ctx, head)


def test_a_database_that_does_not_answer_is_not_ready_while_the_process_is_alive(tmp_path: Path) -> None:
    # A real PostgreSQL URL on a port where nothing listens.
    settings = Settings(database=f"postgresql://postgres@127.0.0.1:{free_port()}/none", secret="s")
    gone = open_context(settings)
    try:
        with pytest.raises(errors.DatabaseUnavailable):
            health.readiness(gone)
        app = create_app(context=gone)
        with TestClient(app) as client:
            assert client.get("/-/health").status_code == 200
            refused = client.get("/-/ready")
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "database_unavailable"
    finally:
        gone.close()
