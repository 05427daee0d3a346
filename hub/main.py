"""``vivant hub``: run the hub from a YAML configuration."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import uvicorn

from hub.config import HubConfig
from hub.db.engine import make_engine
from hub.db.migrate import upgrade
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


def run(config_path: Path, instance: str | None = None, *, port: int | None = None) -> int:
    """Serve the hub until interrupted (as *instance* when several processes share the sites)."""
    config = load_config(config_path)
    if config is None:
        return 2
    if config.cluster is not None and instance not in config.cluster.instances:
        names = ", ".join(config.cluster.instances)
        sys.stderr.write(f"{config_path}: several hub processes: give --instance ({names})\n")
        return 2
    uvicorn.run(
        create_app(config, instance),
        host=config.http.host,
        port=port or config.http.port,
        log_level="info",
        proxy_headers=False,
    )
    return 0


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
