"""Backups and restores of the hub's database, SQLite or PostgreSQL.

SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies the database in one
step from a read transaction, so the copy is one consistent state even while the hub writes (in
WAL mode readers do not block the writer, and a committed transaction is in the copy entirely or
not at all). Copying the file with ``cp`` instead can tear a transaction and forget the ``-wal``
file. The copy is checked (``PRAGMA integrity_check``) before it is called a backup. A restore
writes the backup back through the same API, so SQLite's locks and the WAL are respected; the hub
must be stopped meanwhile (it keeps state in memory that the restore would contradict).

PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot, taken while the hub runs) and
``pg_restore --clean --if-exists --single-transaction`` (all or nothing). The client tools must be
installed where the command runs and be at least as new as the server; in the compose deployment
run them inside the ``postgres`` container instead (``docs/install.md``). The password is passed
through the environment (``PGPASSWORD``), never on the command line.

A backup of an older schema restores fine: the hub upgrades it at its next start (or run
``vivant hub --config FILE migrate``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url

from hub.config import HubConfig
from hub.db.migrate import current_revision
from vivant.config_file import ConfigError, load_yaml

log = logging.getLogger(__name__)


class BackupError(Exception):
    """A backup or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup or restore did."""

    path: Path
    backend: str
    revision: str | None
    """The schema revision in the backup (``None`` for an empty database)."""


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _sqlite_revision(db: sqlite3.Connection) -> str | None:
    try:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def _check(db: sqlite3.Connection, what: str) -> None:
    result = db.execute("PRAGMA integrity_check").fetchall()
    if result != [("ok",)]:
        raise BackupError(f"{what} is damaged: {'; '.join(str(r[0]) for r in result[:5])}")


def _sqlite_backup(source: Path, destination: Path) -> str | None:
    if not source.exists():
        raise BackupError(f"no database file at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        dst = sqlite3.connect(destination)
        try:
            # pages=-1: the whole database in one step, from one read transaction.
            src.backup(dst, pages=-1)
            _check(dst, f"the copy {destination}")
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            return _sqlite_revision(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _sqlite_restore(backup: Path, target: Path) -> str | None:
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        try:
            _check(src, f"the backup {backup}")
        except sqlite3.DatabaseError as error:
            raise BackupError(f"{backup} is not an SQLite database: {error}") from None
        revision = _sqlite_revision(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(target)
        try:
            dst.execute("PRAGMA busy_timeout=10000")
            src.backup(dst, pages=-1)
            _check(dst, f"the restored database {target}")
        finally:
            dst.close()
        return revision
    finally:
        src.close()


def _pg_environment(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in (
        ("PGHOST", url.host),
        ("PGPORT", str(url.port) if url.port else None),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value:
            env[key] = value
    return env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed here: install the PostgreSQL client (apt-get install "
            f"postgresql-client), or in the compose deployment run it in the postgres container "
            f"(docs/install.md, 'Backups and restore')"
        )
    return path


def _run(command: list[str], url: URL) -> None:
    result = subprocess.run(  # noqa: S603 - fixed tool, arguments from our configuration
        command, env=_pg_environment(url), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()[:2000]}")


def _pg_revision(url: URL) -> str | None:
    engine = create_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def backup(database_url: str, destination: Path) -> BackupReport:
    """Write a consistent backup of the database at *database_url* to *destination*."""
    if destination.exists():
        raise BackupError(f"{destination} exists: choose a new file name (backups never overwrite)")
    destination.parent.mkdir(parents=True, exist_ok=True)
    url = make_url(database_url)
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            revision = _sqlite_backup(_sqlite_path(url), destination)
        elif backend == "postgresql":
            revision = _pg_revision(url)
            _run(
                [_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={destination}"],
                url,
            )
        else:
            raise BackupError(f"no backup method for {backend} databases")
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    log.info("backed up %s (revision %s) to %s", backend, revision, destination)
    return BackupReport(destination, backend, revision)


def restore(database_url: str, source: Path) -> BackupReport:
    """Replace the database at *database_url* by the backup *source* (stop the hub first)."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        revision = _sqlite_restore(source, _sqlite_path(url))
    elif backend == "postgresql":
        _run(
            [
                _pg_tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                f"--dbname={url.database}",
                str(source),
            ],
            url,
        )
        revision = _pg_revision(url)
    else:
        raise BackupError(f"no restore method for {backend} databases")
    log.info("restored %s from %s (revision %s)", backend, source, revision)
    return BackupReport(source, backend, revision)


def run(config_path: Path, action: str, path: Path) -> int:
    """``vivant hub --config FILE backup|restore PATH``: 0 done, 1 failed, 2 bad configuration."""
    try:
        config = load_yaml(config_path, HubConfig)
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    try:
        if action == "backup":
            report = backup(config.database.url, path)
            sys.stdout.write(f"backup written to {report.path} (schema {report.revision})\n")
        else:
            report = restore(config.database.url, path)
            sys.stdout.write(
                f"restored from {report.path} (schema {report.revision}); start the hub: it "
                "upgrades an older schema at start\n"
            )
    except (BackupError, sqlite3.Error, OSError) as error:
        sys.stderr.write(f"{action} failed: {error}\n")
        return 1
    return 0
