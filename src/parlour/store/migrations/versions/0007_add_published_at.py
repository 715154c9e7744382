"""Add comments.published_at: when a comment became visible (at posting, or on approval).

Revision ID: 0007
Revises: 0006

The live feed polls on it instead of created_at, so a comment a moderator approves later
reaches open pages too.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.BigInteger(), nullable=True))
        batch_op.drop_index("ix_comments_created")
    op.execute("UPDATE comments SET published_at = created_at WHERE status IN ('published', 'removed')")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_published", ["published_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_published")
        batch_op.create_index("ix_comments_created", ["created_at"], unique=False)
        batch_op.drop_column("published_at")
