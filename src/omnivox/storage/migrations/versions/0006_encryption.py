"""Encryption at rest: columns that hold ciphertext become unbounded text.

The encrypted values (``enc:v1:<key id>:<base64>``) are longer than the plaintext limits they
replace. JSON columns keep their type: their ciphertext is stored as a JSON string.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("display_name", type_=sa.Text, existing_type=sa.String(200))
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("subject", type_=sa.Text, existing_type=sa.String(200))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("subject", type_=sa.String(200), existing_type=sa.Text)
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("display_name", type_=sa.String(200), existing_type=sa.Text)
