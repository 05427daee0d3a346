"""Alembic environment: the engine comes from the caller (:func:`hub.db.migrate.upgrade`)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from hub.db.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through hub.db.migrate (vivant hub migrate)")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
