"""Alembic environment: runs on the engine the daemon hands over (see syncd.store.db)."""

from alembic import context

from syncd.store.tables import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
    )
    context.run_migrations()
