"""Add imports: each run and its report, and where each imported comment came from.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=True),
        sa.Column("thread_key", sa.String(500), nullable=True),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("review", sa.String(16), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_imports_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_imports"),
    )
    op.create_index("ix_imports_site", "imports", ["site_id", "id"])
    op.create_table(
        "imported_comments",
        sa.Column("comment_id", Id, nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("import_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_imported_comments_comment_id_comments", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_imported_comments_site_id_sites", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["imports.id"], name="fk_imported_comments_import_id_imports", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("comment_id", name="pk_imported_comments"),
        sa.UniqueConstraint("site_id", "source", name="uq_imported_comments_site_id_source"),
    )  # fmt: skip
    op.create_index("ix_imported_comments_import", "imported_comments", ["import_id"])


def downgrade() -> None:
    op.drop_index("ix_imported_comments_import", table_name="imported_comments")
    op.drop_table("imported_comments")
    op.drop_index("ix_imports_site", table_name="imports")
    op.drop_table("imports")
