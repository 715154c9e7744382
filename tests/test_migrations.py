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
        if db.is_sqlite:  # made on PostgreSQL only (schema.py says why); autogenerate ignores ddl_if
            diff = [d for d in diff if not (d[0] == "add_index" and d[1].name == "ix_events_order")]
        assert diff == []
    finally:
        db.dispose()


def _not_search(name: str | None, kind: str, _parents: object) -> bool:
    """The search index (FTS5 tables; on PostgreSQL the stored vector and its GIN index)
    lives outside schema.py."""
    return not (name or "").startswith(("comments_fts", "ix_comments_search", "search_vector"))


def test_sqlite_database_runs_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


def test_upgrading_to_the_event_record_fills_the_inbox_with_the_comments_waiting(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    db = Database(db_url)
    try:
        command.downgrade(migrate._config(db), "0007")
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO sites (id, name, writer_name, created_at) VALUES ('s', 'S', 'W', 1)")
            )
            conn.execute(
                text(
                    "INSERT INTO threads (site_id, key, comment_count, version, created_at) VALUES ('s', '/p', 4, 4, 1)"
                )
            )
            for cid, parent, writer, status, done in [
                (1, None, False, "published", False),  # answered below: not waiting
                (2, 1, True, "published", False),  # the writer's answer
                (3, None, False, "published", False),  # waiting
                (4, None, False, "published", True),  # "no reply needed"
                (5, None, False, "pending", False),  # held
            ]:
                conn.execute(
                    text(
                        "INSERT INTO comments (id, thread_id, parent_id, depth, author_key, ip_hash, is_writer, "
                        "body, body_hash, html, status, pinned, hearts, liked_by_writer, reply_count, created_at, "
                        "inbox_done) VALUES (:id, 1, :parent, 0, 'k', 'ip', :writer, 'b', 'h', 'b', :status, "
                        "false, 0, false, 0, :id, :done)"
                    ),
                    {"id": cid, "parent": parent, "writer": writer, "status": status, "done": done},
                )
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            waiting = conn.execute(text("SELECT comment_id, site_id FROM inbox")).all()
        assert [tuple(row) for row in waiting] == [(3, "s")]
    finally:
        migrate.upgrade(db)
        db.dispose()


def test_upgrading_to_reply_mail_starts_its_consumer_at_the_end_of_the_event_record(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    db = Database(db_url)
    try:
        command.downgrade(migrate._config(db), "0013")
        with db.engine.begin() as conn:
            for n in range(3):
                conn.execute(
                    text(
                        "INSERT INTO events (tx_id, kind, site_id, thread_id, comment_id, created_at) "
                        "VALUES (:n, 'posted', 's', 1, :n, 1)"
                    ),
                    {"n": n + 1},
                )
            last = conn.execute(text("SELECT max(id), max(tx_id) FROM events")).one()
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            cursor = conn.execute(
                text("SELECT event_id, tx_id FROM event_cursors WHERE name = 'reply_mail'")
            ).one()
        assert tuple(cursor) == tuple(last)  # the years before it are not replayed as mail
    finally:
        migrate.upgrade(db)
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM events"))
            conn.execute(text("DELETE FROM event_cursors"))
        db.dispose()


def test_upgrading_marks_replies_between_readers_that_do_not_address_the_writer(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    db = Database(db_url)
    try:
        command.downgrade(migrate._config(db), "0019")
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO sites (id, name, writer_name, created_at) VALUES ('s', 'S', 'Wren', 1)")
            )
            conn.execute(
                text(
                    "INSERT INTO threads (site_id, key, comment_count, version, created_at) VALUES ('s', '/p', 5, 5, 1)"
                )
            )
            for cid, parent, writer, body in [
                (1, None, False, "A first thought"),  # starts a conversation: for her
                (2, 1, False, "I agree with you"),  # a reader answering a reader: not for her
                (3, 1, False, "Wren, what do you say"),  # names her
                (4, 1, False, "Did it work?"),  # asks
                (5, 1, True, "Thanks!"),  # hers
                (6, 5, False, "You are welcome"),  # answers her
            ]:
                conn.execute(
                    text(
                        "INSERT INTO comments (id, thread_id, parent_id, depth, author_key, ip_hash, is_writer, "
                        "body, body_hash, html, status, pinned, hearts, liked_by_writer, reply_count, created_at, "
                        "inbox_done) VALUES (:id, 1, :parent, 0, 'k', 'ip', :writer, :body, 'h', 'b', 'published', "
                        "false, 0, false, 0, :id, false)"
                    ),
                    {"id": cid, "parent": parent, "writer": writer, "body": body},
                )
                if not writer:
                    conn.execute(
                        text("INSERT INTO inbox (comment_id, site_id, created_at) VALUES (:id, 's', :id)"),
                        {"id": cid},
                    )
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            marks = dict(conn.execute(text("SELECT id, for_writer FROM comments ORDER BY id")).all())
            waiting = [
                row[0] for row in conn.execute(text("SELECT comment_id FROM inbox ORDER BY comment_id"))
            ]
        assert {cid: bool(mark) for cid, mark in marks.items()} == {
            1: True, 2: False, 3: True, 4: True, 5: True, 6: True,
        }  # fmt: skip
        assert waiting == [1, 3, 4, 6]
    finally:
        migrate.upgrade(db)
        db.dispose()


def test_instances_migrating_a_fresh_database_at_once_all_succeed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Three instances started together on an empty database each run `migrate`: they
    take turns, and the later ones find nothing left to do (on PostgreSQL they used to
    collide creating the same tables)."""
    import subprocess
    import sys
    import uuid

    from conftest import create_pg_database, drop_pg_database

    name = f"parlour_migrate_{uuid.uuid4().hex[:8]}"
    databases = [f"sqlite:///{tmp_path / 'fresh.db'}", create_pg_database(name)]
    try:
        for database in databases:
            command = [sys.executable, "-m", "parlour", "migrate", "--database", database]
            runs = [
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(3)
            ]
            outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
            assert [run.returncode for run in runs] == [0, 0, 0], outputs
            db = Database(database)
            try:
                assert migrate.pending(db) == []
            finally:
                db.dispose()
    finally:
        drop_pg_database(name)
