"""Add reply mail: readers' addresses per site with their double opt-in, what each asked
to hear of, and an HTML part, extra headers and a hand-over time for outbox messages.

The reply-mail consumer starts at the end of the event record: an instance upgraded
with years of comments does not walk them all, and nobody had asked for mail before.

Revision ID: 0014
Revises: 0013
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("html", sa.Text(), nullable=True))
        batch.add_column(sa.Column("headers", sa.Text(), nullable=True))
        batch.add_column(sa.Column("handed_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "mail_readers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("confirm_sent_at", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at", sa.BigInteger(), nullable=True),
        sa.Column("unsubscribed_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_mail_readers_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mail_readers"),
        sa.UniqueConstraint("site_id", "email", name="uq_mail_readers_site_id_email"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("reader_id", Id, nullable=False),
        sa.Column("thread_id", Id, nullable=False),
        sa.Column("comment_id", Id, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["mail_readers.id"], name="fk_subscriptions_reader_id_mail_readers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name="fk_subscriptions_thread_id_threads", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_subscriptions_comment_id_comments", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
    )  # fmt: skip
    op.create_index("ix_subscriptions_comment", "subscriptions", ["comment_id"])
    op.create_index("ix_subscriptions_thread", "subscriptions", ["thread_id", "kind"])
    op.create_index("ix_subscriptions_reader", "subscriptions", ["reader_id", "thread_id"])
    now = int(time.time() * 1000)
    op.execute(
        "INSERT INTO event_cursors (name, tx_id, event_id, updated_at) "
        f"SELECT 'reply_mail', COALESCE(MAX(tx_id), 0), COALESCE(MAX(id), 0), {now} FROM events"
    )


def downgrade() -> None:
    op.execute("DELETE FROM event_cursors WHERE name = 'reply_mail'")
    op.drop_table("subscriptions")
    op.drop_table("mail_readers")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("handed_at")
        batch.drop_column("headers")
        batch.drop_column("html")
