"""RSVP pages on a running hub: a signed link shows the moment and joins or leaves it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from hub.config import HubConfig
from hub.db.models import Consent
from hub.members import add_member
from hub.moments import add_moment
from hub.nudge_control import INVITATIONS, muted_kinds
from hub.rsvp import RsvpStatus, rsvp_url, status_of
from hub.signing import Purpose, Signer
from tests.support.hub_server import RunningHub, hub_config, running_hub

KEY = "rsvp-test-secret-key-0123456789abcdef"


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, tmp_path: Path) -> Iterator[RunningHub]:
    data = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path}/hub.db",
        client_id=f"hub-{topic_root[:9]}",
    ).model_dump(mode="json")  # fmt: skip
    data["mqtt"].pop("password", None)
    data["secret_key"] = KEY
    data["nudges"] = {"enabled": False}
    with running_hub(HubConfig.model_validate(data)) as running:
        yield running


def setup(hub: RunningHub, *, capacity: int | None = 1) -> tuple[int, list[int]]:
    """A workshop tomorrow at 10:00 Paris time and three members (one reads English)."""
    site = hub.config.sites[0]
    start = (datetime.now(site.zone) + timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    with hub.runtime.sessions.begin() as session:
        moment = add_moment(
            session, site, room_id="cuisine", title="Atelier pitch", kind="workshop",
            starts_at=start, ends_at=start + timedelta(hours=1), capacity=capacity,
        )  # fmt: skip
        people = [
            add_member(session, "Camille", consents=[Consent.SCREEN_DISPLAY]),
            add_member(session, "John", language="en"),
            add_member(session, "Léa"),
        ]
        session.flush()
        return moment.id, [p.id for p in people]


def link(hub: RunningHub, member: int, moment: int) -> str:
    """The path of the member's link, made as messages and lobby QR codes make it."""
    assert hub.runtime.signer is not None
    url = rsvp_url(hub.runtime.signer, hub.config.http.base_url, member, moment)
    assert url.startswith(f"{hub.config.http.base_url}/rsvp/")
    return url.removeprefix(hub.config.http.base_url)


def test_join_leave_and_the_waiting_list_through_signed_links(hub: RunningHub) -> None:
    moment, (camille, john, lea) = setup(hub, capacity=1)
    with httpx.Client(base_url=hub.base_url) as client:
        page = client.get(link(hub, camille, moment))
        assert page.status_code == 200
        assert "Atelier pitch" in page.text
        assert "10:00–11:00" in page.text  # site time, French style
        assert "Je viens" in page.text
        assert "1 place restante" in page.text
        joined = client.post(link(hub, camille, moment), data={"action": "join"})
        assert "À tout à l’heure !" in joined.text
        assert "Camille, vous êtes inscrit·e." in joined.text
        english = client.post(link(hub, john, moment), data={"action": "join"})
        assert "It is full: you are on the waiting list." in english.text
        assert "10:00\u202fAM" in english.text or "10:00 AM" in english.text
        left = client.post(link(hub, camille, moment), data={"action": "leave"})
        assert "C’est noté : vous ne venez pas." in left.text
        promoted = client.get(link(hub, john, moment))
        assert "John, you are going." in promoted.text
        bad_action = client.post(link(hub, lea, moment), data={"action": "delete"})
        assert bad_action.status_code == 422
        assert "Ne plus recevoir d’invitations aux moments" in page.text
        muted = client.post(link(hub, lea, moment), data={"action": "mute"})
        assert "Vous ne recevrez plus d’invitations aux moments." in muted.text
        assert "Recevoir à nouveau les invitations aux moments" in muted.text
    with hub.runtime.sessions() as session:
        assert muted_kinds(session, lea) == INVITATIONS
    with httpx.Client(base_url=hub.base_url) as client:
        unmuted = client.post(link(hub, lea, moment), data={"action": "unmute"})
        assert "Les invitations aux moments sont réactivées." in unmuted.text
    with hub.runtime.sessions() as session:
        assert muted_kinds(session, lea) == frozenset()


def test_forged_expired_and_foreign_tokens_are_refused_clearly(hub: RunningHub) -> None:
    moment, (camille, _, _) = setup(hub)
    valid = link(hub, camille, moment)
    old = URLSafeTimedSerializer(KEY, salt="vivant-rsvp", signer=_EightDaysAgo).dumps(
        {"member": camille, "moment": moment}
    )
    privacy = Signer(KEY).dumps(Purpose.PRIVACY, {"member": camille})
    with httpx.Client(base_url=hub.base_url) as client:
        forged = client.get(valid[:-3] + "xyz")
        expired = client.get(f"/rsvp/{old}")
        wrong_purpose = client.get(f"/rsvp/{privacy}")
        forged_post = client.post(valid[:-3] + "xyz", data={"action": "join"})
    assert forged.status_code == 400
    assert "Ce lien n’est pas valide." in forged.text
    assert "This link is not valid." in forged.text
    assert expired.status_code == 410
    assert "Ce lien a expiré." in expired.text
    assert wrong_purpose.status_code == 400
    assert forged_post.status_code == 400


class _TwentyMinutesAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 20 * 60


def test_a_link_shown_on_a_lobby_screen_lasts_minutes_not_days(hub: RunningHub) -> None:
    moment, (camille, _, _) = setup(hub)
    data = {"member": camille, "moment": moment}
    serializer = URLSafeTimedSerializer(KEY, salt="vivant-rsvp", signer=_TwentyMinutesAgo)
    from_screen, from_message = serializer.dumps({**data, "via": "screen"}), serializer.dumps(data)
    with httpx.Client(base_url=hub.base_url) as client:
        screen_page = client.get(f"/rsvp/{from_screen}")
        message_page = client.get(f"/rsvp/{from_message}")
    assert screen_page.status_code == 410  # photographed in the hall 20 minutes ago
    assert message_page.status_code == 200  # the member's own link, 20 minutes old


def test_a_lobby_screens_sealed_link_joins_and_lasts_minutes(hub: RunningHub) -> None:
    moment, (camille, _, _) = setup(hub)
    assert hub.runtime.signer is not None
    url = rsvp_url(hub.runtime.signer, hub.config.http.base_url, camille, moment, on_screen=True)
    path = url.removeprefix(hub.config.http.base_url)
    token = path.removeprefix("/rsvp/")
    assert len(token) == 38  # sealed: the ids are not readable (tests/hub/test_signing.py)
    old = Signer(KEY).seal(Purpose.SCREEN_RSVP, camille, moment, now=time.time() - 20 * 60)
    message = Signer(KEY).seal(Purpose.RSVP, camille, moment)  # sealed for another purpose
    with httpx.Client(base_url=hub.base_url) as client:
        page = client.get(path)
        joined = client.post(path, data={"action": "join"})
        expired = client.get(f"/rsvp/{old}")
        other_purpose = client.get(f"/rsvp/{message}")
        forged = client.get(f"/rsvp/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}")
    assert page.status_code == 200
    assert "Atelier pitch" in page.text
    assert "À tout à l’heure !" in joined.text
    with hub.runtime.sessions() as session:
        assert status_of(session, moment, camille) is RsvpStatus.GOING
    assert expired.status_code == 410  # photographed in the hall 20 minutes ago
    assert "Ce lien a expiré." in expired.text
    assert other_purpose.status_code == 400
    assert forged.status_code == 400


def test_a_moment_over_refuses_its_links(hub: RunningHub) -> None:
    site = hub.config.sites[0]
    with hub.runtime.sessions.begin() as session:
        past = add_moment(
            session, site, room_id="cuisine", title="Hier", kind="other",
            starts_at=datetime.now(UTC) - timedelta(hours=2),
            ends_at=datetime.now(UTC) - timedelta(hours=1),
        )  # fmt: skip
        member = add_member(session, "Camille")
        session.flush()
        ids = past.id, member.id
    with httpx.Client(base_url=hub.base_url) as client:
        response = client.get(link(hub, ids[1], ids[0]))
    assert response.status_code == 410
    assert "Ce moment est terminé." in response.text


class _EightDaysAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 8 * 24 * 3600


def test_the_rsvp_form_refuses_a_post_from_another_site(hub: RunningHub) -> None:
    """The link is the form's credential; a browser's Origin of another site is refused too."""
    moment, (camille, _john, _lea) = setup(hub, capacity=1)
    with httpx.Client(base_url=hub.base_url) as client:
        page = client.get(link(hub, camille, moment))
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        foreign = client.post(
            link(hub, camille, moment),
            data={"action": "join"},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        assert "Ce formulaire a été envoyé depuis un autre site." in foreign.text
        with hub.runtime.sessions() as session:
            assert status_of(session, moment, camille) is RsvpStatus.NONE
        same = client.post(
            link(hub, camille, moment), data={"action": "join"}, headers={"Origin": hub.base_url}
        )
        assert same.status_code == 200
    with hub.runtime.sessions() as session:
        assert status_of(session, moment, camille) is RsvpStatus.GOING
