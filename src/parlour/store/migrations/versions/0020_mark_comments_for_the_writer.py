"""Mark which reader comments are for the writer: a reply to another reader is only when
it names her or asks a question (domain/addressing.py); the others leave the inbox.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

from parlour.domain.addressing import addresses_writer

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_REPLIES_TO_READERS = sa.text(
    "SELECT c.id, c.body, s.writer_name FROM comments c "
    "JOIN comments p ON p.id = c.parent_id "
    "JOIN threads t ON t.id = c.thread_id JOIN sites s ON s.id = t.site_id "
    "WHERE c.is_writer = false AND p.is_writer = false ORDER BY c.id"
)
_CHUNK = 500


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch_op:
        batch_op.add_column(sa.Column("for_writer", sa.Boolean(), server_default="1", nullable=False))
    bind = op.get_bind()
    # Read in full before writing: the rows are ids and bodies of replies between readers.
    not_for_her = [
        row.id for row in bind.execute(_REPLIES_TO_READERS) if not addresses_writer(row.body, row.writer_name)
    ]
    for start in range(0, len(not_for_her), _CHUNK):
        ids = not_for_her[start : start + _CHUNK]
        marks = {f"id{n}": comment_id for n, comment_id in enumerate(ids)}
        names = ", ".join(f":{name}" for name in marks)
        bind.execute(sa.text(f"UPDATE comments SET for_writer = false WHERE id IN ({names})"), marks)
        bind.execute(sa.text(f"DELETE FROM inbox WHERE comment_id IN ({names})"), marks)


def downgrade() -> None:
    with op.batch_alter_table("comments") as batch_op:
        batch_op.drop_column("for_writer")
