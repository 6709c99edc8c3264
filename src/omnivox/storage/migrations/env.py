"""Alembic environment: runs on the connection Omnivox hands it (see storage/db.py)."""

from alembic import context

from omnivox.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through omnivox (Database.migrate), not the alembic CLI")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
