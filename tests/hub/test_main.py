"""``vivant hub screen-url``: the kiosk URL an installer types into the TV's browser."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.screen_auth import token_allows
from hub.signing import Signer, stored_secret_key
from tests.support.hub_server import SCREEN, SITE, hub_config
from vivant.cli import main


def write_config(tmp_path: Path, **extra: object) -> tuple[Path, HubConfig]:
    config = hub_config("mqtt://127.0.0.1:1883", "vivant/v1", f"sqlite:///{tmp_path / 'hub.db'}")
    data = config.model_dump(mode="json", exclude_none=True)
    data["mqtt"].pop("password", None)
    data["http"]["public_url"] = "https://vivant.example.org/"
    data.update(extra)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path, HubConfig.model_validate(data)


def printed_token(capsys: pytest.CaptureFixture[str], config: HubConfig) -> str:
    url = urlsplit(capsys.readouterr().out.strip())
    assert f"{url.scheme}://{url.netloc}" == "https://vivant.example.org"
    assert url.path == f"/screens/{SITE}/{SCREEN}"
    return parse_qs(url.query)["token"][0]


def test_prints_a_url_whose_token_opens_that_screen_with_the_database_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = write_config(tmp_path)
    assert main(["hub", "screen-url", "--config", str(path), SITE, SCREEN]) == 0
    token = printed_token(capsys, config)
    engine = make_engine(config.database.url)
    with make_sessionmaker(engine).begin() as session:
        key = stored_secret_key(session)  # the one the running hub will sign with
    engine.dispose()
    site = config.sites[0]
    screen = site.screen(SCREEN)
    assert screen is not None
    assert token_allows(Signer(key), token, site, screen)
    assert not token_allows(Signer("another-key-of-32-characters-xx"), token, site, screen)


def test_config_key_and_either_argument_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "configured-key-of-at-least-32-chars"
    path, config = write_config(tmp_path, secret_key=key)
    assert main(["hub", "--config", str(path), "screen-url", SITE, SCREEN]) == 0
    token = printed_token(capsys, config)
    site = config.sites[0]
    screen = site.screen(SCREEN)
    assert screen is not None
    assert token_allows(Signer(key), token, site, screen)
    assert not (tmp_path / "hub.db").exists()  # a configured key needs no database


def test_unknown_screen_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _config = write_config(tmp_path, secret_key="configured-key-of-at-least-32-chars")
    assert main(["hub", "screen-url", "--config", str(path), SITE, "nope"]) == 2
    assert "no screen 'nope' at site 'ekilibre'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["hub", "screen-url", SITE, SCREEN])
