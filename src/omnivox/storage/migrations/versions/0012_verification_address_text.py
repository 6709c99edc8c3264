"""Verification addresses are stored encrypted: the column becomes text (ciphertext is longer).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("verifications") as batch:
        batch.alter_column("address", type_=sa.Text(), existing_type=sa.String(320))


def downgrade() -> None:
    with op.batch_alter_table("verifications") as batch:
        batch.alter_column("address", type_=sa.String(320), existing_type=sa.Text())
