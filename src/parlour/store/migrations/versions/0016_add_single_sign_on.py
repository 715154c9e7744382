"""Add single sign-on and who may comment: a site's SSO secret and its choice of who may
comment (and a thread's own), the readers signed in by SSO with the names that are
theirs, and the mark on their comments.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(
            sa.Column("who_may_comment", sa.String(16), nullable=False, server_default="everyone")
        )
        batch.add_column(sa.Column("sso_secret", sa.String(100), nullable=True))
    with op.batch_alter_table("threads") as batch:
        batch.add_column(sa.Column("who_may_comment", sa.String(16), nullable=True))
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("author_verified", sa.Boolean(), nullable=False, server_default="0"))
    op.create_table(
        "site_readers",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(220), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("folded_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("picture", sa.String(2000), nullable=True),
        sa.Column("tier", sa.String(8), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_site_readers_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "subject", name="pk_site_readers"),
    )
    op.create_index("ix_site_readers_name", "site_readers", ["site_id", "folded_name"])


def downgrade() -> None:
    op.drop_index("ix_site_readers_name", table_name="site_readers")
    op.drop_table("site_readers")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("author_verified")
    with op.batch_alter_table("threads") as batch:
        batch.drop_column("who_may_comment")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("sso_secret")
        batch.drop_column("who_may_comment")
