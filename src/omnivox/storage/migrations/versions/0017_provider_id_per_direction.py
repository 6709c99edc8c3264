"""A message's provider id is unique per direction (``uq_messages_provider_id``).

The key deduplicates a provider's resent inbound messages; an outbound row keeps its provider
id for the provider's status reports. Until now the key spanned both directions: an inbound
message carrying one of our replies' ids (an email whose Message-ID is a reply's: a mail loop,
a resend) was taken for a retry and dropped, and a receipt carrying an inbound message's id
could not be recorded. A downgrade fails while an inbound and an outbound message share an id.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

NAME = "uq_messages_provider_id"  # named in 0001 on both SQLite and PostgreSQL


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(NAME, type_="unique")
        batch.create_unique_constraint(
            NAME, ["workspace_id", "channel", "direction", "provider_message_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(NAME, type_="unique")
        batch.create_unique_constraint(NAME, ["workspace_id", "channel", "provider_message_id"])
