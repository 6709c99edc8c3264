"""Outbox times as columns: when a ``retry`` row is due and when a ``sending`` row was claimed.

Read in SQL (they lived in the encrypted metadata): the worker finds due rows without reading a
backlog of later ones, and marks a row ``unknown`` only when its claim, not its creation, is old.

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
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_outbox", "messages", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_outbox", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("next_attempt_at")
