"""The weekly digest: built from a synthetic week, sent in each manager's language through
Apprise to a real SMTP receiver (aiosmtpd), on Monday morning site time, once per week and site
even across restarts; ``vivant hub digest`` prints it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import Role, add_user
from hub.config import HubConfig, Language
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.models import HubState
from hub.insights.digest import (
    MAX_ATTEMPTS,
    build_digest,
    retry_delay,
    send_due_digests,
    site_week,
    week_to_send,
)
from hub.insights.rollups import refresh
from hub.insights.synthetic import SyntheticSpec, generate
from tests.hub.channels.conftest import SmtpReceiver
from tests.support.accounts import PASSWORD
from tests.support.hub_server import SITE, hub_config, running_hub
from tests.support.mosquitto import free_port
from tests.support.waiting import wait_until
from vivant.cli import main

WEEK = date(2026, 11, 16)  # the Monday of the week reported on Monday 23 November
PARIS_MONDAY_0730 = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
PARIS_MONDAY_0805 = datetime(2026, 11, 23, 7, 5, tzinfo=UTC)


def with_mail(config: HubConfig, port: int) -> HubConfig:
    data: dict[str, Any] = config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["channels"]["email_url"] = (
        f"mailto://127.0.0.1:{port}?from=vivant@ekilibre.example&mode=insecure"
    )
    data["http"]["public_url"] = "https://vivant.ekilibre.example"
    return HubConfig.model_validate(data)


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Six weeks of a synthetic population up to the reported week, rollups refreshed."""
    spec = SyntheticSpec(
        seed=3, sites=1, members_per_site=60, start=WEEK - timedelta(weeks=5), days=6 * 7
    )
    with sessions.begin() as session:
        generate(session, spec)
        refresh(session, PARIS_MONDAY_0805, None)
        add_user(session, "direction@ekilibre.example", PASSWORD, Role.MANAGER, name="Direction")
        add_user(session, "owner@ekilibre.example", PASSWORD, Role.ADMIN, language="en")
        add_user(session, "accueil@ekilibre.example", PASSWORD, Role.STAFF)
    return sessions


def test_week_to_send_follows_site_time() -> None:
    assert week_to_send(PARIS_MONDAY_0730, "Europe/Paris") is None
    assert week_to_send(PARIS_MONDAY_0805, "Europe/Paris") == WEEK
    # A hub started on Wednesday still owes last week's digest.
    assert week_to_send(PARIS_MONDAY_0805 + timedelta(days=2), "Europe/Paris") == WEEK
    # 08:05 in Paris is 02:05 in New York: not yet Monday morning there.
    assert week_to_send(PARIS_MONDAY_0805, "America/New_York") is None
    assert week_to_send(datetime(2026, 11, 23, 14, 0, tzinfo=UTC), "America/New_York") == WEEK


def test_digest_is_mailed_to_managers_once_a_week(
    filled: sessionmaker[Session], site_config: HubConfig, smtp_receiver: SmtpReceiver
) -> None:
    config = with_mail(site_config, smtp_receiver.port)
    assert asyncio.run(send_due_digests(config, filled, PARIS_MONDAY_0730)) == {}
    assert smtp_receiver.envelopes == []

    assert asyncio.run(send_due_digests(config, filled, PARIS_MONDAY_0805)) == {SITE: 2}
    messages = {m["To"]: m for m in smtp_receiver.messages()}
    assert set(messages) == {"direction@ekilibre.example", "owner@ekilibre.example"}
    french = messages["direction@ekilibre.example"]
    english = messages["owner@ekilibre.example"]
    assert french["Subject"] == "Vivant · éKilibre · semaine du 16/11/2026"
    assert english["Subject"] == "Vivant · éKilibre · week of 2026-11-16"
    body = french.get_content().replace("\r\n", "\n")
    with filled() as session:
        report = site_week(session, config, SITE, WEEK)
    expected = build_digest(report, config.sites[0], Language.FR, config.http.base_url)
    assert body.strip() == expected.body.strip()
    assert "Salles" in body
    assert "Relances : effet face au groupe témoin" in body
    link = "https://vivant.ekilibre.example/insights?site=ekilibre&from=2026-11-16&to=2026-11-22"
    assert link in body
    assert "Rooms" in english.get_content()

    # Later the same week, and after a restart (new sessions on the same database): not again.
    later = PARIS_MONDAY_0805 + timedelta(hours=3)
    assert asyncio.run(send_due_digests(config, filled, later)) == {}
    engine = make_engine(config.database.url)
    try:
        assert asyncio.run(send_due_digests(config, make_sessionmaker(engine), later)) == {}
    finally:
        engine.dispose()
    assert len(smtp_receiver.envelopes) == 2
    # The next Monday, the next week.
    assert asyncio.run(send_due_digests(config, filled, later + timedelta(weeks=1))) == {SITE: 2}


def test_digest_without_mail_url_sends_nothing_and_claims_nothing(
    filled: sessionmaker[Session], site_config: HubConfig, smtp_receiver: SmtpReceiver
) -> None:
    assert asyncio.run(send_due_digests(site_config, filled, PARIS_MONDAY_0805)) == {}
    config = with_mail(site_config, smtp_receiver.port)
    assert asyncio.run(send_due_digests(config, filled, PARIS_MONDAY_0805)) == {SITE: 2}


def test_cli_prints_the_digest(
    filled: sessionmaker[Session],
    site_config: HubConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data: dict[str, Any] = site_config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["hub", "--config", str(path), "digest"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Subject: Vivant · éKilibre · semaine du ")
    assert "Postures" in out
    assert "sent to" not in out


def test_running_hub_sends_it_on_monday_morning_once_across_restarts(
    filled: sessionmaker[Session],
    system_broker_url: str,
    topic_root: str,
    db_url: str,
    smtp_receiver: SmtpReceiver,
) -> None:
    # In Paris, as the fixed clock: the suite's default zone follows the time of day of the run
    # (tests.support.hub_server.SITE_ZONE), where 07:05 UTC may still be before Monday's send hour.
    base = hub_config(
        system_broker_url,
        topic_root,
        db_url,
        client_id=f"hub-{topic_root[:9]}",
        port=free_port(),
        timezone="Europe/Paris",
    )
    config = with_mail(base, smtp_receiver.port)
    with running_hub(config, clock=lambda: PARIS_MONDAY_0805):
        wait_until(lambda: len(smtp_receiver.envelopes) == 2, within=20, what="two digests")
    # Restarted later that Monday: its first refresh loop runs at start and sends nothing.
    with running_hub(config, clock=lambda: PARIS_MONDAY_0805 + timedelta(hours=1)):
        time.sleep(2)
    assert len(smtp_receiver.envelopes) == 2
    # The next Monday, the next week's digest.
    with running_hub(config, clock=lambda: PARIS_MONDAY_0805 + timedelta(weeks=1)):
        wait_until(lambda: len(smtp_receiver.envelopes) == 4, within=20, what="next week's")


@dataclass
class RefusingReceiver(SmtpReceiver):
    """An SMTP server that refuses its first *refuse* messages (451: try again later)."""

    refuse: int = 0
    refused: int = 0

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        """Refuse while refusals are left, then keep the message."""
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def refusing_receiver() -> Iterator[RefusingReceiver]:
    """A real SMTP receiver (aiosmtpd) that refuses the first message it is given."""
    receiver = RefusingReceiver(port=free_port(), refuse=1)
    controller = Controller(receiver, hostname="127.0.0.1", port=receiver.port)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()


def deliveries(sessions: sessionmaker[Session]) -> dict[str, dict[str, object]]:
    """Each manager's delivery record of the week, by address."""
    with sessions() as session:
        rows = session.scalars(
            select(HubState).where(HubState.key.like(f"insights-digest:{SITE}:{WEEK}:%"))
        )
        return {str(r.value["email"]): dict(r.value) for r in rows if "email" in r.value}


def test_a_refused_digest_is_retried_later_and_an_accepted_one_never_again(
    filled: sessionmaker[Session], site_config: HubConfig, refusing_receiver: RefusingReceiver
) -> None:
    config = with_mail(site_config, refusing_receiver.port)
    # Monday 08:05: the server refuses the first message it is given and takes the other one.
    assert asyncio.run(send_due_digests(config, filled, PARIS_MONDAY_0805)) == {SITE: 1}
    assert refusing_receiver.refused == 1
    [accepted] = [m["To"] for m in refusing_receiver.messages()]
    [refused_to] = {"direction@ekilibre.example", "owner@ekilibre.example"} - {accepted}
    state = deliveries(filled)
    refused = state[refused_to]
    assert refused["status"] == "failed"
    assert refused["attempts"] == 1
    assert refused["next_at"] == (PARIS_MONDAY_0805 + retry_delay(1)).isoformat()
    assert refused["detail"]  # what went wrong
    assert state[accepted]["status"] == "sent"

    # Before the retry time nothing is attempted (the server would accept now).
    soon = PARIS_MONDAY_0805 + retry_delay(1) - timedelta(minutes=1)
    assert asyncio.run(send_due_digests(config, filled, soon)) == {}
    assert len(refusing_receiver.envelopes) == 1

    # At the retry time the refused digest goes, and only it, in its reader's language.
    retry = PARIS_MONDAY_0805 + retry_delay(1)
    assert asyncio.run(send_due_digests(config, filled, retry)) == {SITE: 1}
    received = refusing_receiver.messages()
    assert [m["To"] for m in received] == [accepted, refused_to]
    subjects = {
        "direction@ekilibre.example": "Vivant · éKilibre · semaine du 16/11/2026",
        "owner@ekilibre.example": "Vivant · éKilibre · week of 2026-11-16",
    }
    assert received[1]["Subject"] == subjects[refused_to]
    assert deliveries(filled)[refused_to]["attempts"] == 2

    # Later passes, from another process on the same database too: nothing is sent twice.
    engine = make_engine(config.database.url)
    try:
        for later in (retry + timedelta(hours=1), retry + timedelta(days=2)):
            assert asyncio.run(send_due_digests(config, make_sessionmaker(engine), later)) == {}
    finally:
        engine.dispose()
    assert len(refusing_receiver.envelopes) == 2
    assert {v["status"] for v in deliveries(filled).values()} == {"sent"}


def test_retries_back_off_and_give_up(
    filled: sessionmaker[Session], site_config: HubConfig, refusing_receiver: RefusingReceiver
) -> None:
    refusing_receiver.refuse = 10_000  # a server that never accepts
    config = with_mail(site_config, refusing_receiver.port)
    now = PARIS_MONDAY_0805
    waits = []
    for _ in range(MAX_ATTEMPTS):
        assert asyncio.run(send_due_digests(config, filled, now)) == {}
        state = deliveries(filled)["direction@ekilibre.example"]
        if state["status"] == "abandoned":
            break
        following = datetime.fromisoformat(str(state["next_at"]))
        waits.append(following - now)
        now = following
    assert state["status"] == "abandoned"
    assert state["attempts"] == MAX_ATTEMPTS
    assert waits[:3] == [timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1)]
    assert max(waits) <= timedelta(hours=12)
    # Two managers, MAX_ATTEMPTS refused messages each; nothing after giving up.
    assert refusing_receiver.refused == 2 * MAX_ATTEMPTS
    assert asyncio.run(send_due_digests(config, filled, now + timedelta(days=1))) == {}
    assert refusing_receiver.refused == 2 * MAX_ATTEMPTS
