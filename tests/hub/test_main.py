"""``vivant hub`` actions: ``screen-url`` (the kiosk URL an installer types into the TV's
browser) and ``nudges`` (the dry run a community manager reads, from the database)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.db.models import Consent, PresenceSource
from hub.log_redaction import REDACTED
from hub.moments import add_moment
from hub.nudges.experiment import Arm, assign
from hub.presence import arrive
from hub.screen_auth import token_allows
from hub.signing import Signer, stored_secret_key
from hub.sites import sync_sites
from tests.support.factories import reachable_member
from tests.support.hub_server import SCREEN, SITE, hub_config
from tests.support.mosquitto import free_port
from tests.support.waiting import wait_until
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


PARIS = ZoneInfo("Europe/Paris")


def vivant(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vivant", *args], capture_output=True, text=True, check=False
    )


def test_nudges_dry_run_prints_who_would_get_what_and_why_not(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'hub.db'}"
    config = hub_config("mqtt://127.0.0.1:1883", "vivant/v1", database, timezone="Europe/Paris")
    data = config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    unmigrated = vivant("hub", "--config", str(path), "nudges")
    assert unmigrated.returncode == 2
    assert "run `vivant hub migrate`" in unmigrated.stderr

    at = datetime(2026, 3, 10, 9, 50, tzinfo=PARIS)
    engine = make_engine(config.database.url)
    upgrade(engine)
    with make_sessionmaker(engine).begin() as session:
        sync_sites(session, config)
        add_moment(
            session, config.sites[0], room_id="cuisine", title="Petit-déjeuner",
            kind="breakfast", starts_at=at + timedelta(minutes=10),
            ends_at=at + timedelta(hours=1),
        )  # fmt: skip
        camille = reachable_member(session, "Camille", now=at)
        discret = reachable_member(session, "Discret", consents=[Consent.SCREEN_DISPLAY], now=at)
        camille_id = camille.id
        for member in (camille, discret):
            arrive(session, member.id, SITE, at - timedelta(hours=1), PresenceSource.BADGE)
    engine.dispose()

    french = vivant("hub", "--config", str(path), "nudges", "--at", "2026-03-10T09:50")
    assert french.returncode == 0, french.stderr
    lines = french.stdout.splitlines()
    assert lines[0] == "éKilibre — 10/03/2026 09:50"
    assert "Moment imminent (moment_soon)" in lines
    # Camille gets the invitation unless she is in the rule's 20 % holdout: either is said.
    camille_line = next(line for line in lines if line.startswith("  Camille"))
    if assign(str(camille_id), "moment_soon", "vivant-1", 0.2) is Arm.HOLDOUT:
        assert camille_line.startswith("  Camille : groupe témoin (20 % retenus pour la mesure)")
    else:
        assert "envoi par message (Apprise) entre 09:51 et 09:53" in camille_line
    assert "  Discret : pas d’envoi — pas de consentement pour ce type de message" in (
        french.stdout
    )
    english = vivant(
        "hub", "--config", str(path), "nudges", "--at", "2026-03-10T08:50:00+00:00",
        "--lang", "en",
    )  # fmt: skip
    assert "Moment starting soon (moment_soon)" in english.stdout
    nothing = vivant("hub", "--config", str(path), "nudges", "--at", "2026-03-10T15:00")
    assert "rien à envoyer à cette heure-ci" in nothing.stdout
    bad = vivant("hub", "--config", str(path), "nudges", "--at", "demain")
    assert bad.returncode == 2
    assert "not an ISO 8601 time" in bad.stderr


def test_the_served_hub_keeps_link_tokens_and_config_secrets_out_of_its_logs(
    tmp_path: Path, topic_root: str
) -> None:
    """`vivant hub` puts hub.log_redaction on uvicorn's access log and the root handlers."""
    port = free_port()
    secret_key = "served-hub-secret-key-Wq2Er4Ty6Ui8Op0"
    path, _ = write_config(tmp_path, secret_key=secret_key)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["mqtt"]["topic_root"] = topic_root
    data["http"]["port"] = port
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    token = "eyJtZW1iZXIiOjF9.awhsZg.6KKKG_UAW9-RFFtGAHBY5mTXuLw"
    process = subprocess.Popen(
        [sys.executable, "-m", "vivant", "hub", "--config", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(serving, within=30, what="the hub serving")
        assert httpx.get(f"{base}/rsvp/{token}", timeout=5).status_code == 400
        screen = httpx.get(f"{base}/screens/{SITE}/{SCREEN}", params={"token": token}, timeout=5)
        assert screen.status_code == 403
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f'"GET /rsvp/{REDACTED} HTTP/1.1" 400' in output
    assert f"token={REDACTED}" in output
    assert token not in output
    assert secret_key not in output
    # Once started, the served hub leaves its startup objects out of garbage collection.
    frozen = re.search(r"startup objects left out of garbage collection: (\d+)", output)
    assert frozen is not None, output[-2000:]
    assert int(frozen[1]) > 10_000
