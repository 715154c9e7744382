"""Add moderation: per-site settings, locked threads, and blocked readers.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("moderation", sa.String(length=16), server_default="publish", nullable=False)
        )
        batch_op.add_column(sa.Column("held_words", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("rejected_words", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("max_links", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("close_after_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("edit_window", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("writer_heart", sa.Boolean(), server_default="1", nullable=False))
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked", sa.Boolean(), server_default="0", nullable=False))
    op.create_table(
        "blocks",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_blocks_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocks")),
    )
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.create_index("ix_blocks_site", ["site_id", "kind", "value"], unique=False)


def downgrade() -> None:
    op.drop_table("blocks")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("locked")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        for column in [
            "writer_heart",
            "edit_window",
            "close_after_days",
            "max_links",
            "rejected_words",
            "held_words",
            "moderation",
        ]:
            batch_op.drop_column(column)
