"""Schema migrations through Alembic, run from code (no alembic.ini to carry around)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to *engine*."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to *revision* (the latest by default)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """The latest revision this version of Vivant knows."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade_path(engine: Engine, current: str) -> list[str] | None:
    """Revisions an upgrade from *current* applies, oldest first; ``None`` if it is unknown."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    try:
        script.get_revision(current)
        steps = [r.revision for r in script.iterate_revisions("heads", current)]
    except (CommandError, RevisionError):
        return None
    return [rev for rev in reversed(steps) if rev != current]
