"""PostgreSQL: keep each comment's search vector in the row, not only in the index.

Searching for a common word, PostgreSQL walks the comments newest first and checks each
for the word; with only an expression index it computed `to_tsvector` again for every
row it looked at (20 ms at a million comments for a word in one comment in ten). A
stored generated column makes that check a lookup. The GIN index moves to the column,
under the same name. Adding the column rewrites the comments table once (about half a
minute at a million comments). SQLite keeps its FTS5 table (migration 0005).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE comments ADD COLUMN search_vector tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED"
    )
    op.execute("DROP INDEX ix_comments_search")
    op.execute("CREATE INDEX ix_comments_search ON comments USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_comments_search")
    op.execute("CREATE INDEX ix_comments_search ON comments USING gin (to_tsvector('simple', body))")
    op.execute("ALTER TABLE comments DROP COLUMN search_vector")
