"""The shipped migrations build exactly the schema the code expects."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from parlour.store import Database, migrate
from parlour.store.schema import metadata


def test_migrated_database_matches_the_table_definitions(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate.upgrade(db)
        assert migrate.pending(db) == []
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": _not_search})
            diff = compare_metadata(context, metadata)
        assert diff == []
    finally:
        db.dispose()


def _not_search(name: str | None, kind: str, _parents: object) -> bool:
    """The search index (FTS5 tables, the PostgreSQL GIN index) lives outside schema.py."""
    return not (name or "").startswith(("comments_fts", "ix_comments_search"))


def test_sqlite_database_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()
