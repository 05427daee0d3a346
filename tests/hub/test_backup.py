"""Backups and restores on real SQLite and PostgreSQL (pg_dump / pg_restore of this machine)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.backup import BackupError, backup, restore
from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import head_revision
from hub.db.models import Base, Member, MemberConsent
from tests.support.databases import temporary_database
from tests.support.factories import moment_soon
from vivant.cli import main

BATCH = 5


def snapshot(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, as text, sorted: what "the data" is."""
    tables = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = connection.execute(select(table)).all()
            tables[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    tables["alembic_version"] = [
        (str(v),) for v in connection_scalar(engine, "SELECT version_num FROM alembic_version")
    ]
    return tables


def connection_scalar(engine: Engine, sql: str) -> list[object]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).scalars())


def fill(sessions: sessionmaker[Session], config: HubConfig, tag: str) -> None:
    with sessions.begin() as session:
        for i in range(3):
            member = Member(first_name=f"{tag}-{i}", created_at=datetime.now(UTC))
            session.add(member)
            session.flush()
            session.add(
                MemberConsent(
                    member_id=member.id, scope="screen_display", granted_at=member.created_at
                )
            )
        moment_soon(session, config.sites[0], title=f"Atelier {tag}")


def test_restore_gives_back_exactly_the_backed_up_data(
    sessions: sessionmaker[Session], site_config: HubConfig, tmp_path: Path
) -> None:
    url = site_config.database.url
    fill(sessions, site_config, "avant")
    engine = make_engine(url)
    try:
        before = snapshot(engine)
        report = backup(url, tmp_path / "vivant.backup")
        assert report.revision == head_revision(engine)
        # Life goes on: rows change, rows go, rows come.
        with sessions.begin() as session:
            session.execute(text("DELETE FROM member_consents"))
            session.add(Member(first_name="après", created_at=datetime.now(UTC)))
        fill(sessions, site_config, "après")
        assert snapshot(engine) != before
        engine.dispose()
        restored = restore(url, tmp_path / "vivant.backup")
        assert restored.revision == report.revision
        assert snapshot(engine) == before
    finally:
        engine.dispose()


def test_backup_while_the_hub_writes_is_consistent(
    sessions: sessionmaker[Session], site_config: HubConfig, tmp_path: Path
) -> None:
    url = site_config.database.url
    stop = threading.Event()
    committed: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        # Each transaction adds BATCH members: a consistent copy has whole batches only.
        batch = 0
        try:
            while not stop.is_set():
                with sessions.begin() as session:
                    session.add_all(
                        Member(
                            first_name=f"m{i}",
                            last_name=f"batch-{batch}",
                            created_at=datetime.now(UTC),
                        )
                        for i in range(BATCH)
                    )
                committed.append(batch)
                batch += 1
        except BaseException as error:  # reported by the test below
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(committed) < 20:
            stop.wait(0.01)
        before = len(committed)
        backup(url, tmp_path / "live.backup")
        after = len(committed)
        while len(committed) < after + 10:
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    with temporary_database(kind, tmp_path / "restored") as restored_url:
        restore(restored_url, tmp_path / "live.backup")
        engine = make_engine(restored_url)
        try:
            with make_sessionmaker(engine)() as session:
                names = session.scalars(select(Member.last_name)).all()
        finally:
            engine.dispose()
    batches = Counter(names)
    assert set(batches.values()) == {BATCH}, "a transaction was torn"
    assert before <= len(batches) <= after + 1
    assert sorted(int(str(name).split("-")[1]) for name in batches) == list(range(len(batches)))


def test_a_backup_never_overwrites_and_a_restore_needs_a_database_file(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    with pytest.raises(BackupError, match="no database file"):
        backup(url, tmp_path / "a.backup")
    assert not (tmp_path / "a.backup").exists()
    existing = tmp_path / "b.backup"
    existing.write_text("keep me", encoding="utf-8")
    with pytest.raises(BackupError, match="exists"):
        backup(url, existing)
    assert existing.read_text(encoding="utf-8") == "keep me"
    with pytest.raises(BackupError, match="not an SQLite database"):
        restore(url, existing)
    with pytest.raises(BackupError, match="no backup file"):
        restore(url, tmp_path / "missing.backup")


def test_vivant_hub_backup_and_restore_commands(
    sessions: sessionmaker[Session],
    site_config: HubConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(site_config.model_dump(mode="json")), encoding="utf-8")
    fill(sessions, site_config, "cli")
    target = tmp_path / "backups" / "vivant.backup"
    assert main(["hub", "--config", str(config), "backup", str(target)]) == 0
    assert f"backup written to {target}" in capsys.readouterr().out
    assert main(["hub", "--config", str(config), "backup", str(target)]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["hub", "--config", str(config), "restore", str(target)]) == 0
    assert "restored from" in capsys.readouterr().out
