"""End to end on the real Mosquitto: members badge in, a moment is about to start, the right
members (and only them) get the invitation on a local HTTP receiver through Apprise; the invited
member walks into the kitchen (BLE windows of an enrolled tag); five minutes after the start,
with one person there, the site's staff channel gets the low-attendance alert; the attendance is
recorded, with its source, and credited to the nudge.

The hub runs for real (uvicorn, MQTT, ingest, live location, scheduler, delivery pump,
dispatcher); only the nudges' clock is moved forward, so the test does not wait ten minutes.
"""

# ruff: noqa: F811 (the HTTP receiver is a fixture imported from the channel tests)
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.publish as publish
import yaml
from sqlalchemy import select

from hub.config import HubConfig
from hub.db.models import (
    Attendance,
    Consent,
    Credential,
    CredentialKind,
    Delivery,
    NudgeRecord,
    NudgeTrigger,
    PresenceSession,
    RoomDwell,
)
from hub.moments import add_moment
from hub.nudges.experiment import Arm, assign
from hub.nudges.rules import default_rules
from hub.rsvp import join
from tests.hub.channels.conftest import HttpReceiver, http_receiver  # noqa: F401
from tests.support.factories import reachable_member
from tests.support.hub_server import NODE, SITE, RunningHub, hub_config, running_hub
from tests.support.waiting import wait_until
from vivant.wire import credential_for

KEY = "e2e-site-key"
TAG = "iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6-1-9"
HOLDOUT_SHARE = 0.5
REFUSER_UID = "0AFFFFEE"


def uid(index: int) -> str:
    """The badge UID of the *index*-th member (member ids start at 1 in the fresh database)."""
    return f"04A1{index:04X}"


class TravelClock:
    """Real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def rules_file(path: Path) -> Path:
    """The default rules, with a 50 % holdout on invitations, no welcome, no quiet hours (the
    test may run at night)."""
    rules = default_rules().model_dump(mode="json")
    rules["quiet_hours"] = None
    rules["rules"]["moment_soon"]["holdout_share"] = HOLDOUT_SHARE
    rules["rules"]["welcome_first_day"]["enabled"] = False
    rules["rules"]["welcome_back"]["enabled"] = False
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return path


def config_for(broker: str, root: str, tmp_path: Path, staff_url: str) -> HubConfig:
    data = hub_config(
        broker, root, f"sqlite:///{tmp_path / 'hub.db'}", client_id=f"hub-{root[:9]}"
    ).model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["live_tick_s"] = 0.5
    data["sites"][0]["nodes"].append({"id": "pi-cuisine", "rooms": ["cuisine"]})
    data["channels"] = {"sites": {SITE: {"apprise_urls": [staff_url]}}}
    data["nudges"] = {
        "tick_s": 0.2,
        "delivery_poll_s": 0.2,
        "rules_file": str(rules_file(tmp_path / "rules.yaml")),
    }
    return HubConfig.model_validate(data)


def tap(broker: str, root: str, uid: str, index: int) -> None:
    body = {
        "id": f"tap-{index}",
        "ts": int(time.time() * 1000),
        "room": "accueil",
        "reader": "porte",
        "credential": credential_for(KEY, uid),
    }
    host, port = broker.removeprefix("mqtt://").split(":")
    publish.single(f"{root}/{SITE}/{NODE}/badge", json.dumps(body), qos=1, hostname=host,
                   port=int(port))  # fmt: skip


def ble_windows(broker: str, root: str, count: int) -> None:
    host, port = broker.removeprefix("mqtt://").split(":")
    now = int(time.time() * 1000)
    for index in range(count):
        ts = now - (count - 1 - index) * 5000
        body = {"id": f"ble-{ts}", "ts": ts, "room": "cuisine", "window_s": 5,
                "tags": [{"tag": TAG, "rssi": -58.0, "n": 5}], "anonymous": 0}  # fmt: skip
        publish.single(f"{root}/{SITE}/pi-cuisine/ble", json.dumps(body), qos=1, hostname=host,
                       port=int(port))  # fmt: skip


def people(hub: RunningHub, receiver: HttpReceiver) -> dict[str, int]:
    """Members with messages consent and an address, sorted into the roles of the test by their
    (stable) experiment arm; plus one who never allowed messages."""
    salt = hub.runtime.rules.experiment_salt
    roles: dict[str, int] = {}
    treated: list[int] = []
    with hub.runtime.sessions.begin() as session:
        for index in range(12):
            member = reachable_member(
                session, f"Membre{index}", consents=[Consent.MESSAGES, Consent.ROOM_LOCATION],
                apprise_url=receiver.url("json", f"/m{index + 1}"),
                badges=[credential_for(KEY, uid(index))],
            )  # fmt: skip
            arm = assign(str(member.id), "moment_soon", salt, HOLDOUT_SHARE)
            if arm is Arm.HOLDOUT:
                roles.setdefault("held_out", member.id)
            else:
                treated.append(member.id)
        roles["invited"], roles["rsvped"], roles["away"] = treated[:3]
        refuser = reachable_member(
            session, "Refus", consents=[Consent.ROOM_LOCATION],
            apprise_url=receiver.url("json", "/refus"), badges=[credential_for(KEY, REFUSER_UID)],
        )  # fmt: skip
        roles["refused"] = refuser.id
        session.add(
            Credential(member_id=roles["invited"], kind=CredentialKind.BLE_TAG.value, value=TAG,
                       created_at=datetime.now(UTC))
        )  # fmt: skip
    return roles


def test_invitation_reaches_the_right_members_and_attendance_follows(
    system_broker_url: str, topic_root: str, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    clock = TravelClock()
    staff_url = http_receiver.url("json", "/staff")
    config = config_for(system_broker_url, topic_root, tmp_path, staff_url)
    with running_hub(config, clock=clock) as hub:
        roles = people(hub, http_receiver)
        assert set(roles) == {"held_out", "invited", "rsvped", "away", "refused"}
        start = (datetime.now(UTC) + timedelta(minutes=20)).replace(microsecond=0)
        with hub.runtime.sessions.begin() as session:
            moment = add_moment(
                session, config.sites[0], room_id="cuisine", title="Petit-déjeuner",
                kind="breakfast", starts_at=start, ends_at=start + timedelta(hours=1),
                capacity=10,
            )  # fmt: skip
            session.flush()
            moment_id = moment.id
            join(session, moment_id, roles["rsvped"], datetime.now(UTC))

        # Everyone but the one away badges in at the front door, over MQTT.
        on_site = [roles[r] for r in ("invited", "rsvped", "held_out", "refused")]
        for index, member_id in enumerate(on_site):
            badge = REFUSER_UID if member_id == roles["refused"] else uid(member_id - 1)
            tap(system_broker_url, topic_root, badge, index)

        def arrived() -> bool:
            with hub.runtime.sessions() as session:
                rows = session.scalars(select(PresenceSession.member_id)).all()
            return sorted(rows) == sorted(on_site)

        wait_until(arrived, within=10, what="four members on site")

        # Ten minutes before the start: the scheduler fires the invitation rule once.
        clock.offset = timedelta(minutes=10, seconds=1)

        def fired() -> bool:
            with hub.runtime.sessions() as session:
                return session.scalar(select(NudgeTrigger.key)) is not None

        wait_until(fired, within=10, what="the moment-soon trigger")
        assert http_receiver.received == []  # the delay window: not instantly
        clock.offset += timedelta(minutes=4)

        def delivered() -> bool:
            with hub.runtime.sessions() as session:
                states = session.scalars(select(Delivery.state)).all()
            return bool(states) and all(s in ("sent", "failed") for s in states)

        wait_until(delivered, within=15, what="deliveries done")
        with hub.runtime.sessions() as session:
            decisions = {
                r.member_id: (r.decision, r.reasons) for r in session.scalars(select(NudgeRecord))
            }
            channels = sorted(d.channel for d in session.scalars(select(Delivery)))

        # The right members, and only them.
        assert [r.path for r in http_receiver.received] == [f"/m{roles['invited']}"]
        invitation = json.loads(http_receiver.received[0].body)
        assert "Petit-déjeuner" in invitation["message"] + invitation["title"]
        assert f"{config.http.base_url}/rsvp/" in invitation["message"]
        assert decisions == {
            roles["invited"]: ("sent", []),
            roles["held_out"]: ("holdout", []),
            roles["refused"]: ("skipped", ["no_consent_kind", "no_consent_channel"]),
        }  # the one who RSVPed and the one away are not even considered
        assert channels == ["apprise", "screen"]  # the invitation and the lobby announcement

        # The invited member walks into the kitchen: BLE windows of the enrolled tag (enrolled
        # while the hub ran: the enrolment tells the tag directory, as the staff page does).
        hub.runtime.live.tags.forget()
        ble_windows(system_broker_url, topic_root, 4)

        def in_kitchen() -> bool:
            with hub.runtime.sessions() as session:
                dwell = session.scalar(
                    select(RoomDwell).where(
                        RoomDwell.member_id == roles["invited"], RoomDwell.left_at.is_(None)
                    )
                )
            return dwell is not None and dwell.room_id == "cuisine"

        wait_until(in_kitchen, within=10, what="the invited member located in the kitchen")

        # Five minutes after the start, one person in the kitchen: the site's staff are alerted.
        clock.offset = start - datetime.now(UTC) + timedelta(minutes=5, seconds=1)
        wait_until(lambda: len(http_receiver.received) == 2, within=10, what="the staff alert")
        alert = http_receiver.received[1]
        assert alert.path == "/staff"
        assert "1 présent(s) pour 1 attendu(s)" in json.loads(alert.body)["message"]
        hub.runtime.update_attendance(start + timedelta(minutes=20))
        hub.runtime.update_attendance(start + timedelta(hours=1, minutes=16))  # settled
        with hub.runtime.sessions() as session:
            attendance = session.scalars(select(Attendance)).one()
            outcomes = {
                r.member_id: r.outcome
                for r in session.scalars(select(NudgeRecord))
                if r.decision != "skipped" and r.member_id is not None
            }
    assert (attendance.member_id, attendance.moment_id) == (roles["invited"], moment_id)
    assert attendance.source == "dwell"
    assert 0.5 < attendance.confidence <= 0.9
    assert outcomes == {roles["invited"]: "attended", roles["held_out"]: "not_attended"}
