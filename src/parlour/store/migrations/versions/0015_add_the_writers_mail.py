"""Add the writer's mail: per site, new comments each or as a daily digest (or not at
all) and a weekly mail of what is still unanswered; the digests sent, so that each goes
out once.

The writer-mail consumer starts at the end of the event record: an upgraded instance
does not mail its writers about years of comments.

Revision ID: 0015
Revises: 0014
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("writer_mail", sa.String(8), nullable=False, server_default="each"))
        batch.add_column(sa.Column("unanswered_mail", sa.Boolean(), nullable=False, server_default="1"))
    op.create_table(
        "digests",
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_digests_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "kind", "period", name="pk_digests"),
    )
    now = int(time.time() * 1000)
    op.execute(
        "INSERT INTO event_cursors (name, tx_id, event_id, updated_at) "
        f"SELECT 'writer_mail', COALESCE(MAX(tx_id), 0), COALESCE(MAX(id), 0), {now} FROM events"
    )


def downgrade() -> None:
    op.execute("DELETE FROM event_cursors WHERE name = 'writer_mail'")
    op.drop_table("digests")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("unanswered_mail")
        batch.drop_column("writer_mail")
