"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
    upgrade_path,
)
from hub.db.models import Base, Member, Moment
from hub.db.types import UtcDateTime


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


# What an installation of the first release holds, written with the first schema's columns only
# (lightweight tables: the models describe the latest schema, not this one).
T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
FIRST_SCHEMA_ROWS: dict[str, list[dict[str, object]]] = {
    "sites": [{"id": "ekilibre", "name": "éKilibre", "timezone": "Europe/Paris"}],
    "rooms": [
        {
            "site_id": "ekilibre",
            "id": "accueil",
            "name": "Accueil",
            "kind": "lobby",
            "capacity": None,
        },
        {
            "site_id": "ekilibre",
            "id": "cuisine",
            "name": "Cuisine",
            "kind": "community",
            "capacity": 20,
        },
    ],
    "members": [
        {
            "id": 1,
            "first_name": "Léa",
            "last_name": "Martin",
            "email": "lea@example.org",
            "language": "fr",
            "external_ref": "N-1",
            "created_at": T0,
        },
        {
            "id": 2,
            "first_name": "Karim",
            "last_name": None,
            "email": None,
            "language": "en",
            "external_ref": None,
            "created_at": T0 + timedelta(days=1),
        },
    ],
    "credentials": [
        {
            "id": 1,
            "member_id": 1,
            "kind": "badge",
            "value": "04a1b2c3",
            "label": "Bleu",
            "created_at": T0,
        },
    ],
    "member_consents": [{"member_id": 1, "scope": "screen_display", "granted_at": T0}],
    "nodes": [
        {
            "site_id": "ekilibre",
            "id": "entree",
            "status": "online",
            "status_changed_at": T0,
            "last_seen_at": T0,
            "telemetry": {"ts": 1772440200000, "uptime_s": 5},
        },
    ],
    "presence_sessions": [
        {
            "id": 1,
            "member_id": 1,
            "site_id": "ekilibre",
            "arrived_at": T0,
            "arrival_source": "badge",
            "last_seen_at": T0 + timedelta(hours=2),
            "departed_at": T0 + timedelta(hours=3),
            "departure_source": "timeout",
        },
    ],
    "badge_taps": [
        {
            "id": 1,
            "site_id": "ekilibre",
            "node_id": "entree",
            "room_id": "accueil",
            "reader": "entree",
            "msg_id": "m-1",
            "credential": "04a1b2c3",
            "member_id": 1,
            "outcome": "known",
            "observed_at": T0,
            "received_at": T0 + timedelta(seconds=1),
        },
    ],
    "moments": [
        {
            "id": 1,
            "site_id": "ekilibre",
            "room_id": "cuisine",
            "title": "Petit déjeuner",
            "kind": "breakfast",
            "description": "Croissants",
            "starts_at": T0 + timedelta(hours=1),
            "ends_at": T0 + timedelta(hours=2),
            "cancelled_at": None,
            "created_at": T0,
        },
    ],
    "seen_messages": [
        {"site_id": "ekilibre", "node_id": "entree", "msg_id": "m-1", "seen_at": T0},
    ],
}
_DATETIMES = {
    "created_at",
    "granted_at",
    "status_changed_at",
    "last_seen_at",
    "arrived_at",
    "departed_at",
    "observed_at",
    "received_at",
    "starts_at",
    "ends_at",
    "cancelled_at",
    "seen_at",
}


def _table(name: str) -> sa.TableClause:
    columns = [
        sa.column(
            key, UtcDateTime() if key in _DATETIMES else sa.JSON() if key == "telemetry" else None
        )
        for key in FIRST_SCHEMA_ROWS[name][0]
    ]
    return sa.table(name, *columns)


def _read(connection: sa.Connection, name: str) -> list[dict[str, object]]:
    table = _table(name)
    keys = list(FIRST_SCHEMA_ROWS[name][0])
    rows = connection.execute(sa.select(table)).mappings()
    return [{key: row[key] for key in keys} for row in rows]


def test_upgrade_from_the_first_schema_keeps_the_data(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as connection:
            for name, rows in FIRST_SCHEMA_ROWS.items():
                connection.execute(sa.insert(_table(name)), rows)
        steps = upgrade_path(engine, "0001")
        assert steps is not None
        assert steps[-1] == head_revision(engine)
        for step in steps:  # one migration at a time, as successive releases would
            upgrade(engine, step)
            assert current_revision(engine) == step
            with engine.connect() as connection:
                for name, rows in FIRST_SCHEMA_ROWS.items():
                    expected = sorted(rows, key=lambda r: [str(v) for v in r.values()])
                    found = sorted(
                        _read(connection, name), key=lambda r: [str(v) for v in r.values()]
                    )
                    assert found == expected, f"{name} after {step}"
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        # The latest models read what the first release wrote.
        with make_sessionmaker(engine)() as session:
            moment = session.get(Moment, 1)
            assert moment is not None
            assert moment.title == "Petit déjeuner"
            assert moment.starts_at == T0 + timedelta(hours=1)
            member = session.get(Member, 1)
            assert member is not None
            assert member.first_name == "Léa"
    finally:
        engine.dispose()
