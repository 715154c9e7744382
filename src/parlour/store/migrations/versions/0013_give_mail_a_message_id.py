"""Give each outbox message its Message-ID, chosen once, and a permanent failure time;
index the outbox by recipient.

A retried message goes out under the same Message-ID, so a receiving server that saw it
once can tell; a message the server refused for good is not retried; the index serves
the per-recipient rate limit.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("message_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("failed_at", sa.BigInteger(), nullable=True))
    op.create_index("ix_outbox_recipient", "outbox", ["recipient", "sent_at"])
    # Messages already waiting get theirs now, so that their retries agree too.
    op.execute(
        "UPDATE outbox SET message_id = '<outbox.' || CAST(id AS VARCHAR(20)) || '.' "
        "|| CAST(created_at AS VARCHAR(20)) || '@parlour.invalid>' WHERE message_id IS NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_recipient", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("failed_at")
        batch.drop_column("message_id")
