"""Data rights on a real database (SQLite and PostgreSQL): consents with their audit trail,
export, erasure, the signed link and its form token, the request limiter."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.models import (
    Attendance,
    BadgeTap,
    Consent,
    ConsentEvent,
    Credential,
    CredentialKind,
    HubState,
    Member,
    MemberConsent,
    NudgeRecord,
    PresenceSession,
    RoomDwell,
    message_scope,
)
from hub.live import LiveState
from hub.location import LocationSettings
from hub.measurements import CATALOGUE
from hub.members import add_member, grant, withdraw
from hub.moments import add_moment
from hub.privacy import (
    RequestLimiter,
    UnknownScope,
    check_form_token,
    consent_history,
    consented_channels,
    erase_member,
    export_csv,
    form_token,
    link_message,
    link_token,
    link_url,
    member_data,
    member_of_token,
    recipient_url,
    remaining_rows,
    set_consents,
    valid_email,
)
from hub.privacy_settings import PrivacySettings
from hub.signing import InvalidToken, Signer
from hub.timeseries import Point
from vivant.wire.payloads import Badge, BleWindow, TagReading
from vivant.wire.topics import EdgeKind, NodeTopic

SITE = "ekilibre"
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
TAGS = {
    "Maëlle": "iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6-1-9",
    "Bruno": "iBeacon:2f234454-cf6d-4a0f-adf2-f4911ba9ffa6-1-10",
}
TAG = TAGS["Maëlle"]
EMAILS = {"Maëlle": "maelle.durand@example.org", "Bruno": "bruno@example.org"}
BADGE = "c0ffee" * 5 + "00"
SIGNER = Signer("privacy-test-secret-key-0123456789")


def with_ble_nodes(config: HubConfig) -> HubConfig:
    data = config.model_dump(mode="json")
    data["sites"][0]["nodes"] += [
        {"id": "pi-cuisine", "rooms": ["cuisine"]},
        {"id": "pi-open", "rooms": ["open-space"]},
    ]
    data["mqtt"].pop("password", None)
    return HubConfig.model_validate(data)


def populate(
    session: Session, config: HubConfig, first_name: str = "Maëlle", *, at: datetime = T0
) -> Member:
    """A member with a row in every table that can name them, all of it from *at* on."""
    from hub.presence import apply_badge, enter_room

    member = add_member(
        session,
        first_name,
        last_name="Durand",
        email=EMAILS[first_name],
        consents=[Consent.SCREEN_DISPLAY, Consent.ROOM_LOCATION],
        badges=[BADGE if first_name == "Maëlle" else "ab" * 16],
        now=at,
    )
    member.credentials.append(
        Credential(kind=CredentialKind.BLE_TAG.value, value=TAGS[first_name], created_at=at)
    )
    session.flush()
    site = config.sites[0]
    badge = Badge(
        id=f"tap-{len(first_name)}", ts=int(at.timestamp() * 1000), room="accueil", reader="porte",
        credential=member.credentials[0].value,
    )  # fmt: skip
    apply_badge(session, SITE, "entree", badge, at)
    enter_room(session, member.id, SITE, "cuisine", at + timedelta(minutes=5))
    moment = add_moment(
        session, site, room_id="cuisine", title="Petit-déjeuner", kind="breakfast",
        starts_at=at, ends_at=at + timedelta(hours=1),
    )  # fmt: skip
    session.flush()
    session.add(
        Attendance(
            moment_id=moment.id, member_id=member.id, source="tap", confidence=1.0,
            first_seen_at=at, minutes_present=30.0, recorded_at=at,
        )
    )  # fmt: skip
    session.add(
        NudgeRecord(
            member_id=member.id, site_id=SITE, rule="moment_soon", channel="email",
            decision="sent", moment_id=moment.id, triggered_at=at, outcome="attended",
        )
    )  # fmt: skip
    session.flush()
    return member


def test_consents_change_exactly_and_every_change_is_recorded(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        member = add_member(session, "Léon", now=T0)
        assert member.consents == []  # counted only: the default is the least
        events = set_consents(
            session,
            member,
            [Consent.STAFF_VISIBLE.value, message_scope("email")],
            at=T0 + timedelta(minutes=1),
            via="self_service",
        )
        assert [(e.scope, e.granted) for e in events] == [
            ("messages:email", True),
            ("staff_visible", True),
        ]
        assert consented_channels(member) == frozenset({"email"})
        assert member.allows(Consent.STAFF_VISIBLE)
        # Withdrawing is the same single call.
        set_consents(
            session, member, [message_scope("email")], at=T0 + timedelta(minutes=2),
            via="self_service",
        )  # fmt: skip
        assert not member.allows(Consent.STAFF_VISIBLE)
        assert set_consents(session, member, [message_scope("email")], at=T0, via="x") == []
        member_id = member.id
    with sessions() as session:
        history = consent_history(session, member_id)
        scopes = session.scalars(select(MemberConsent.scope)).all()
    assert [(e.scope, e.granted, e.at) for e in history] == [
        ("messages:email", True, T0 + timedelta(minutes=1)),
        ("staff_visible", True, T0 + timedelta(minutes=1)),
        ("staff_visible", False, T0 + timedelta(minutes=2)),
    ]
    assert scopes == ["messages:email"]


def test_staff_grants_and_withdrawals_are_in_the_trail_too(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        member = add_member(session, "Ada", consents=[Consent.INSIGHTS], now=T0)
        withdraw(member, Consent.INSIGHTS, T0 + timedelta(hours=1))
        grant(member, Consent.SCREEN_DISPLAY, T0 + timedelta(hours=2), via="self_service")
        member_id = member.id
    with sessions() as session:
        trail = [(e.scope, e.granted, e.via) for e in consent_history(session, member_id)]
    assert trail == [
        ("insights", True, "staff"),
        ("insights", False, "staff"),
        ("screen_display", True, "self_service"),
    ]


def test_a_forged_scope_is_refused_and_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        member = add_member(session, "Zoé", now=T0)
        with pytest.raises(UnknownScope):
            set_consents(session, member, ["everything"], at=T0, via="self_service")
        assert member.consents == []


def test_withdrawing_room_location_erases_the_dwells(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    with sessions.begin() as session:
        member = populate(session, site_config)
        assert session.scalar(select(func.count()).select_from(RoomDwell)) == 1
        set_consents(
            session, member, [Consent.SCREEN_DISPLAY.value], at=T0 + timedelta(days=1),
            via="self_service",
        )  # fmt: skip
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RoomDwell)) == 0
        assert session.scalar(select(func.count()).select_from(PresenceSession)) == 1


def test_export_holds_every_kind_of_data_in_json_and_csv(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    with sessions.begin() as session:
        member = populate(session, site_config)
        member.last_name = '=HYPERLINK("http://evil")'
        data = member_data(session, member, T0 + timedelta(days=1))
    assert data["member"]["first_name"] == "Maëlle"
    for section in ("consents", "consent_history", "credentials", "presence", "room_dwells",
                    "badge_taps", "attendance", "nudges"):  # fmt: skip
        assert len(data[section]) >= 1, section
    assert data["attendance"][0]["moment"] == "Petit-déjeuner"
    assert data["room_dwells"][0]["room"] == "cuisine"
    json.dumps(data)  # JSON-ready as it is
    rows = list(csv.reader(io.StringIO(export_csv(data))))
    assert rows[0] == ["section", "record", "field", "value"]
    assert ["member", "1", "first_name", "Maëlle"] in rows
    assert ["badge_taps", "1", "room", "accueil"] in rows
    # A value a spreadsheet would run as a formula is neutralised.
    assert ["member", "1", "last_name", '\'=HYPERLINK("http://evil")'] in rows


def test_erasure_leaves_no_row_about_the_member_and_spares_the_others(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    config = with_ble_nodes(site_config)
    with sessions.begin() as session:
        gone = populate(session, config)
        kept = populate(session, config, "Bruno")
        gone_id, kept_id = gone.id, kept.id
        # An unknown tap of the same badge before it was enrolled: the credential links it too.
        session.add(
            BadgeTap(
                site_id=SITE, node_id="entree", room_id="accueil", reader="porte", msg_id="old",
                credential=BADGE, member_id=None, outcome="unknown", observed_at=T0,
                received_at=T0,
            )
        )  # fmt: skip
    live = LiveState(config, LocationSettings(absence_s=60))
    tag = TAG
    with sessions.begin() as session:
        window = BleWindow(
            id="w1", ts=int(T0.timestamp() * 1000), room="cuisine", window_s=5,
            tags=[TagReading(tag=tag, rssi=-55.0, n=4)], anonymous=0,
        )  # fmt: skip
        for n in range(3):
            live.observe(
                session,
                NodeTopic(SITE, "pi-cuisine", EdgeKind.BLE),
                window.model_copy(update={"id": f"w{n}", "ts": window.ts + n * 5000}),
                None,
            )
        live.save(session, T0)
    assert live.sites[SITE].locator.room_of(tag) == "cuisine"

    counts = erase_member(sessions, gone_id, live=live, now=T0 + timedelta(minutes=1))

    assert counts["members"] == 1
    assert counts["badge_taps"] == 2
    with sessions() as session:
        assert remaining_rows(session, gone_id, [BADGE]) == 0
        assert session.get(Member, kept_id) is not None
        assert remaining_rows(session, kept_id, []) > 5
        # The nudge log keeps its aggregate without the member.
        assert (
            session.scalar(
                select(func.count()).select_from(NudgeRecord).where(NudgeRecord.member_id.is_(None))
            )
            == 1
        )
        snapshot = json.dumps([row.value for row in session.scalars(select(HubState))])
    # Caches: the live state no longer places the tag or knows the member.
    site = live.sites[SITE]
    assert site.locator.room_of(tag) is None
    assert tag not in site.locator.tags()
    assert all(owner.member_id != gone_id for owner in site.owners.values())
    assert gone_id not in site.refreshed
    assert f"[{gone_id}, " not in snapshot
    with sessions() as session:
        assert tag not in live.tags.enrolled(session)


def test_the_time_series_never_carry_a_member(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    """Nothing to delete there by design: inspect every point the live engine writes while a
    member is located, and every tag the catalogue allows."""
    config = with_ble_nodes(site_config)
    with sessions.begin() as session:
        member = populate(session, config)
        identifiers = {str(member.id), "Maëlle", "Durand", BADGE, TAG,
                       "maelle.durand@example.org"}  # fmt: skip
    live = LiveState(config, LocationSettings(absence_s=60))
    points: list[Point] = []
    with sessions.begin() as session:
        for n in range(10):
            at = T0 + timedelta(seconds=5 * n)
            live.observe(
                session,
                NodeTopic(SITE, "pi-cuisine", EdgeKind.BLE),
                BleWindow(
                    id=f"w{n}",
                    ts=int(at.timestamp() * 1000),
                    room="cuisine",
                    window_s=5,
                    tags=[TagReading(tag=TAG, rssi=-50.0, n=3)],
                    anonymous=2,
                ),
                None,
            )
            points += live.tick(session, at + timedelta(seconds=1)).points
    assert any(p.measurement == "occupancy" and p.fields["count"] for p in points)
    for point in points:
        values = {point.measurement, *point.tags, *map(str, point.tags.values()), *point.fields}
        values |= {str(v) for v in point.fields.values()}
        assert not values & identifiers, point
    allowed_tags = {tag.name for spec in CATALOGUE.values() for tag in spec.tags}
    assert allowed_tags == {"site", "room", "node", "hub"}


def test_link_names_its_member_and_expires() -> None:
    token = link_token(SIGNER, 42)
    assert member_of_token(SIGNER, token, 3600) == 42
    assert link_url("https://vivant.example/", token) == f"https://vivant.example/privacy/{token}"
    with pytest.raises(InvalidToken) as expired:
        member_of_token(SIGNER, token, -1)
    assert expired.value.reason == "expired"
    # Tampered with: another first character of the payload (the last characters of the
    # signature may only carry padding bits, so changing them can leave it valid).
    with pytest.raises(InvalidToken):
        member_of_token(SIGNER, ("B" if token[0] == "A" else "A") + token[1:], 3600)
    with pytest.raises(InvalidToken):  # a form token is not a link
        member_of_token(SIGNER, form_token(SIGNER, token), 3600)
    with pytest.raises(InvalidToken):  # another hub's link
        member_of_token(Signer("another-hub-secret-key-987654"), token, 3600)


def test_form_token_is_bound_to_its_link() -> None:
    mine, theirs = link_token(SIGNER, 1), link_token(SIGNER, 2)
    csrf = form_token(SIGNER, mine)
    assert check_form_token(SIGNER, mine, csrf, 3600)
    assert not check_form_token(SIGNER, theirs, csrf, 3600)
    assert not check_form_token(SIGNER, mine, mine, 3600)  # the link itself is not a form token
    assert not check_form_token(SIGNER, mine, "", 3600)
    assert not check_form_token(SIGNER, mine, csrf, -1)


def test_request_limiter_counts_per_client_and_per_address() -> None:
    clock = [0.0]
    limiter = RequestLimiter(
        PrivacySettings(requests_per_client=2, requests_per_address=1, request_window_min=10),
        monotonic=lambda: clock[0],
    )
    assert limiter.allow_client("10.0.0.1")
    assert limiter.allow_client("10.0.0.1")
    assert not limiter.allow_client("10.0.0.1")
    assert limiter.allow_client("10.0.0.2")
    assert limiter.allow_address("a@example.org")
    assert not limiter.allow_address("a@example.org")
    clock[0] = 601.0  # the window has passed
    assert limiter.allow_client("10.0.0.1")
    assert limiter.allow_address("a@example.org")


def test_email_url_and_message() -> None:
    assert (
        recipient_url(
            "mailtos://u:p@smtp.example.org?from=v@example.org&to=someone@else.org", "m@example.org"
        )
        == "mailtos://u:p@smtp.example.org?from=v%40example.org&to=m%40example.org"
    )
    assert valid_email("marie.curie+vivant@example.org")
    for bad in ("", "marie", "a@b", "a b@example.org", "x@example.org,y@example.org", "a@@b.fr"):
        assert not valid_email(bad), bad
    settings = PrivacySettings.model_validate(
        {"email_url": "mailto://127.0.0.1:2525?from=vivant@example.org&mode=insecure"}
    )
    member = Member(first_name="Maëlle", email="maelle@example.org", language="fr")
    message = link_message(settings, member, "https://h/privacy/t", message_id="m1")
    assert message is not None
    assert message.subject == "Vos données dans Vivant"
    assert "Bonjour Maëlle," in message.body
    assert "https://h/privacy/t" in message.body
    assert "60 minutes" in message.body
    assert link_message(PrivacySettings(), member, "x", message_id="m2") is None
    with pytest.raises(ValueError, match="mailto"):
        PrivacySettings.model_validate({"email_url": "json://example.org/hook"})


def test_consent_events_cascade_with_the_member_row(sessions: sessionmaker[Session]) -> None:
    """Even a plain delete of the member row (not through erasure) leaves no audit row behind."""
    with sessions.begin() as session:
        member = add_member(session, "Noé", consents=[Consent.INSIGHTS], now=T0)
        member_id = member.id
    with sessions.begin() as session:
        session.delete(session.get(Member, member_id))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0
