"""Deliveries kept in the database: due times, claims, retries with backoff, expiry, consent.

Messages really leave: Apprise posts JSON to a local HTTP server started by the test, through the
real dispatcher; only the backoff's waits are skipped (FakeSleep).
"""

# ruff: noqa: F811 (the receivers are fixtures imported from the channel tests)
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.channels.apprise_channel import AppriseChannel
from hub.channels.base import RecipientKind, SiteTarget
from hub.channels.dispatcher import Dispatcher
from hub.channels.screen import ScreenChannel
from hub.channels.settings import ChannelSettings, RetryPolicy
from hub.config import HubConfig
from hub.db.models import Consent, Delivery, Member, NudgeRecord
from hub.deliveries import (
    DatabaseDeliveryStore,
    DeliveryPump,
    claim_due,
    enqueue,
    prune_finished,
    with_recipient,
)
from hub.members import withdraw
from hub.moments import add_moment, cancel_moment
from hub.nudge_control import is_paused, pause
from hub.nudge_log import record_decision
from hub.nudges.rules import Channel
from hub.rsvp import join
from tests.hub.channels.conftest import (  # noqa: F401 (fixtures)
    FakeSleep,
    HttpReceiver,
    fake_sleep,
    http_receiver,
)
from tests.support.factories import reachable_member
from tests.support.hub_server import SITE

T0 = datetime(2026, 3, 10, 8, 50, tzinfo=UTC)
SETTINGS = ChannelSettings()


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def queue_invitation(
    db: sessionmaker[Session], url: str, *, send_at: datetime, expires_at: datetime | None = None
) -> tuple[int, str]:
    """A member with an Apprise address, a sent nudge record and its queued delivery."""
    with db.begin() as session:
        member = reachable_member(session, "Camille", apprise_url=url, now=T0)
        record = record_decision(
            session, site_id=SITE, rule="moment_soon", decision="sent", triggered_at=T0,
            member_id=member.id, channel="apprise", variant_id="place", arm="treatment",
            not_before=send_at, not_after=send_at + timedelta(minutes=2),
        )  # fmt: skip
        row = enqueue(
            session, site_id=SITE, channel=Channel.APPRISE, target_ref=str(member.id),
            recipient_kind=RecipientKind.MEMBER, language="fr", subject="Petit-déjeuner à 10:00",
            body="Camille, il reste de la place !", send_at=send_at, now=T0,
            member_id=member.id, nudge_id=record.id, expires_at=expires_at,
            meta={"nudge_id": str(record.id)},
        )  # fmt: skip
        return member.id, row.message_id


def row(db: sessionmaker[Session], message_id: str) -> Delivery:
    with db() as session:
        found = session.scalar(select(Delivery).where(Delivery.message_id == message_id))
        assert found is not None
        return found


def pump_for(
    db: sessionmaker[Session],
    clock: Clock,
    sleep: Callable[[float], object],
    retry: RetryPolicy | None = None,
    announce: Callable[[str, int], None] | None = None,
) -> tuple[DeliveryPump, Dispatcher]:
    channels: list[object] = [AppriseChannel(), ScreenChannel(announce or (lambda s, m: None))]
    dispatcher = Dispatcher(
        channels,  # type: ignore[arg-type]
        DatabaseDeliveryStore(db),
        retry=retry or RetryPolicy(base_delay_s=5, jitter=0),
        clock=clock,
        sleep=sleep,  # type: ignore[arg-type]
    )
    pump = DeliveryPump(db, dispatcher, SETTINGS, paused=is_paused, clock=clock)
    return pump, dispatcher


async def test_a_delivery_leaves_at_its_time_and_is_recorded_as_sent(
    sessions: sessionmaker[Session], http_receiver: HttpReceiver, fake_sleep: FakeSleep
) -> None:
    clock = Clock()
    _, message_id = queue_invitation(
        sessions, http_receiver.url("json", "/camille"), send_at=T0 + timedelta(minutes=2)
    )
    pump, dispatcher = pump_for(sessions, clock, fake_sleep)
    async with dispatcher:
        assert await pump.pump_once() == 0  # not due yet: the delay window
        clock.now = T0 + timedelta(minutes=2)
        assert await pump.pump_once() == 1
        await dispatcher.join()
        assert await pump.pump_once() == 0  # sent: never again
    (received,) = http_receiver.received
    assert received.path == "/camille"
    assert b"il reste de la place" in received.body
    done = row(sessions, message_id)
    assert (done.state, done.attempts, done.claimed_until) == ("sent", 1, None)
    assert done.sent_at == T0 + timedelta(minutes=2)
    with sessions() as session:
        record = session.scalars(select(NudgeRecord)).one()
    assert record.sent_at == T0 + timedelta(minutes=2)  # the nudge log knows when it left


async def test_failures_are_retried_with_backoff_and_recorded(
    sessions: sessionmaker[Session], http_receiver: HttpReceiver, fake_sleep: FakeSleep
) -> None:
    clock = Clock()
    http_receiver.statuses = [503, 503]
    _, message_id = queue_invitation(sessions, http_receiver.url("json", "/x"), send_at=T0)
    pump, dispatcher = pump_for(sessions, clock, fake_sleep)
    async with dispatcher:
        await pump.pump_once()
        await dispatcher.join()
    assert fake_sleep.delays == [5.0, 10.0]
    done = row(sessions, message_id)
    assert (done.state, done.attempts) == ("sent", 3)
    assert done.last_error is not None


async def test_attempts_exhausted_fail_for_good(
    sessions: sessionmaker[Session], http_receiver: HttpReceiver, fake_sleep: FakeSleep
) -> None:
    clock = Clock()
    http_receiver.statuses = [500, 500]
    _, message_id = queue_invitation(sessions, http_receiver.url("json", "/x"), send_at=T0)
    pump, dispatcher = pump_for(sessions, clock, fake_sleep, RetryPolicy(max_attempts=2))
    async with dispatcher:
        await pump.pump_once()
        await dispatcher.join()
    done = row(sessions, message_id)
    assert (done.state, done.attempts) == ("failed", 2)


def test_a_retry_waiting_in_a_dead_hub_is_taken_up_when_its_lease_runs_out(
    sessions: sessionmaker[Session],
) -> None:
    _, message_id = queue_invitation(sessions, "json://127.0.0.1:9/x", send_at=T0)
    with sessions.begin() as session:
        assert len(claim_due(session, SETTINGS, T0)) == 1
    with sessions.begin() as session:  # another hub, while the lease holds
        assert claim_due(session, SETTINGS, T0 + timedelta(seconds=30)) == []
    later = T0 + timedelta(minutes=3)
    with sessions.begin() as session:
        (again,) = claim_due(session, SETTINGS, later)
    assert again.message.id == message_id


def test_expired_unreachable_and_withdrawn_deliveries_fail_with_their_reason(
    sessions: sessionmaker[Session],
) -> None:
    _, late = queue_invitation(
        sessions, "json://127.0.0.1:9/a", send_at=T0, expires_at=T0 - timedelta(seconds=1)
    )
    member_id, withdrawn = queue_invitation(sessions, "json://127.0.0.1:9/b", send_at=T0)
    with sessions.begin() as session:
        member = session.get(Member, member_id)
        assert member is not None
        withdraw(member, Consent.MESSAGES)
    with sessions.begin() as session:
        about = enqueue(
            session, site_id=SITE, channel=Channel.STAFF, target_ref=SITE,
            recipient_kind=RecipientKind.STAFF, language="fr", subject="Un membre à présenter",
            body="Camille…", send_at=T0, now=T0, member_id=member_id,
        ).message_id  # fmt: skip
    with sessions.begin() as session:
        assert claim_due(session, SETTINGS, T0) == []
    assert row(sessions, about).last_error == "consent withdrawn"  # no insights consent
    assert (row(sessions, late).state, row(sessions, late).last_error) == (
        "failed",
        "expired before it could be sent",
    )
    assert row(sessions, withdrawn).last_error == "consent withdrawn"


async def test_nothing_leaves_while_paused(
    sessions: sessionmaker[Session], http_receiver: HttpReceiver, fake_sleep: FakeSleep
) -> None:
    clock = Clock()
    _, message_id = queue_invitation(sessions, http_receiver.url("json", "/x"), send_at=T0)
    with sessions.begin() as session:
        pause(session, T0)
    pump, dispatcher = pump_for(sessions, clock, fake_sleep)
    async with dispatcher:
        assert await pump.pump_once() == 0
    assert http_receiver.received == []
    assert row(sessions, message_id).state == "queued"


async def test_staff_alerts_and_screen_announcements_need_no_member(
    sessions: sessionmaker[Session], fake_sleep: FakeSleep
) -> None:
    clock = Clock()
    announced: list[tuple[str, int]] = []
    with sessions.begin() as session:
        screen = enqueue(
            session, site_id=SITE, channel=Channel.SCREEN, target_ref="42",
            recipient_kind=RecipientKind.SCREEN, language="fr", subject="Petit-déjeuner",
            body="Petit-déjeuner", send_at=T0, now=T0,
        )  # fmt: skip
        staff = enqueue(
            session, site_id=SITE, channel=Channel.STAFF, target_ref=SITE,
            recipient_kind=RecipientKind.STAFF, language="fr", subject="Peu de monde",
            body="Peu de monde", send_at=T0, now=T0,
        )  # fmt: skip
        ids = screen.message_id, staff.message_id
    with sessions.begin() as session:
        messages = claim_due(session, SETTINGS, T0)
    assert {c.message.target.key for c in messages} == {f"screen:{SITE}", f"site:{SITE}"}
    assert SiteTarget(SITE) in [c.message.target for c in messages]
    pump, dispatcher = pump_for(
        sessions, clock, fake_sleep, announce=lambda s, m: announced.append((s, m))
    )
    with sessions.begin() as session:
        for message_id in ids:
            found = session.scalar(select(Delivery).where(Delivery.message_id == message_id))
            assert found is not None
            found.claimed_until = None
    async with dispatcher:
        await pump.pump_once()
        await dispatcher.join()
    assert announced == [(SITE, 42)]
    assert row(sessions, ids[0]).state == "sent"
    # No staff URL configured for the site: a permanent failure, said plainly.
    assert row(sessions, ids[1]).state == "failed"
    assert "no usable Apprise URL" in (row(sessions, ids[1]).last_error or "")


def test_mail_url_gets_the_member_address() -> None:
    url = with_recipient("mailtos://hub:secret@smtp.example.org?from=vivant@example.org", "c@x.fr")
    assert url == "mailtos://hub:secret@smtp.example.org?from=vivant%40example.org&to=c%40x.fr"


def test_an_invitation_that_became_pointless_is_not_sent(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    with sessions.begin() as session:
        moments = [
            add_moment(
                session,
                site_config.sites[0],
                room_id="cuisine",
                title=title,
                kind="other",
                starts_at=T0 + timedelta(minutes=10),
                ends_at=T0 + timedelta(hours=1),
                now=T0,
            )
            for title in ("Joined", "Cancelled", "Still on")
        ]
        member = reachable_member(session, "Camille", now=T0)
        session.flush()
        ids = []
        for moment in moments:
            ids.append(
                enqueue(
                    session, site_id=SITE, channel=Channel.APPRISE, target_ref=str(member.id),
                    recipient_kind=RecipientKind.MEMBER, language="fr", subject=moment.title,
                    body="…", send_at=T0, now=T0, member_id=member.id,
                    meta={"rule": "moment_soon", "moment": str(moment.id)},
                ).message_id
            )  # fmt: skip
        join(session, moments[0].id, member.id, T0)
        cancel_moment(session, site_config.sites[0], moments[1].id, now=T0)
    with sessions.begin() as session:
        (left,) = claim_due(session, SETTINGS, T0)
    assert left.message.id == ids[2]
    assert row(sessions, ids[0]).last_error == "the member joined in the meantime"
    assert row(sessions, ids[1]).last_error == "the moment was cancelled"


async def test_attempts_made_by_a_hub_that_died_still_count(
    sessions: sessionmaker[Session], http_receiver: HttpReceiver, fake_sleep: FakeSleep
) -> None:
    clock = Clock()
    http_receiver.statuses = [500]
    _, message_id = queue_invitation(sessions, http_receiver.url("json", "/x"), send_at=T0)
    with sessions.begin() as session:  # four attempts failed before the other hub died
        found = session.scalar(select(Delivery).where(Delivery.message_id == message_id))
        assert found is not None
        found.state, found.attempts, found.next_attempt_at = "retrying", 4, T0
    pump, dispatcher = pump_for(sessions, clock, fake_sleep, RetryPolicy(max_attempts=5))
    async with dispatcher:
        await pump.pump_once()
        await dispatcher.join()
    done = row(sessions, message_id)
    assert (done.state, done.attempts) == ("failed", 5)
    assert len(http_receiver.received) == 1


def test_finished_deliveries_are_deleted_after_ninety_days(
    sessions: sessionmaker[Session],
) -> None:
    _, old = queue_invitation(sessions, "json://127.0.0.1:9/a", send_at=T0)
    _, pending = queue_invitation(sessions, "json://127.0.0.1:9/b", send_at=T0)
    with sessions.begin() as session:
        found = session.scalar(select(Delivery).where(Delivery.message_id == old))
        assert found is not None
        found.state = "sent"
    with sessions.begin() as session:
        assert prune_finished(session, T0 + timedelta(days=89)) == 0
        assert prune_finished(session, T0 + timedelta(days=91)) == 1
    with sessions() as session:
        assert list(session.scalars(select(Delivery.message_id))) == [pending]
        assert session.scalar(select(NudgeRecord.id).limit(1)) is not None  # the log stays
