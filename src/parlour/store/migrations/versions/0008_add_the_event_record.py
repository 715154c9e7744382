"""Add the event record (events, event_cursors) and the reply inbox table.

Revision ID: 0008
Revises: 0007

Every change to a comment, thread or site writes an event in its own transaction.
On PostgreSQL a trigger NOTIFYs `parlour_changes` with "site_id thread_id" for each
one, at commit, so every process can drop what it cached of that thread. The inbox is
filled here from the comments already stored; from now on the inbox consumer keeps it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("tx_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("thread_id", Id),
        sa.Column("comment_id", Id),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    if op.get_bind().dialect.name == "postgresql":  # SQLite reads by id, the primary key
        op.create_index("ix_events_order", "events", ["tx_id", "id"])
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("tx_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_event_cursors"),
    )
    op.create_table(
        "inbox",
        sa.Column("comment_id", Id, nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_inbox_comment_id_comments", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("comment_id", name="pk_inbox"),
    )
    op.create_index("ix_inbox_site", "inbox", ["site_id", "created_at", "comment_id"])
    op.execute(
        "INSERT INTO inbox (comment_id, site_id, created_at) "
        "SELECT c.id, t.site_id, c.created_at FROM comments c JOIN threads t ON t.id = c.thread_id "
        "WHERE c.is_writer = false AND c.status = 'published' AND c.inbox_done = false AND NOT EXISTS ("
        "SELECT 1 FROM comments r WHERE r.parent_id = c.id AND r.is_writer = true AND r.status = 'published')"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION parlour_events_notify() RETURNS trigger AS $$ BEGIN "
            "PERFORM pg_notify('parlour_changes', NEW.site_id || ' ' || coalesce(NEW.thread_id::text, '')); "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER events_notify AFTER INSERT ON events "
            "FOR EACH ROW EXECUTE FUNCTION parlour_events_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER events_notify ON events")
        op.execute("DROP FUNCTION parlour_events_notify()")
    op.drop_table("inbox")
    op.drop_table("event_cursors")
    op.drop_table("events")
