"""Alembic environment: runs online against the connection Deputy hands in (see ``Database.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from deputy.storage.sql.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic` command line (development): a URL in the ini file
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
