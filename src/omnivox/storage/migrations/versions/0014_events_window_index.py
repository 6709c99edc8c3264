"""An index for reading a workspace's events of one type over a window (the dashboard).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_events_workspace_type_time", "events", ["workspace_id", "type", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_events_workspace_type_time", "events")
