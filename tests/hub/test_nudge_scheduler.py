"""The nudge scheduler, rule by rule, with a clock the test moves by hand, on SQLite and PostgreSQL.

Presence, moments, RSVPs and consents are written through the hub's own functions; the scheduler
reads them like in production and its decisions, triggers and deliveries are read back from the
database.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.models import (
    Attendance,
    Consent,
    Credential,
    CredentialKind,
    Delivery,
    Moment,
    NudgeRecord,
    NudgeTrigger,
    PresenceSource,
    RoomDwell,
)
from hub.live import LiveState
from hub.moments import add_moment
from hub.nudge_control import pause, resume, set_dry_run
from hub.nudge_facts import LiveStateRooms, streak_without_moment
from hub.nudge_scheduler import NudgeScheduler, explain_planned
from hub.nudges.guardrails import ReasonCode, Send, Skip
from hub.nudges.rules import Caps, NudgeKind, RulesConfig
from hub.presence import arrive, depart
from hub.rsvp import join
from hub.signing import Purpose, Signer
from hub.sites import sync_sites
from tests.hub.nudges.helpers import rules, with_rule
from tests.support.factories import reachable_member
from tests.support.hub_server import SITE
from vivant.wire.payloads import BleWindow, TagReading
from vivant.wire.topics import EdgeKind, NodeTopic

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=PARIS)  # a Tuesday
K = NudgeKind
SIGNER = Signer("a-test-secret-key-of-enough-length")
BADGE = PresenceSource.BADGE


@pytest.fixture
def config(site_config: HubConfig) -> HubConfig:
    """The test site with a meeting room."""
    data = site_config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["sites"][0]["rooms"].append({"id": "salle", "name": "Salle Lumière", "kind": "meeting"})
    return HubConfig.model_validate(data)


@pytest.fixture
def db(sessions: sessionmaker[Session], config: HubConfig) -> sessionmaker[Session]:
    with sessions.begin() as session:
        sync_sites(session, config)
    return sessions


def quiet_rules(**changes: object) -> RulesConfig:
    """Default rules without holdouts and without the welcome (tests turn on what they test)."""
    config = rules(**changes)
    config = with_rule(config, K.WELCOME_FIRST_DAY, enabled=False)
    return with_rule(config, K.WELCOME_BACK, enabled=False)


def scheduler(
    config: HubConfig, db: sessionmaker[Session], rules_config: RulesConfig | None = None
) -> NudgeScheduler:
    return NudgeScheduler(
        config, db, rules_config or quiet_rules(), signer=SIGNER, rand=lambda: 0.5
    )


def breakfast(
    session: Session, config: HubConfig, start: datetime, capacity: int | None = 10
) -> Moment:
    moment = add_moment(
        session,
        config.sites[0],
        room_id="cuisine",
        title="Petit-déjeuner",
        kind="breakfast",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        tags=["food", "networking"],
        capacity=capacity,
        now=T0 - timedelta(days=1),
    )
    session.flush()
    return moment


def here(session: Session, member_id: int, at: datetime) -> None:
    arrive(session, member_id, SITE, at, BADGE)


def records(db: sessionmaker[Session], kind: NudgeKind) -> list[NudgeRecord]:
    with db() as session:
        return list(
            session.scalars(
                select(NudgeRecord).where(NudgeRecord.rule == kind.value).order_by(NudgeRecord.id)
            )
        )


def deliveries(db: sessionmaker[Session]) -> list[Delivery]:
    with db() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


# 2. Moment starting soon -------------------------------------------------------------------


def test_moment_soon_invites_only_members_on_site_who_consented_and_have_not_joined(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        moment = breakfast(session, config, T0.replace(hour=10))
        camille = reachable_member(session, "Camille", now=T0)
        hugo = reachable_member(session, "Hugo", consents=[Consent.SCREEN_DISPLAY], now=T0)
        lea = reachable_member(session, "Léa", now=T0)
        absent = reachable_member(session, "Absent", now=T0)
        for member in (camille, hugo, lea):
            here(session, member.id, T0.replace(hour=8, minute=30))
        join(session, moment.id, lea.id, T0)
        ids = (moment.id, camille.id, hugo.id, lea.id, absent.id)
    moment_id, camille_id, hugo_id, _, _ = ids
    nudges = scheduler(config, db)

    assert nudges.tick(T0.replace(hour=9, minute=49)).fired == []
    report = nudges.tick(T0.replace(hour=9, minute=50))
    assert [key.split(":")[0] for key in report.fired] == ["moment_soon"]
    decided = {p.name: p.decision for p in report.planned}
    assert set(decided) == {"Camille", "Hugo"}  # Léa joined, Absent is not here
    assert isinstance(decided["Camille"], Send)
    skip = decided["Hugo"]
    assert isinstance(skip, Skip)
    assert ReasonCode.NO_CONSENT_KIND in skip.codes

    sent = [d for d in deliveries(db) if d.channel == "apprise"]
    assert [d.member_id for d in sent] == [camille_id]
    (screen,) = [d for d in deliveries(db) if d.channel == "screen"]
    assert (screen.target_ref, screen.recipient_kind) == (str(moment_id), "screen")
    invitation = sent[0]
    assert invitation.state == "queued"
    assert invitation.language == "fr"
    local_send = invitation.send_at.astimezone(PARIS)
    assert T0.replace(hour=9, minute=51) <= local_send <= T0.replace(hour=9, minute=53)
    assert invitation.expires_at == T0.replace(hour=10).astimezone(UTC)
    assert invitation.subject == "Petit-déjeuner à 10:00"
    link = invitation.body.split("S’inscrire ou se désinscrire : ")[1]
    token = link.rsplit("/rsvp/", 1)[1]
    assert SIGNER.loads(Purpose.RSVP, token, 60) == {"member": camille_id, "moment": moment_id}
    logged = records(db, K.MOMENT_SOON)
    assert [(r.member_id, r.decision) for r in logged] == [
        (camille_id, "sent"),
        (hugo_id, "skipped"),
    ]
    assert logged[1].reasons == ["no_consent_kind", "no_consent_channel"]

    # Once: later ticks, and a restarted scheduler, fire nothing again.
    assert nudges.tick(T0.replace(hour=9, minute=51)).fired == []
    assert scheduler(config, db).tick(T0.replace(hour=9, minute=52)).fired == []
    assert len(records(db, K.MOMENT_SOON)) == 2


def test_moment_soon_offers_the_seats_left_to_the_best_interest_match(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        moment = breakfast(session, config, T0.replace(hour=10), capacity=2)
        taken = reachable_member(session, "Déjà", now=T0)
        join(session, moment.id, taken.id, T0)
        foodie = reachable_member(session, "Gourmand", now=T0)
        plain = reachable_member(session, "Neutre", now=T0)
        earlier = breakfast(session, config, T0 - timedelta(days=3))
        session.add(
            Attendance(moment_id=earlier.id, member_id=foodie.id, source="tap", confidence=1.0,
                       minutes_present=30, recorded_at=T0 - timedelta(days=3))
        )  # fmt: skip
        for member in (foodie, plain):
            here(session, member.id, T0.replace(hour=8))
    report = scheduler(config, db).tick(T0.replace(hour=9, minute=50))
    decided = {p.name: p.decision for p in report.planned}
    assert isinstance(decided["Gourmand"], Send)
    assert isinstance(decided["Neutre"], Skip)
    assert decided["Neutre"].codes == {ReasonCode.CAPACITY_REACHED}


def test_a_moved_moment_is_announced_again_for_its_new_time(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        moment = breakfast(session, config, T0.replace(hour=10))
        member = reachable_member(session, "Camille", now=T0)
        here(session, member.id, T0.replace(hour=8))
        moment_id = moment.id
    nudges = scheduler(config, db, quiet_rules(caps=Caps(per_day=5, per_week=10)))
    assert len(nudges.tick(T0.replace(hour=9, minute=50)).fired) == 1
    with db.begin() as session:
        moved = session.get(Moment, moment_id)
        assert moved is not None
        moved.starts_at = T0.replace(hour=11)
        moved.ends_at = T0.replace(hour=12)
    assert nudges.tick(T0.replace(hour=9, minute=55)).fired == []
    assert len(nudges.tick(T0.replace(hour=10, minute=50)).fired) == 1


def test_no_invitation_in_a_meeting_room_or_over_the_daily_cap(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        breakfast(session, config, T0.replace(hour=10))
        busy = reachable_member(session, "Occupé", now=T0)
        capped = reachable_member(session, "Plafonné", now=T0)
        for member in (busy, capped):
            here(session, member.id, T0.replace(hour=8))
        session.add(
            RoomDwell(member_id=busy.id, site_id=SITE, room_id="salle",
                      entered_at=T0.replace(hour=9, minute=30), source="ble")
        )  # fmt: skip
        session.add(
            NudgeRecord(member_id=capped.id, site_id=SITE, rule="welcome_first_day",
                        channel="apprise", variant_id="cuisine", arm="treatment", decision="sent",
                        reasons=[], triggered_at=T0.replace(hour=8), not_before=T0.replace(hour=8),
                        not_after=T0.replace(hour=8, minute=10),
                        sent_at=T0.replace(hour=8, minute=5), outcome="pending")
        )  # fmt: skip
    report = scheduler(config, db).tick(T0.replace(hour=9, minute=50))
    decided = {p.name: p.decision for p in report.planned}
    assert isinstance(decided["Occupé"], Skip)
    assert decided["Occupé"].codes == {ReasonCode.IN_MEETING_ROOM}
    assert isinstance(decided["Plafonné"], Skip)
    assert decided["Plafonné"].codes == {ReasonCode.CAP_DAY}
    assert [d.channel for d in deliveries(db)] == ["screen"]  # the hall's announcement only


# 3. Low attendance -------------------------------------------------------------------------


def test_low_attendance_alerts_the_site_staff_five_minutes_after_the_start(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        moment = breakfast(session, config, T0.replace(hour=10))
        for name in ("A", "B", "C", "D"):
            join(session, moment.id, reachable_member(session, name, now=T0).id, T0)
    nudges = scheduler(config, db)
    assert [k for k in nudges.tick(T0.replace(hour=10, minute=4)).fired if "low" in k] == []
    report = nudges.tick(T0.replace(hour=10, minute=5))
    assert [k.split(":")[0] for k in report.fired] == ["low_attendance"]
    alert = deliveries(db)[-1]
    assert (alert.channel, alert.recipient_kind, alert.target_ref) == ("staff", "staff", SITE)
    assert alert.member_id is None
    assert alert.subject == "Peu de monde à Petit-déjeuner"
    assert "0 présent(s) pour 4 attendu(s)" in alert.body


def test_enough_people_in_the_room_means_no_alert(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        moment = breakfast(session, config, T0.replace(hour=10))
        for name in ("A", "B", "C"):
            member = reachable_member(session, name, now=T0)
            here(session, member.id, T0.replace(hour=9))
            session.add(
                RoomDwell(member_id=member.id, site_id=SITE, room_id="cuisine",
                          entered_at=T0.replace(hour=10), source="ble")
            )  # fmt: skip
        del moment
    report = scheduler(config, db).tick(T0.replace(hour=10, minute=5))
    (alert,) = report.decisions(K.LOW_ATTENDANCE_STAFF)
    assert isinstance(alert.decision, Skip)
    assert alert.decision.codes == {ReasonCode.ATTENDANCE_OK}
    assert [d for d in deliveries(db) if d.channel == "staff"] == []


# 4. Tenant streak --------------------------------------------------------------------------


def visits(session: Session, member_id: int, days: int, until: datetime) -> None:
    """Weekday visits, *days* of them, ending on the day of *until* (still on site)."""
    weekdays: list[datetime] = []
    day = until
    while len(weekdays) < days:
        if day.weekday() < 5:
            weekdays.insert(0, day)
        day -= timedelta(days=1)
    for day in weekdays:
        arrive(session, member_id, SITE, day.replace(hour=9), BADGE)
        if day.date() != until.date():
            depart(session, member_id, SITE, day.replace(hour=17), BADGE)


def test_tenant_streak_suggests_an_introduction_to_staff_never_to_the_member(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    tuesday = T0.replace(hour=11)
    with db.begin() as session:
        tenant = reachable_member(
            session, "Locataire", consents=[Consent.MESSAGES, Consent.INSIGHTS], now=T0
        )
        private = reachable_member(session, "Discret", now=T0)
        visits(session, tenant.id, 5, tuesday)  # Wed Thu Fri (weekend) Mon Tue
        visits(session, private.id, 5, tuesday)
        assert streak_without_moment(session, config.sites[0], tenant.id, tuesday.date()) == 5
        tenant_id = tenant.id
    report = scheduler(config, db).tick(tuesday)
    decided = {p.name: p.decision for p in report.decisions(K.TENANT_STREAK_STAFF)}
    assert isinstance(decided["Locataire"], Send)
    assert isinstance(decided["Discret"], Skip)
    assert ReasonCode.NO_CONSENT_KIND in decided["Discret"].codes
    (suggestion,) = deliveries(db)
    assert (suggestion.channel, suggestion.recipient_kind) == ("staff", "staff")
    assert suggestion.target_ref == SITE  # the site's staff channel, not the member's
    assert suggestion.member_id == tenant_id  # about them: erased with them
    assert "Locataire" in suggestion.body
    assert "5" in suggestion.body
    # Next day: the cooldown (from the log) holds it back.
    wednesday = tuesday + timedelta(days=1)
    with db.begin() as session:
        depart(session, tenant_id, SITE, tuesday.replace(hour=18), BADGE)
        arrive(session, tenant_id, SITE, wednesday.replace(hour=9), BADGE)
    later = scheduler(config, db).tick(wednesday)
    again = {p.name: p.decision for p in later.decisions(K.TENANT_STREAK_STAFF)}
    assert isinstance(again["Locataire"], Skip)
    assert ReasonCode.RECENTLY_SUGGESTED in again["Locataire"].codes


# 5. Welcome --------------------------------------------------------------------------------


def test_welcome_on_the_first_day_and_back_after_a_long_absence(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        member = reachable_member(session, "Nouvelle", language="en", now=T0)
        here(session, member.id, T0)
        member_id = member.id
    nudges = scheduler(config, db, rules())
    report = nudges.tick(T0 + timedelta(minutes=1))
    (welcome,) = report.decisions(K.WELCOME_FIRST_DAY)
    assert isinstance(welcome.decision, Send)
    (message,) = deliveries(db)
    assert message.language == "en"
    assert message.subject == "Welcome to éKilibre"
    assert T0 + timedelta(minutes=5) <= message.send_at <= T0 + timedelta(minutes=20)
    # The next day is not a first day; thirty days later is a return.
    with db.begin() as session:
        depart(session, member_id, SITE, T0.replace(hour=18), BADGE)
        arrive(session, member_id, SITE, T0 + timedelta(days=1), BADGE)
    assert nudges.tick(T0 + timedelta(days=1, minutes=1)).decisions(K.WELCOME_FIRST_DAY) == []
    back = T0 + timedelta(days=31)
    with db.begin() as session:
        depart(session, member_id, SITE, (T0 + timedelta(days=1)).replace(hour=18), BADGE)
        arrive(session, member_id, SITE, back, BADGE)
    (returned,) = nudges.tick(back + timedelta(minutes=1)).decisions(K.WELCOME_BACK)
    assert isinstance(returned.decision, Send)
    assert returned.trigger.days == 29


def test_members_registered_long_before_the_hub_saw_them_are_not_welcomed_as_new(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        veteran = reachable_member(session, "Ancienne", now=T0 - timedelta(days=400))
        here(session, veteran.id, T0)
    report = scheduler(config, db, rules()).tick(T0 + timedelta(minutes=1))
    assert report.decisions(K.WELCOME_FIRST_DAY) == []


# 1. Arrival message ------------------------------------------------------------------------


def test_arrival_message_when_a_moment_starts_within_the_hour(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    config_rules = with_rule(quiet_rules(), K.ARRIVAL_MESSAGE, enabled=True)
    with db.begin() as session:
        breakfast(session, config, T0.replace(hour=10))
        early = reachable_member(session, "Matinal", now=T0)
        here(session, early.id, T0.replace(hour=8, minute=40))
    nudges = scheduler(config, db, config_rules)
    assert nudges.tick(T0.replace(hour=8, minute=41)).decisions(K.ARRIVAL_MESSAGE) == []
    with db.begin() as session:
        late = reachable_member(session, "Ponctuel", now=T0)
        here(session, late.id, T0.replace(hour=9, minute=15))
    (arrival,) = nudges.tick(T0.replace(hour=9, minute=16)).decisions(K.ARRIVAL_MESSAGE)
    assert arrival.name == "Ponctuel"
    assert isinstance(arrival.decision, Send)
    assert "/rsvp/" in deliveries(db)[0].body


# Guardrail switches, once-only across processes, dry run -----------------------------------


def test_paused_or_dry_run_decides_and_logs_but_queues_nothing(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        breakfast(session, config, T0.replace(hour=10))
        breakfast(session, config, T0.replace(hour=11))
        member = reachable_member(session, "Camille", now=T0)
        here(session, member.id, T0.replace(hour=8))
        pause(session, T0)
    nudges = scheduler(config, db)
    report = nudges.tick(T0.replace(hour=9, minute=50))
    (paused,) = report.decisions(K.MOMENT_SOON)
    assert isinstance(paused.decision, Skip)
    assert paused.decision.codes == {ReasonCode.PAUSED}
    with db.begin() as session:
        resume(session, T0)
        set_dry_run(session, True, T0)
    nudges.tick(T0.replace(hour=10, minute=50))
    assert [r.decision for r in records(db, K.MOMENT_SOON)] == ["skipped", "dry_run"]
    assert deliveries(db) == []


def test_two_hub_processes_fire_each_trigger_once(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        breakfast(session, config, T0.replace(hour=10))
        for index in range(4):
            member = reachable_member(session, f"Membre{index}", now=T0)
            here(session, member.id, T0.replace(hour=8))
    engines = [make_engine(config.database.url) for _ in range(2)]
    try:
        hubs = [scheduler(config, make_sessionmaker(engine)) for engine in engines]
        barrier = threading.Barrier(2)
        fired: list[list[str]] = [[], []]

        def run(index: int) -> None:
            barrier.wait()
            fired[index] = hubs[index].tick(T0.replace(hour=9, minute=50)).fired

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        for engine in engines:
            engine.dispose()
    assert sorted(fired[0] + fired[1])[0].startswith("moment_soon")
    assert len(fired[0]) + len(fired[1]) == 1
    with db() as session:
        assert session.scalar(select(func.count()).select_from(NudgeTrigger)) == 1
        assert session.scalar(select(func.count()).select_from(NudgeRecord)) == 4
        assert session.scalar(select(func.count()).select_from(Delivery)) == 5  # + the screen


def test_preview_explains_in_french_and_records_nothing(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    with db.begin() as session:
        breakfast(session, config, T0.replace(hour=10))
        camille = reachable_member(session, "Camille", now=T0)
        discret = reachable_member(session, "Discret", consents=[], now=T0)
        for member in (camille, discret):
            here(session, member.id, T0.replace(hour=8))
    at = T0.replace(hour=9, minute=50)
    planned = scheduler(config, db).preview(at)
    text = explain_planned(config, planned, at)
    assert text.startswith("éKilibre — 10/03/2026 09:50")
    assert "Moment imminent (moment_soon)" in text
    assert "Camille : envoi par message (Apprise) entre 09:51 et 09:53" in text
    assert "Discret : pas d’envoi — pas de consentement pour ce type de message" in text
    with db() as session:
        assert session.scalar(select(func.count()).select_from(NudgeRecord)) == 0
        assert session.scalar(select(func.count()).select_from(NudgeTrigger)) == 0
    quiet = explain_planned(config, scheduler(config, db).preview(T0.replace(hour=15)), T0)
    assert "rien à envoyer à cette heure-ci" in quiet


def test_the_live_locator_says_who_is_in_a_meeting_room_without_any_stored_dwell(
    config: HubConfig, db: sessionmaker[Session]
) -> None:
    data = config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["sites"][0]["nodes"].append({"id": "pi-salle", "rooms": ["salle"]})
    with_node = HubConfig.model_validate(data)
    tag = "iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6-1-3"
    start = T0.replace(hour=9, minute=40)
    with db.begin() as session:
        breakfast(session, with_node, T0.replace(hour=10))
        # No room-location consent: no dwell row is ever stored, the room is only in memory.
        busy = reachable_member(session, "EnRéunion", now=T0)
        session.add(
            Credential(member_id=busy.id, kind=CredentialKind.BLE_TAG.value, value=tag,
                       created_at=T0)
        )  # fmt: skip
    live = LiveState(with_node)
    with db.begin() as session:
        for step in range(12):
            at = start + timedelta(seconds=5 * step)
            window = BleWindow(
                id=f"w{step}", ts=int(at.timestamp() * 1000), room="salle", window_s=5,
                tags=[TagReading(tag=tag, rssi=-55.0, n=5)], anonymous=0,
            )  # fmt: skip
            live.observe(session, NodeTopic(SITE, "pi-salle", EdgeKind.BLE), window, None)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(RoomDwell)) == 0
    nudges = NudgeScheduler(
        with_node, db, quiet_rules(), live=LiveStateRooms(live), signer=SIGNER, rand=lambda: 0.5
    )
    (busy_decision,) = nudges.tick(T0.replace(hour=9, minute=50)).decisions(K.MOMENT_SOON)
    assert isinstance(busy_decision.decision, Skip)
    assert busy_decision.decision.codes == {ReasonCode.IN_MEETING_ROOM}


def test_old_trigger_keys_are_forgotten(config: HubConfig, db: sessionmaker[Session]) -> None:
    with db.begin() as session:
        session.add(NudgeTrigger(key="arrival:1", site_id=SITE, rule="arrival_message",
                                 fired_at=T0 - timedelta(days=20)))  # fmt: skip
        session.add(NudgeTrigger(key="arrival:2", site_id=SITE, rule="arrival_message",
                                 fired_at=T0 - timedelta(days=1)))  # fmt: skip
    assert scheduler(config, db).prune_triggers(T0) == 1
    with db() as session:
        assert list(session.scalars(select(NudgeTrigger.key))) == ["arrival:2"]
