"""A workspace's knowledge base records which encoder made its vectors (``knowledge.embedder``).

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
    # null: made before this column, by the bundled all-MiniLM-L6-v2 (the only encoder then)
    with op.batch_alter_table("kb_state") as batch:
        batch.add_column(sa.Column("embedder", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kb_state") as batch:
        batch.drop_column("embedder")
