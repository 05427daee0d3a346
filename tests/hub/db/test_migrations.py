"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import alembic_config, current_revision, head_revision, upgrade
from hub.db.models import Base, Member


def test_upgrade_from_empty_reaches_head_and_matches_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        command.downgrade(alembic_config(engine), "base")
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


def test_datetimes_come_back_aware_utc_on_every_backend(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    paris_winter = timezone(timedelta(hours=1))
    try:
        upgrade(engine)
        with sessions.begin() as session:
            session.add(
                Member(
                    first_name="Léa", created_at=datetime(2026, 3, 29, 3, 0, tzinfo=paris_winter)
                )
            )
        with sessions() as session:
            member = session.query(Member).one()
        assert member.created_at == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
        assert member.created_at.tzinfo is UTC
        with pytest.raises(Exception, match="naive datetime"), sessions.begin() as session:
            session.add(Member(first_name="Naïf", created_at=datetime(2026, 1, 1)))
    finally:
        engine.dispose()
