"""What the guardrails are told about a member: consents, history, interests, joined, streaks."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig, Language
from hub.db.models import Attendance, Consent, PresenceSource, message_scope
from hub.members import add_member
from hub.moments import add_moment
from hub.nudge_control import INVITATIONS, mute
from hub.nudge_facts import NudgeFacts, interests, streak_without_moment
from hub.nudge_log import record_decision
from hub.nudges.rules import MEMBER_KINDS, Channel, NudgeKind
from hub.presence import arrive, depart
from hub.privacy import set_consents
from hub.rsvp import join
from tests.support.factories import reachable_member
from tests.support.hub_server import SITE

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=PARIS)  # a Tuesday
K = NudgeKind


def with_mail(config: HubConfig) -> HubConfig:
    data = config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["channels"]["email_url"] = "mailto://hub:pw@smtp.example.org"
    return HubConfig.model_validate(data)


def test_consents_open_channels_and_kinds_one_by_one(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    facts = NudgeFacts(with_mail(site_config))
    site = site_config.sites[0]
    with sessions.begin() as session:
        nothing = reachable_member(session, "Rien", consents=[], now=T0)
        messages = reachable_member(session, "Messages", now=T0)
        mail_only = add_member(
            session, "Courriel", email="c@example.org", consents=[Consent.MESSAGES], now=T0
        )
        shown = reachable_member(
            session, "Tout", consents=[Consent.SCREEN_DISPLAY, Consent.INSIGHTS], now=T0
        )
        found = {
            m.first_name: facts.candidate(session, site, m.id, T0)
            for m in (nothing, messages, mail_only, shown)
        }
    assert all(c is not None for c in found.values())
    rien, msg, mail, tout = (found[n] for n in ("Rien", "Messages", "Courriel", "Tout"))
    assert rien is not None
    assert (rien.channels, rien.kinds) == (frozenset(), frozenset())
    assert msg is not None
    assert msg.channels == {Channel.APPRISE}
    assert msg.kinds == MEMBER_KINDS - {K.ARRIVAL_GREETING}
    assert msg.language is Language.FR
    assert mail is not None
    assert mail.channels == {Channel.EMAIL}
    assert tout is not None
    assert tout.channels == {Channel.SCREEN, Channel.STAFF}
    assert tout.kinds == {K.ARRIVAL_GREETING, K.TENANT_STREAK_STAFF}
    assert not tout.on_site

    with sessions.begin() as session:
        mute(session, messages.id, INVITATIONS, T0)
        quiet = facts.candidate(session, site, messages.id, T0)
    assert quiet is not None
    assert quiet.kinds == MEMBER_KINDS - {K.ARRIVAL_GREETING, K.MOMENT_SOON, K.ARRIVAL_MESSAGE}


def test_history_interests_and_joined_come_from_the_database(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    with sessions.begin() as session:
        member = reachable_member(session, "Camille", now=T0)
        arrive(session, member.id, SITE, T0, PresenceSource.BADGE)
        yoga = add_moment(
            session, site, room_id="cuisine", title="Yoga", kind="sport", tags=["Bien-être"],
            starts_at=T0 - timedelta(days=7), ends_at=T0 - timedelta(days=7, hours=-1), now=T0,
        )  # fmt: skip
        talk = add_moment(
            session, site, room_id="cuisine", title="Talk", kind="talk",
            starts_at=T0 + timedelta(hours=2), ends_at=T0 + timedelta(hours=3), now=T0,
        )  # fmt: skip
        session.flush()
        session.add(
            Attendance(moment_id=yoga.id, member_id=member.id, source="tap", confidence=1.0,
                       minutes_present=50, recorded_at=T0)
        )  # fmt: skip
        join(session, talk.id, member.id, T0)
        record_decision(
            session, site_id=SITE, rule="moment_soon", decision="sent", triggered_at=T0,
            member_id=member.id, channel="apprise", variant_id="place", arm="treatment",
            not_before=T0 + timedelta(minutes=1), not_after=T0 + timedelta(minutes=3),
        )  # fmt: skip
        record_decision(
            session, site_id=SITE, rule="moment_soon", decision="holdout", triggered_at=T0,
            member_id=member.id, channel="apprise", variant_id="pause", arm="holdout",
        )  # fmt: skip
        candidate = NudgeFacts(site_config).candidate(session, site, member.id, T0, moment=talk)
        assert interests(session, member.id, T0) == {"bien-être", "sport"}
    assert candidate is not None
    assert candidate.on_site
    assert candidate.joined == {str(talk.id)}
    assert candidate.interests == {"bien-être", "sport"}
    (past,) = candidate.history  # the holdout reached nobody: not history
    assert (past.kind, past.variant_id, past.sent_at) == (
        K.MOMENT_SOON, "place", T0 + timedelta(minutes=1),
    )  # fmt: skip


def test_streak_counts_weekdays_on_site_and_a_moment_breaks_it(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    tuesday = T0.replace(hour=11)
    days = [tuesday - timedelta(days=n) for n in (7, 6, 5, 4, 1, 0)]  # Tue..Fri, Mon, Tue
    with sessions.begin() as session:
        member = reachable_member(session, "Locataire", now=T0)
        for day in days:
            arrive(session, member.id, SITE, day.replace(hour=9), PresenceSource.BADGE)
            depart(session, member.id, SITE, day.replace(hour=17), PresenceSource.BADGE)
        session.flush()
        # Sat and Sun absent: no break. Wed..Fri, Mon, Tue = 5; the Tuesday before too = 6.
        assert streak_without_moment(session, site, member.id, tuesday.date()) == 6
        friday = add_moment(
            session, site, room_id="cuisine", title="Afterwork", kind="afterwork",
            starts_at=days[3].replace(hour=18), ends_at=days[3].replace(hour=20), now=T0,
        )  # fmt: skip
        session.flush()
        session.add(
            Attendance(moment_id=friday.id, member_id=member.id, source="dwell", confidence=0.7,
                       minutes_present=40, recorded_at=T0)
        )  # fmt: skip
        session.flush()
        assert streak_without_moment(session, site, member.id, tuesday.date()) == 2


def test_consent_per_channel_from_the_self_service_page(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    """A member who ticked "messages by e-mail" only (hub.privacy) is reachable by e-mail and by
    nothing else, even with an Apprise address on file; withdrawing it closes the channel."""
    facts = NudgeFacts(with_mail(site_config))
    site = site_config.sites[0]
    with sessions.begin() as session:
        member = reachable_member(session, "Inès", consents=[], now=T0)
        member.email = "ines@example.org"
        set_consents(session, member, {message_scope("email")}, at=T0, via="self_service")
        by_mail = facts.candidate(session, site, member.id, T0)
        set_consents(session, member, {message_scope("apprise")}, at=T0, via="self_service")
        by_app = facts.candidate(session, site, member.id, T0)
        set_consents(session, member, set(), at=T0, via="self_service")
        silent = facts.candidate(session, site, member.id, T0)
    assert by_mail is not None
    assert by_mail.channels == {Channel.EMAIL}
    assert by_mail.kinds == MEMBER_KINDS - {K.ARRIVAL_GREETING}
    assert by_app is not None
    assert by_app.channels == {Channel.APPRISE}
    assert silent is not None
    assert (silent.channels, silent.kinds) == (frozenset(), frozenset())
