"""Full-text search over comments: FTS5 on SQLite, a GIN index on PostgreSQL.

Revision ID: 0005
Revises: 0004

SQLite: an external-content FTS5 table `comments_fts` over `comments.body`, kept in step
by triggers (so every write path, including raw driver statements, indexes). PostgreSQL:
an expression index on `to_tsvector('simple', body)`, which the search query matches.
Neither is in `store/schema.py`: they are not tables the code writes to.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE comments_fts USING fts5("
            "body, content='comments', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute("INSERT INTO comments_fts(rowid, body) SELECT id, body FROM comments")
        op.execute(
            "CREATE TRIGGER comments_fts_insert AFTER INSERT ON comments BEGIN "
            "INSERT INTO comments_fts(rowid, body) VALUES (new.id, new.body); END"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_delete AFTER DELETE ON comments BEGIN "
            "INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.id, old.body); END"
        )
        op.execute(
            "CREATE TRIGGER comments_fts_update AFTER UPDATE OF body ON comments BEGIN "
            "INSERT INTO comments_fts(comments_fts, rowid, body) VALUES ('delete', old.id, old.body); "
            "INSERT INTO comments_fts(rowid, body) VALUES (new.id, new.body); END"
        )
    else:
        op.execute("CREATE INDEX ix_comments_search ON comments USING gin (to_tsvector('simple', body))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ["comments_fts_insert", "comments_fts_delete", "comments_fts_update"]:
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE comments_fts")
    else:
        op.execute("DROP INDEX ix_comments_search")
