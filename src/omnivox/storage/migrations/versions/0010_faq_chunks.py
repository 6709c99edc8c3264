"""Knowledge chunks know whether they come from a FAQ entry (search matches those by question).

Chunks stored before this revision from a CSV file are FAQ rows (a CSV is only ever a FAQ), so
they are marked here; JSONL FAQ entries (``question``/``answer``) did not exist before it.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_chunks") as batch:
        batch.add_column(sa.Column("faq", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE kb_chunks SET faq = TRUE WHERE file_id IN "
        "(SELECT id FROM kb_files WHERE lower(path) LIKE '%.csv')"
    )


def downgrade() -> None:
    with op.batch_alter_table("kb_chunks") as batch:
        batch.drop_column("faq")
