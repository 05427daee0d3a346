"""The staff switches of the nudge engine over HTTP: pause, resume, and the dry-run lines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub.accounts import Role
from hub.config import HubConfig
from hub.db.models import Consent, PresenceSource
from hub.members import add_member
from hub.moments import add_moment
from hub.presence import arrive
from tests.support.accounts import api_token
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub


def manager_headers(hub: RunningHub) -> dict[str, str]:
    """An integration's API token (manager: it may also switch the dry run on)."""
    return {"Authorization": f"Bearer {api_token(hub.runtime.sessions, Role.MANAGER)}"}


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, tmp_path: Path) -> Iterator[RunningHub]:
    data = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path}/hub.db",
        client_id=f"hub-{topic_root[:9]}",
    ).model_dump(mode="json")  # fmt: skip
    data["mqtt"].pop("password", None)
    data["nudges"] = {"enabled": False}  # only the preview runs: nothing fires by itself
    with running_hub(HubConfig.model_validate(data)) as running:
        yield running


def test_pause_resume_and_dry_run_explanation(hub: RunningHub) -> None:
    site = hub.config.sites[0]
    # A weekday at 09:50 site time, ten minutes before a breakfast.
    at = datetime(2026, 3, 10, 9, 50, tzinfo=site.zone)
    with hub.runtime.sessions.begin() as session:
        add_moment(
            session, site, room_id="cuisine", title="Petit-déjeuner", kind="breakfast",
            starts_at=at + timedelta(minutes=10), ends_at=at + timedelta(hours=1),
        )  # fmt: skip
        camille = add_member(session, "Camille", consents=[Consent.MESSAGES], now=at)
        arrive(session, camille.id, SITE, at - timedelta(hours=1), PresenceSource.BADGE)
    with httpx.Client(base_url=hub.base_url, headers=manager_headers(hub)) as client:
        assert client.get("/api/nudges").json() == {
            "paused": False, "staff_paused": False, "dry_run": False,
        }  # fmt: skip
        preview = client.get("/api/nudges/dry-run", params={"at": at.isoformat()}).json()
        paused = client.post("/api/nudges/pause").json()
        while_paused = client.get("/api/nudges/dry-run", params={"at": at.isoformat()}).json()
        english = client.get(
            "/api/nudges/dry-run", params={"at": at.isoformat(), "lang": "en"}
        ).json()
        resumed = client.post("/api/nudges/resume").json()
        dry = client.post("/api/nudges/dry-run-mode", json={"on": True}).json()
        simulated = client.get("/api/nudges/dry-run", params={"at": at.isoformat()}).json()
        wet = client.post("/api/nudges/dry-run-mode", json={"on": False}).json()
        bad_switch = client.post("/api/nudges/dry-run-mode", json={"on": "maybe"})
        bad = client.get("/api/nudges/dry-run", params={"at": "yesterday"})
    assert preview["lines"][0] == "éKilibre — 10/03/2026 09:50"
    assert "Moment imminent (moment_soon)" in preview["lines"]
    # Camille allowed messages but has no address: the preview says why nothing goes.
    assert (
        "  Camille : pas d’envoi — pas de consentement pour ce canal (apprise, email)"
        in (preview["lines"])
    )
    assert paused["paused"] is True
    assert paused["staff_paused"] is True
    assert "  Camille : pas d’envoi — envois en pause" in while_paused["lines"]
    assert "  Camille: not sent — nudges paused" in english["lines"]
    assert resumed["paused"] is False
    assert (dry["dry_run"], wet["dry_run"]) == (True, False)
    assert simulated["dry_run"] is True
    assert bad_switch.status_code == 422
    assert bad.status_code == 422
