"""Knowledge base: ingested files, chunks with embeddings, per-workspace version.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kb_files",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("source_id", sa.String(500), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("documents", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("workspace_id", "path"),
    )
    op.create_table(
        "kb_chunks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column(
            "file_id", BigId, sa.ForeignKey("kb_files.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("source_id", sa.String(500), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("heading_path", sa.JSON, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("url", sa.String(1000)),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_kb_chunks_workspace_file", "kb_chunks", ["workspace_id", "file_id"])
    op.create_table(
        "kb_state",
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), primary_key=True),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("kb_state", "kb_chunks", "kb_files"):
        op.drop_table(table)
