"""The self-service pages over real HTTP, real SMTP (aiosmtpd), real Mosquitto and a real
time-series server: ask for a link, see and change, export, and erase everywhere."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import paho.mqtt.publish as publish
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from hub.config import HubConfig
from hub.db.models import BadgeTap, HubState, Member, PresenceSession, message_scope
from hub.privacy import remaining_rows
from tests.hub.channels.conftest import SmtpReceiver
from tests.hub.test_privacy import BADGE, TAG, populate
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port
from tests.support.victoria import victoria_metrics
from tests.support.waiting import wait_until

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# The running hub works on the wall clock (its cut-off, its retention): the data it is given is
# from this morning, whatever day the suite runs.
RECENT = datetime.now(UTC) - timedelta(hours=2)


def privacy_config(
    broker_url: str,
    root: str,
    db_url: str,
    smtp: SmtpReceiver,
    *,
    vm_url: str | None = None,
    spool: Path | None = None,
) -> HubConfig:
    raw = hub_config(broker_url, root, db_url, client_id=f"hub-{root[:9]}", port=free_port())
    data = raw.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["live_tick_s"] = 0.3
    data["sites"][0]["nodes"] += [
        {"id": "pi-cuisine", "rooms": ["cuisine"]},
        {"id": "pi-open", "rooms": ["open-space"]},
    ]
    data["privacy"] = {
        "email_url": f"mailto://127.0.0.1:{smtp.port}?from=vivant@ekilibre.example&mode=insecure",
        "requests_per_client": 4,
    }
    if vm_url is not None:
        data["timeseries"] = {
            "url": vm_url, "server": "victoriametrics", "flush_interval_s": 0.2,
            "spool_path": str(spool),
        }  # fmt: skip
    return HubConfig.model_validate(data)


def link_in(smtp: SmtpReceiver, index: int = 0) -> str:
    wait_until(lambda: len(smtp.envelopes) > index, within=10, what="the link e-mail")
    body = smtp.messages()[index].get_body(("plain",))
    assert body is not None
    found = re.search(r"http://\S+/privacy/\S+", body.get_content())
    assert found is not None
    return found.group(0)


def retained_under(root: str, settle_s: float = 0.6) -> dict[str, bytes]:
    """Every retained message under *root* on the broker, as a new subscriber gets them."""
    got: dict[str, bytes] = {}
    lock = threading.Lock()

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        if message.retain:
            with lock:
                got[message.topic] = bytes(message.payload)

    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_message = on_message
    client.connect("127.0.0.1", 1883)
    client.subscribe(f"{root}/#", qos=1)
    client.loop_start()
    try:
        time.sleep(settle_s)
    finally:
        client.loop_stop()
        client.disconnect()
    return {topic: payload for topic, payload in got.items() if payload}


@pytest.fixture
def clean_root(topic_root: str) -> Iterator[str]:
    yield topic_root
    for topic in retained_under(topic_root, 0.3):  # leave the shared broker as we found it
        publish.single(topic, b"", retain=True, hostname="127.0.0.1", port=1883)


def ble_window(n: int) -> str:
    return json.dumps(
        {
            "id": f"w{n}",
            "ts": int(time.time() * 1000),
            "room": "cuisine",
            "window_s": 1,
            "tags": [{"tag": TAG, "rssi": -52.0, "n": 4}],
            "anonymous": 1,
        }
    )


def test_link_request_answers_the_same_and_emails_only_members(
    system_broker_url: str, clean_root: str, tmp_path: Path, smtp_receiver: SmtpReceiver
) -> None:
    config = privacy_config(
        system_broker_url, clean_root, f"sqlite:///{tmp_path / 'hub.db'}", smtp_receiver
    )
    with running_hub(config) as hub:
        with hub.runtime.sessions.begin() as session:
            populate(session, config, at=RECENT)
        with httpx.Client(base_url=hub.base_url) as client:
            form = client.get("/privacy")
            assert form.status_code == 200
            assert '<html lang="fr">' in form.text
            assert "Recevoir mon lien" in form.text
            assert form.headers["referrer-policy"] == "no-referrer"
            assert form.headers["cache-control"] == "no-store"
            assert "Send me my link" in (client.get("/privacy?lang=en")).text

            shouted = " Maelle.Durand@Example.org "  # spaces and capitals as people type them
            known = client.post("/privacy/request", data={"email": shouted})
            unknown = client.post("/privacy/request", data={"email": "nobody@example.org"})
            assert known.status_code == unknown.status_code == 200
            assert known.text == unknown.text
            assert "un lien vers votre page vient d’être envoyé" in known.text
            link = link_in(smtp_receiver)
            time.sleep(0.5)
            assert len(smtp_receiver.envelopes) == 1  # nothing for the unknown address
            [envelope] = smtp_receiver.envelopes
            assert envelope.rcpt_tos == ["maelle.durand@example.org"]
            assert smtp_receiver.messages()[0]["subject"] == "Vos données dans Vivant"
            assert link.startswith(f"{hub.base_url}/privacy/")

            bad = client.post("/privacy/request", data={"email": "not an address"})
            assert bad.status_code == 400
            assert "Ce n’est pas une adresse e-mail." in bad.text
            # Four requests per client and window in this configuration: the fifth waits.
            fourth = client.post("/privacy/request", data={"email": "x@example.org"})
            assert fourth.status_code == 200
            limited = client.post("/privacy/request", data={"email": "x@example.org"})
            assert limited.status_code == 429
            assert "Trop de demandes" in limited.text

            page = client.get(link.removeprefix(hub.base_url))
            assert page.status_code == 200
            assert "Mes données · Maëlle" in page.text
            assert page.headers["referrer-policy"] == "no-referrer"
            forged = client.get("/privacy/" + "x" * 40)
            assert forged.status_code == 404
            assert "Ce lien n’est pas valide" in forged.text


def test_consents_form_needs_the_token_of_its_own_link(
    system_broker_url: str, clean_root: str, tmp_path: Path, smtp_receiver: SmtpReceiver
) -> None:
    config = privacy_config(
        system_broker_url, clean_root, f"sqlite:///{tmp_path / 'hub.db'}", smtp_receiver
    )
    with running_hub(config) as hub:
        from hub.privacy import link_token

        with hub.runtime.sessions.begin() as session:
            mine = populate(session, config, at=RECENT).id
            theirs = populate(session, config, "Bruno", at=RECENT).id
        signer = hub.runtime.signer
        assert signer is not None
        my_link, their_link = link_token(signer, mine), link_token(signer, theirs)
        with httpx.Client(base_url=hub.base_url) as client:
            page = client.get(f"/privacy/{my_link}")
            their_page = client.get(f"/privacy/{their_link}")
            [csrf] = CSRF.findall(page.text)[:1]
            [their_csrf] = CSRF.findall(their_page.text)[:1]
            wanted = {"consent": ["staff_visible", message_scope("email")], "csrf": their_csrf}
            refused = client.post(f"/privacy/{my_link}/consents", data=wanted)
            assert refused.status_code == 403
            missing = client.post(
                f"/privacy/{my_link}/consents", data={"consent": ["staff_visible"]}
            )
            assert missing.status_code == 422
            saved = client.post(f"/privacy/{my_link}/consents", data={**wanted, "csrf": csrf})
            assert saved.status_code == 303
            after = client.get(saved.headers["location"])
            assert "Vos choix sont enregistrés." in after.text
            assert 'value="staff_visible" checked' in after.text
            assert 'value="screen_display" checked' not in after.text
            exported = (client.get(f"/privacy/{my_link}/export.json")).json()
            assert sorted(c["scope"] for c in exported["consents"]) == [
                "messages:email",
                "staff_visible",
            ]
            assert [e["via"] for e in exported["consent_history"]][-4:] == ["self_service"] * 4
            table = (client.get(f"/privacy/{my_link}/export.csv")).content.decode("utf-8-sig")
            assert ["member", "1", "first_name", "Maëlle"] in list(csv.reader(io.StringIO(table)))
            not_confirmed = client.post(f"/privacy/{my_link}/erase", data={"csrf": csrf})
            assert not_confirmed.status_code == 400
        with hub.runtime.sessions() as session:
            assert session.get(Member, mine) is not None


@pytest.mark.timeout(120)
def test_erasure_reaches_database_caches_retained_topics_and_time_series(
    system_broker_url: str,
    clean_root: str,
    db_url: str,
    tmp_path: Path,
    smtp_receiver: SmtpReceiver,
) -> None:
    root = clean_root
    with victoria_metrics(tmp_path / "vm") as vm:
        config = privacy_config(
            system_broker_url, root, db_url, smtp_receiver, vm_url=vm.url,
            spool=tmp_path / "spool.db",
        )  # fmt: skip
        with running_hub(config) as hub:
            member_id = _member_with_data_everywhere(hub, config, root)
            identifiers = [TAG, BADGE, "Maëlle", "Durand", "example.org"]
            before = retained_under(root)
            assert any(TAG.encode() in payload for payload in before.values())

            with httpx.Client(base_url=hub.base_url) as client:
                client.post("/privacy/request", data={"email": "maelle.durand@example.org"})
                link = link_in(smtp_receiver).removeprefix(hub.base_url)
                page = client.get(link)
                [csrf] = CSRF.findall(page.text)[:1]
                erased = client.post(f"{link}/erase", data={"csrf": csrf, "confirm": "yes"})
                assert erased.status_code == 200
                assert "Vos données sont effacées" in erased.text
                gone = client.get(link)
                assert gone.status_code == 404
                assert "Aucune donnée" in gone.text

            # SQL: no row names her, by id or by badge credential.
            with hub.runtime.sessions() as session:
                assert remaining_rows(session, member_id, [BADGE]) == 0
                snapshots = json.dumps([r.value for r in session.scalars(select(HubState))])
            assert f"[{member_id}, " not in snapshots
            # Caches: the live state forgot her tag and its room.
            site = hub.runtime.live.sites[SITE]
            assert site.locator.room_of(TAG) is None
            assert all(owner.member_id != member_id for owner in site.owners.values())
            # Retained topics: the node configs are republished without her tag.
            wait_until(
                lambda: not any(TAG.encode() in p for p in retained_under(root, 0.3).values()),
                within=30,
                what="retained configs without the erased tag",
            )
            after = retained_under(root)
            assert after  # the broker still holds the hub's status, configs and occupancy
            for topic, payload in after.items():
                assert not any(i in topic for i in [*identifiers, f"/{member_id}"]), topic
                assert not any(i.encode() in payload for i in identifiers), payload
            # Her badge, tapped again, names nobody.
            tap = {"id": "after-erasure", "ts": int(time.time() * 1000), "room": "accueil",
                   "reader": "porte", "credential": BADGE}  # fmt: skip
            publish.single(f"{root}/{SITE}/entree/badge", json.dumps(tap), qos=1,
                           hostname="127.0.0.1", port=1883)  # fmt: skip

            def unknown_tap() -> bool:
                with hub.runtime.sessions() as session:
                    row = session.scalar(select(BadgeTap).where(BadgeTap.msg_id == "after-erasure"))
                    return row is not None and row.member_id is None

            wait_until(unknown_tap, within=30, what="the erased badge recorded as unknown")
            with hub.runtime.sessions() as session:
                assert session.scalars(select(PresenceSession)).all() == []
            # Time series: the points written while she was located name nobody.
            series = vm.export('{__name__=~".+"}')
    assert any(s.name.startswith("occupancy") for s in series)
    for one in series:
        labels = json.dumps(one.labels, ensure_ascii=False)
        assert not any(i in labels for i in identifiers), labels
        # No label is her member id (a substring test would match "hub-…1" and the like).
        assert str(member_id) not in one.labels.values(), labels


def _member_with_data_everywhere(hub: RunningHub, config: HubConfig, root: str) -> int:
    """Rows in every table, her tag located live by BLE through the broker, configs retained."""
    with hub.runtime.sessions.begin() as session:
        member = populate(session, config, at=RECENT)
        member_id = member.id
    hub.runtime.live.tags.forget()  # as enrolment does: republish configs with her tag
    for n in range(6):
        publish.single(f"{root}/{SITE}/pi-cuisine/ble", ble_window(n), qos=1,
                       hostname="127.0.0.1", port=1883)  # fmt: skip
        time.sleep(0.15)
    wait_until(
        lambda: hub.runtime.live.sites[SITE].locator.room_of(TAG) == "cuisine",
        within=30,
        what="her tag placed in the kitchen",
    )
    return member_id


def test_erasure_form_needs_the_token_of_its_own_link(
    system_broker_url: str, clean_root: str, tmp_path: Path, smtp_receiver: SmtpReceiver
) -> None:
    config = privacy_config(
        system_broker_url, clean_root, f"sqlite:///{tmp_path / 'hub.db'}", smtp_receiver
    )
    with running_hub(config) as hub:
        from hub.privacy import link_token

        with hub.runtime.sessions.begin() as session:
            mine = populate(session, config, at=RECENT).id
            theirs = populate(session, config, "Bruno", at=RECENT).id
        signer = hub.runtime.signer
        assert signer is not None
        my_link, their_link = link_token(signer, mine), link_token(signer, theirs)
        with httpx.Client(base_url=hub.base_url) as client:
            page = client.get(f"/privacy/{my_link}")
            assert page.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            [their_csrf] = CSRF.findall(client.get(f"/privacy/{their_link}").text)[:1]
            foreign = client.post(
                f"/privacy/{my_link}/erase", data={"csrf": their_csrf, "confirm": "yes"}
            )
            assert foreign.status_code == 403
            missing = client.post(f"/privacy/{my_link}/erase", data={"confirm": "yes"})
            assert missing.status_code == 422
            forged = client.post(
                f"/privacy/{my_link}/erase", data={"csrf": "x" * 40, "confirm": "yes"}
            )
            assert forged.status_code == 403
        with hub.runtime.sessions() as session:
            assert session.get(Member, mine) is not None


def test_link_requests_behind_a_trusted_proxy_are_counted_per_real_client(
    system_broker_url: str, clean_root: str, tmp_path: Path, smtp_receiver: SmtpReceiver
) -> None:
    """Every request comes from the proxy: counted by its address, one client would use up
    everyone's share. With ``http.trusted_proxies`` the client in X-Forwarded-For is counted."""
    config = privacy_config(
        system_broker_url, clean_root, f"sqlite:///{tmp_path / 'hub.db'}", smtp_receiver
    )
    proxied = config.http.model_copy(update={"trusted_proxies": [ip_network("127.0.0.0/8")]})
    with (
        running_hub(config.model_copy(update={"http": proxied})) as hub,
        httpx.Client(base_url=hub.base_url) as client,
    ):
        greedy = {"X-Forwarded-For": "203.0.113.9"}
        answers = [
            client.post("/privacy/request", data={"email": f"x{i}@example.fr"}, headers=greedy)
            for i in range(config.privacy.requests_per_client + 1)
        ]
        assert [a.status_code for a in answers][-2:] == [200, 429]
        other = {"X-Forwarded-For": "198.51.100.8"}
        assert (
            client.post("/privacy/request", data={"email": "y@example.fr"}, headers=other)
        ).status_code == 200
