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


def run(config_path: Path) -> int:
    """Serve the hub until interrupted."""
    config = load_config(config_path)
    if config is None:
        return 2
    uvicorn.run(
        create_app(config),
        host=config.http.host,
        port=config.http.port,
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
