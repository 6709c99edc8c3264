"""One customer across channels: identity kinds and evidence, merges, verifications, consent,
conversation summaries.

- ``identities.channel`` now holds the identifier's *kind*: SMS, voice and WhatsApp senders are
  all ``phone`` (E.164), so one number is one identity whichever channel it writes from.
- ``identities.source`` says how the identifier was proven (``seed``, ``channel``, ``code``,
  ``link``, ``api``) and ``verified_at`` when.
- ``customers.merged_into`` marks a profile folded into another (kept for unmerge).
- ``verifications``: one-time codes and signed links proving an identifier.
- ``consents``: append-only consent decisions per customer, purpose and channel.
- ``conversations.summary``/``summary_seq``: the rolling summary of earlier turns.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.add_column(
            sa.Column("source", sa.String(16), nullable=False, server_default="channel")
        )
        batch.add_column(sa.Column("verified_at", TS))
    op.execute("UPDATE identities SET channel = 'phone' WHERE channel IN ('sms', 'voice')")
    op.execute(
        "UPDATE identities SET channel = 'phone', address = '+' || address "
        "WHERE channel = 'whatsapp' AND NOT EXISTS (SELECT 1 FROM identities AS i2 "
        "WHERE i2.workspace_id = identities.workspace_id AND i2.channel = 'phone' "
        "AND i2.address = '+' || identities.address)"
    )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("merged_into", sa.String(40)))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("summary", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("summary_seq", BigId, nullable=False, server_default="0"))
    op.create_index(
        "ix_conversations_customer_updated", "conversations", ["customer_id", "updated_at"]
    )
    op.create_table(
        "verifications",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_verifications_customer", "verifications", ["customer_id", "created_at"])
    op.create_table(
        "consents",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_consents_customer", "consents", ["customer_id", "purpose", "channel"])


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_table("verifications")
    op.drop_index("ix_conversations_customer_updated", "conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("summary_seq")
        batch.drop_column("summary")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("merged_into")
    op.execute("UPDATE identities SET channel = 'sms' WHERE channel = 'phone'")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("verified_at")
        batch.drop_column("source")
