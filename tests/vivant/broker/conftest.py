"""A real Mosquitto started with the files ``vivant mqtt gen-acl`` / ``gen-passwd`` write."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.broker_accounts import broker_accounts
from hub.config import HubConfig
from tests.support.mosquitto import PrivateBroker
from vivant.broker.acl import render_acl
from vivant.broker.passwd import obtain_credentials, render_password_file, write_private


def hub_config_data() -> dict[str, Any]:
    """Two sites, three nodes, an ESPresense room and Home Assistant discovery."""
    return {
        "mqtt": {"username": "hub", "password": "not-used-here"},
        "home_assistant_discovery": True,
        "thirdparty": {
            "espresense": [{"espresense_room": "kitchen", "site": "ekilibre", "room": "cuisine"}]
        },
        "sites": [
            {
                "id": "ekilibre",
                "name": "éKilibre",
                "rooms": [
                    {"id": "accueil", "name": "Accueil", "kind": "lobby"},
                    {"id": "cuisine", "name": "Cuisine", "kind": "community"},
                ],
                "nodes": [
                    {"id": "entree", "rooms": ["accueil"]},
                    {"id": "cuisine", "rooms": ["cuisine"]},
                ],
            },
            {
                "id": "rooftop-viry",
                "name": "Le Rooftop de Viry",
                "rooms": [{"id": "accueil", "name": "Accueil", "kind": "lobby"}],
                "nodes": [{"id": "entree", "rooms": ["accueil"]}],
            },
        ],
    }


@dataclass
class SecuredFiles:
    """Generated ACL and password files, and the passwords behind them."""

    acl: Path
    passwd: Path
    passwords: dict[str, str]

    def mosquitto_lines(self) -> str:
        """The lines pointing a Mosquitto at these files."""
        return f"password_file {self.passwd}\nacl_file {self.acl}\n"


def generate_files(
    directory: Path, *, bridges: bool = False, appendix: str = "", extra_users: tuple[str, ...] = ()
) -> SecuredFiles:
    """Write ACL and password files for :func:`hub_config_data`, as the CLI does.

    *appendix* and *extra_users* stand for hand-made accounts (``gen-acl --append``).
    """
    accounts = broker_accounts(HubConfig.model_validate(hub_config_data()), bridges=bridges)
    users = [a.username for a in accounts] + list(extra_users)
    credentials = obtain_credentials(users, directory / "secrets", {})
    files = SecuredFiles(
        directory / "acl",
        directory / "passwd",
        {c.user: c.password for c in credentials},
    )
    write_private(files.acl, render_acl(accounts, appendix=appendix))
    write_private(files.passwd, render_password_file(credentials, iterations=1000))
    return files


@dataclass
class SecuredBroker:
    """A private Mosquitto with anonymous access off and the generated files."""

    broker: PrivateBroker
    files: SecuredFiles

    @property
    def port(self) -> int:
        """The broker's (plain, loopback) port."""
        return self.broker.port

    def login(self, user: str) -> dict[str, Any]:
        """Probe options to log in as *user* with its generated password."""
        return {"username": user, "password": self.files.passwords[user]}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SecuredBroker]:
    """A real Mosquitto started with the generated ACL and password files."""
    files = generate_files(tmp_path / "files")
    broker = PrivateBroker(
        workdir=tmp_path / "mosquitto",
        allow_anonymous=False,
        extra_config=files.mosquitto_lines(),
    )
    broker.start()
    try:
        yield SecuredBroker(broker, files)
    finally:
        broker.stop()
