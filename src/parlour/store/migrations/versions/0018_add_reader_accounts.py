"""Add readers who sign in with an email link: their accounts, and sign-ins in progress.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reader_accounts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reader_accounts"),
        sa.UniqueConstraint("email", name="uq_reader_accounts_email"),
    )
    op.create_table(
        "reader_sign_ins",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.Column("account_id", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_reader_sign_ins_site_id_sites", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["reader_accounts.id"], name="fk_reader_sign_ins_account_id_reader_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reader_sign_ins"),
        sa.UniqueConstraint("token_hash", name="uq_reader_sign_ins_token_hash"),
    )  # fmt: skip
    op.create_index("ix_reader_sign_ins_browser", "reader_sign_ins", ["browser_hash", "id"])


def downgrade() -> None:
    op.drop_index("ix_reader_sign_ins_browser", table_name="reader_sign_ins")
    op.drop_table("reader_sign_ins")
    op.drop_table("reader_accounts")
