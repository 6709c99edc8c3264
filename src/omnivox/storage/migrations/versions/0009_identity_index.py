"""Identity addresses are encrypted; ``address_hash`` (a blind index) finds them.

``address`` becomes unbounded text (its ciphertext is longer than 320 characters) and the
unique key moves from the address to its blind index. Existing rows get their index and their
ciphertext when the server next starts (``privacy.rotation.index_identities``): migrations do
not hold the key ring.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# SQLite's constraint from 0001 has no name: batch mode names it by this convention to drop it
SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
OLD = {
    "sqlite": "uq_identities_workspace_id",
    "postgresql": "identities_workspace_id_channel_address_key",
}
NEW = "uq_identities_address_hash"
OLD_NAME = "uq_identities_address"  # what a downgrade recreates


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("identities", naming_convention=SQLITE_NAMES) as batch:
        batch.add_column(sa.Column("address_hash", sa.String(64)))
        batch.alter_column(
            "address", type_=sa.Text, existing_type=sa.String(320), existing_nullable=False
        )
        batch.drop_constraint(OLD[dialect], type_="unique")
        batch.create_unique_constraint(NEW, ["workspace_id", "channel", "address_hash"])


def downgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.drop_constraint(NEW, type_="unique")
        batch.drop_column("address_hash")
        batch.alter_column(
            "address", type_=sa.String(320), existing_type=sa.Text, existing_nullable=False
        )
        batch.create_unique_constraint(OLD_NAME, ["workspace_id", "channel", "address"])
