"""``vivant hub``: run the hub from a YAML configuration."""

from __future__ import annotations

import gc
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from hub import log_redaction
from hub.config import HubConfig, Language
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import current_revision, head_revision, upgrade
from hub.screen_auth import screen_url
from hub.signing import Signer, stored_secret_key
from hub.web.app import create_app
from vivant.config_file import ConfigError, load_yaml

log = logging.getLogger(__name__)


def load_config(path: Path) -> HubConfig | None:
    """Load the hub configuration, printing its errors (with lines) to stderr."""
    try:
        return load_yaml(path, HubConfig)
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return None


def freeze_startup_objects() -> None:
    """Leave what the hub built to start out of the cyclic garbage collector's full passes.

    Modules, the web application, SQLAlchemy's and pydantic's structures, the configuration:
    objects that live as long as the process. Every full pass of the collector walked all of
    them, for nothing to collect: measured, a full pass took 0.15–0.2 s of the ingest engine's
    time, about one per 20,000 messages under a backlog, and the hub drained a QoS 0 backlog
    12 % faster with them frozen (one run alternating both, 4 rounds each). ``gc.freeze`` moves
    them to the permanent generation; objects made afterwards are collected as before. Only in
    the hub's own process (``vivant hub``): tests that start and stop many hubs in one process
    would keep each one's leftovers.
    """
    gc.freeze()
    log.info("startup objects left out of garbage collection: %d", gc.get_freeze_count())


def run(config_path: Path, instance: str | None = None, *, port: int | None = None) -> int:
    """Serve the hub until interrupted (as *instance* when several processes share the sites)."""
    config = load_config(config_path)
    if config is None:
        return 2
    if config.cluster is not None and instance not in config.cluster.instances:
        names = ", ".join(config.cluster.instances)
        sys.stderr.write(f"{config_path}: several hub processes: give --instance ({names})\n")
        return 2
    server = uvicorn.Config(
        create_app(config, instance, started=freeze_startup_objects),
        host=config.http.host,
        port=port or config.http.port,
        log_level="info",
        proxy_headers=False,
    )  # configures uvicorn's loggers: the redaction goes on them afterwards
    log_redaction.install(log_redaction.secret_values(config))
    serving = uvicorn.Server(server)
    serving.run()
    return 0 if serving.started else 3


def migrate(config_path: Path) -> int:
    """Bring the database schema up to date."""
    config = load_config(config_path)
    if config is None:
        return 2
    engine = make_engine(config.database.url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    log.info("database schema is up to date")
    return 0


def print_screen_url(config_path: Path, site_id: str, screen_id: str) -> int:
    """Print the kiosk URL of a lobby screen (its page with its read-only token)."""
    config = load_config(config_path)
    if config is None:
        return 2
    site = config.site(site_id)
    screen = site.screen(screen_id) if site else None
    if site is None or screen is None:
        sys.stderr.write(f"{config_path}: no screen {screen_id!r} at site {site_id!r}\n")
        return 2
    if config.secret_key is not None:
        key = config.secret_key.get_secret_value()
    else:  # the key the hub generated and keeps in its database
        engine = make_engine(config.database.url)
        try:
            upgrade(engine)
            with make_sessionmaker(engine).begin() as session:
                key = stored_secret_key(session)
        finally:
            engine.dispose()
    sys.stdout.write(screen_url(config.http.base_url, Signer(key), site, screen) + "\n")
    return 0


def digest(config_path: Path, *, send: bool = False) -> int:
    """Print last week's insights digest of each site; with *send*, e-mail it to the managers."""
    from hub.insights.digest import digest_command

    config = load_config(config_path)
    if config is None:
        return 2
    engine = make_engine(config.database.url)
    try:
        if current_revision(engine) != head_revision(engine):
            sys.stderr.write("database schema is not up to date: run `vivant hub migrate`\n")
            return 2
        return digest_command(config, make_sessionmaker(engine), send=send)
    finally:
        engine.dispose()


def nudges(config_path: Path, at: str | None = None, language: str = "fr") -> int:
    """Print what the nudge rules would send at *at* (default now), to whom, and why not.

    Reads the database, writes nothing. *at* is ISO 8601; without an offset it is read in the
    time zone of the first site.
    """
    from hub.nudge_scheduler import NudgeScheduler, explain_planned
    from hub.nudges.rules import load_rules

    config = load_config(config_path)
    if config is None:
        return 2
    try:
        rules = load_rules(config.nudges.rules_file)
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    try:
        when = datetime.fromisoformat(at) if at else datetime.now(UTC)
    except ValueError:
        sys.stderr.write(f"--at: not an ISO 8601 time: {at!r} (example: 2026-03-10T09:50)\n")
        return 2
    if when.tzinfo is None:
        when = when.replace(tzinfo=config.sites[0].zone)
    engine = make_engine(config.database.url)
    try:
        if current_revision(engine) != head_revision(engine):
            sys.stderr.write("database schema is not up to date: run `vivant hub migrate`\n")
            return 2
        scheduler = NudgeScheduler(config, make_sessionmaker(engine), rules)
        planned = scheduler.preview(when)
    finally:
        engine.dispose()
    sys.stdout.write(explain_planned(config, planned, when, Language(language)) + "\n")
    return 0
