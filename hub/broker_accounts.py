"""The broker accounts a hub configuration calls for: the hub's own, one per node, one per bridge.

The hub configuration is the register of sites and nodes, so it is also the source of the
broker's ACL and password file (``vivant mqtt gen-acl`` / ``gen-passwd``). The hub reads and
writes everything under the topic root, reads the third-party topics it maps (ESPresense rooms,
Theengs gateways) and writes its Home Assistant discovery topics; each node gets exactly its own
topics (:func:`vivant.broker.accounts.node_account`).

The files are often generated before the secrets exist (``gen-passwd`` makes the hub's own
password), so :func:`load_for_accounts` accepts a configuration whose ``{env: …}`` or
``{file: …}`` secrets are not available here: none of them bears on accounts or topics.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from hub.config import HubConfig
from hub.ha_discovery import config_topic
from hub.thirdparty import subscriptions
from vivant.broker.accounts import (
    DEFAULT_HUB_USERNAME,
    Account,
    AccountError,
    bridge_account,
    check_unique,
    hub_account,
    node_account,
)
from vivant.config_file import load_yaml


def broker_accounts(
    config: HubConfig, *, sites: Collection[str] = (), bridges: bool = False
) -> list[Account]:
    """Accounts for the broker: the hub, then each node (of *sites* only, if given).

    *bridges* adds one ``bridge-<site>`` account per site, for the central broker that site
    brokers bridge to.
    """
    known = [site.id for site in config.sites]
    unknown = sorted(set(sites) - set(known))
    if unknown:
        raise AccountError(f"unknown site(s) {', '.join(unknown)}; known: {', '.join(known)}")
    topics = config.mqtt.topics
    extra_write = (
        [config_topic(site, room) for site in config.sites for room in site.rooms]
        if config.home_assistant_discovery
        else []
    )
    accounts = [
        hub_account(
            topics,
            config.mqtt.username or DEFAULT_HUB_USERNAME,
            read=subscriptions(config.thirdparty),
            write=extra_write,
        )
    ]
    chosen = [site for site in config.sites if not sites or site.id in sites]
    for site in chosen:
        accounts += [node_account(topics, site.id, node.id) for node in site.nodes]
    if bridges:
        accounts += [bridge_account(topics, site.id) for site in chosen]
    return check_unique(accounts)


# Stands for a secret that is not available where the files are generated: any string field
# takes it, and so do the URL-shaped secrets (calendar feeds, channels).
PLACEHOLDER = "https://unresolved.invalid/secret-placeholder-0123456789"


def _unavailable(value: Any, missing: list[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"env"} and isinstance(value["env"], str):
            if value["env"] not in os.environ:
                missing.append(f"${value['env']}")
                return PLACEHOLDER
            return value
        if set(value) == {"file"} and isinstance(value["file"], str):
            if not os.access(value["file"], os.R_OK):
                missing.append(value["file"])
                return PLACEHOLDER
            return value
        return {key: _unavailable(item, missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_unavailable(item, missing) for item in value]
    return value


def load_for_accounts(path: Path) -> tuple[HubConfig, list[str]]:
    """The hub configuration at *path*, and the secrets it names that are not available here.

    A configuration that is invalid for any other reason raises :class:`ConfigError` with the
    file and line, as ``vivant hub check-config`` would.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        data = None
    missing: list[str] = []
    if isinstance(data, dict):
        try:
            return HubConfig.model_validate(_unavailable(data, missing)), missing
        except ValueError:
            pass  # report it with lines, below
    return load_yaml(path, HubConfig), []
