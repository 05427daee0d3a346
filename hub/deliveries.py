"""Deliveries in the database: what the nudge engine queued, when it is due, and how it went.

The scheduler writes a :class:`~hub.db.models.Delivery` row in the same transaction as the
decision that made it, with ``send_at`` drawn inside the rule's delay window (a short delay can
beat an instant ping). The :class:`DeliveryPump` looks every few seconds for rows that are due,
claims them, and hands them to the in-memory :class:`~hub.channels.dispatcher.Dispatcher`, whose
every step comes back here through :class:`DatabaseDeliveryStore`::

    queued ──(send_at reached, claimed)──▶ attempt ─▶ sent
                                              ├──▶ retrying (next_attempt_at) ─▶ attempt …
                                              └──▶ failed (permanent, attempts exhausted,
                                                    expired, consent withdrawn, no address)

Claims are leases (``claimed_until``): a row is taken by ``UPDATE … WHERE claimed_until IS NULL
OR claimed_until < now`` and only the process whose update matched sends it, so two hubs sharing
the database never both send; if a hub dies mid-delivery, the lease runs out and another (or the
same, restarted) picks the row up again — delivery is at least once, receivers deduplicate on the
message id. Nothing leaves while the nudges are paused, and a message still unsent when it stops
making sense fails instead, with the reason: ``expires_at`` passed (the moment has started), the
moment was cancelled, or the invited member joined it in the meantime (from the lobby QR code).

Targets are resolved at each try, from the member (their Apprise URL, their e-mail address with
the hub's mail account) or the settings (a site's staff URLs, a webhook id): no URL or secret is
stored with the message, and a member who withdrew their consent in the meantime gets nothing
(nor do staff get a suggestion about a member who withdrew their insights consent). Rows name
the member they are for or about, so erasing a member erases their pending messages too.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.channels.base import (
    AppriseTarget,
    OutboundMessage,
    RecipientKind,
    ScreenTarget,
    SiteTarget,
    Target,
    WebhookTarget,
)
from hub.channels.dispatcher import DeliveryEvent, DeliveryState, Dispatcher
from hub.channels.settings import ChannelSettings
from hub.db.models import Consent, Delivery, Member, MemberChannel, Moment, Rsvp
from hub.nudge_log import mark_sent
from hub.nudges.rules import Channel

log = logging.getLogger(__name__)

KEEP_FINISHED = timedelta(days=90)
"""Sent and failed deliveries (their text names people) are deleted after this; the nudge log
keeps what measurement needs (rule, variant, arm, when it was sent)."""
LEASE = timedelta(minutes=2)
"""How long a claimed delivery is left alone by other pumps (beyond any retry wait)."""
BATCH = 50
FINAL = (DeliveryState.SENT.value, DeliveryState.FAILED.value)


def _now() -> datetime:
    return datetime.now(UTC)


def enqueue(
    session: Session,
    *,
    site_id: str,
    channel: Channel,
    target_ref: str,
    recipient_kind: RecipientKind,
    language: str,
    subject: str,
    body: str,
    send_at: datetime,
    now: datetime,
    member_id: int | None = None,
    nudge_id: int | None = None,
    expires_at: datetime | None = None,
    meta: Mapping[str, str] | None = None,
) -> Delivery:
    """Queue a message, due at *send_at*; it leaves once a pump finds it due."""
    row = Delivery(
        message_id=uuid.uuid4().hex,
        nudge_id=nudge_id,
        site_id=site_id,
        member_id=member_id,
        channel=channel.value,
        target_ref=target_ref,
        recipient_kind=recipient_kind.value,
        language=language,
        subject=subject[:200],
        body=body,
        meta=dict(meta or {}),
        state=DeliveryState.QUEUED.value,
        attempts=0,
        send_at=send_at,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def with_recipient(mail_url: str, address: str) -> str:
    """The hub's Apprise mail URL with *address* as its ``to=``."""
    parts = urlsplit(mail_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "to"] + [("to", address)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class TargetError(Exception):
    """The delivery cannot go anywhere (no address, consent withdrawn); it fails for good."""


def resolve_target(session: Session, row: Delivery, settings: ChannelSettings) -> Target:
    """Where *row* goes now, or :class:`TargetError`."""
    channel = Channel(row.channel)
    if channel is Channel.STAFF:
        if row.member_id is not None:  # a suggestion about a member: still with their consent?
            about = session.get(Member, row.member_id)
            if about is None or not about.allows(Consent.INSIGHTS):
                raise TargetError("consent withdrawn")
        return SiteTarget(row.target_ref)
    if channel is Channel.SCREEN:
        return ScreenTarget(row.site_id, int(row.target_ref))
    if channel is Channel.WEBHOOK and row.recipient_kind != RecipientKind.MEMBER.value:
        return WebhookTarget(row.target_ref)
    member = session.get(Member, row.member_id) if row.member_id is not None else None
    if member is None:
        raise TargetError("member erased")
    if not member.allows_messages(channel.value):
        raise TargetError("consent withdrawn")
    if channel is Channel.EMAIL:
        if member.email is None or settings.email_url is None:
            raise TargetError("no e-mail address or no mail account")
        url = with_recipient(settings.email_url.get_secret_value(), member.email)
        return AppriseTarget(SecretStr(url))
    address = session.get(MemberChannel, (member.id, channel.value))
    if address is None:
        raise TargetError(f"no {channel.value} address")
    if channel is Channel.WEBHOOK:
        return WebhookTarget(address.address)
    return AppriseTarget(SecretStr(address.address))


def message_of(row: Delivery, target: Target) -> OutboundMessage:
    """The dispatcher's message for *row*."""
    language: Literal["fr", "en"] = "en" if row.language == "en" else "fr"
    return OutboundMessage(
        id=row.message_id,
        recipient_kind=RecipientKind(row.recipient_kind),
        language=language,
        subject=row.subject,
        body=row.body,
        target=target,
        metadata=dict(row.meta or {}),
    )


def _fail(row: Delivery, detail: str, now: datetime) -> None:
    row.state = DeliveryState.FAILED.value
    row.last_error = detail
    row.claimed_until = None
    row.updated_at = now


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery taken from the database: its message and the attempts already made."""

    message: OutboundMessage
    attempts: int


def claim_due(
    session: Session,
    settings: ChannelSettings,
    now: datetime,
    lease: timedelta = LEASE,
    limit: int = BATCH,
) -> list[Claimed]:
    """Claim deliveries due at *now*; fail the expired and unreachable ones. Commit after."""
    rows = session.scalars(
        select(Delivery)
        .where(
            Delivery.state.in_((DeliveryState.QUEUED.value, DeliveryState.RETRYING.value)),
            Delivery.send_at <= now,
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
        )
        .order_by(Delivery.send_at, Delivery.id)
        .limit(limit)
    ).all()
    claimed_rows: list[Claimed] = []
    for row in rows:
        claimed = session.execute(
            update(Delivery)
            .where(
                Delivery.id == row.id,
                Delivery.state.not_in(FINAL),
                or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
            )
            .values(claimed_until=now + lease, updated_at=now),
            execution_options={"synchronize_session": False},
        )
        if getattr(claimed, "rowcount", 0) != 1:
            continue  # another pump took it
        session.refresh(row)
        if row.attempts == 0 and row.expires_at is not None and row.expires_at <= now:
            _fail(row, "expired before it could be sent", now)
            continue
        stale = _pointless(session, row)
        if stale is not None:
            _fail(row, stale, now)
            continue
        try:
            target = resolve_target(session, row, settings)
        except TargetError as error:
            _fail(row, str(error), now)
            continue
        claimed_rows.append(Claimed(message_of(row, target), row.attempts))
    return claimed_rows


INVITATIONS = frozenset({"moment_soon", "arrival_message"})


def _pointless(session: Session, row: Delivery) -> str | None:
    """Why a message about a moment no longer makes sense (cancelled, or already joined)."""
    moment_id = (row.meta or {}).get("moment")
    if moment_id is None or not moment_id.isdigit():
        return None
    moment = session.get(Moment, int(moment_id))
    if moment is None or moment.cancelled_at is not None:
        return "the moment was cancelled"
    if (
        row.member_id is not None
        and row.recipient_kind == RecipientKind.MEMBER.value
        and (row.meta or {}).get("rule") in INVITATIONS
        and session.scalar(
            select(Rsvp.id).where(Rsvp.moment_id == moment.id, Rsvp.member_id == row.member_id)
        )
        is not None
    ):
        return "the member joined in the meantime"
    return None


def release(session: Session, message_id: str, now: datetime) -> None:
    """Give a claimed delivery back (the dispatcher refused it): another try will take it."""
    session.execute(
        update(Delivery)
        .where(Delivery.message_id == message_id, Delivery.state.not_in(FINAL))
        .values(claimed_until=None, updated_at=now)
    )


def prune_finished(session: Session, now: datetime, keep: timedelta = KEEP_FINISHED) -> int:
    """Delete sent and failed deliveries last touched before ``now - keep``; returns how many."""
    result = session.execute(
        delete(Delivery).where(Delivery.state.in_(FINAL), Delivery.updated_at < now - keep)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class DatabaseDeliveryStore:
    """The dispatcher's :class:`~hub.channels.dispatcher.DeliveryStore`, in ``deliveries``."""

    def __init__(self, sessions: sessionmaker[Session], lease: timedelta = LEASE) -> None:
        self._sessions = sessions
        self._lease = lease

    async def record(self, event: DeliveryEvent) -> None:
        """Write the step (in a worker thread: the database may be slow)."""
        await asyncio.to_thread(self.record_sync, event)

    def record_sync(self, event: DeliveryEvent) -> None:
        """Write one step of a delivery onto its row."""
        with self._sessions.begin() as session:
            row = session.scalar(select(Delivery).where(Delivery.message_id == event.message_id))
            if row is None:
                log.warning("delivery %s is not in the database", event.message_id)
                return
            if row.state in FINAL:
                return  # a late duplicate step after a takeover: the first outcome stays
            row.attempts = max(row.attempts, event.attempt)
            row.updated_at = event.at
            if event.state is DeliveryState.QUEUED:
                if event.detail:  # left pending at a stop: free it for the next pump
                    row.claimed_until = None
                else:
                    row.claimed_until = event.at + self._lease
            elif event.state is DeliveryState.RETRYING:
                row.state = DeliveryState.RETRYING.value
                row.last_error = event.detail
                row.next_attempt_at = event.retry_at
                row.claimed_until = (event.retry_at or event.at) + self._lease
            elif event.state is DeliveryState.SENT:
                row.state = DeliveryState.SENT.value
                row.sent_at = event.at
                row.next_attempt_at = None
                row.claimed_until = None
                if row.nudge_id is not None:
                    mark_sent(session, row.nudge_id, event.at)
            else:
                _fail(row, event.detail, event.at)


class DeliveryPump:
    """Moves due deliveries from the database to the dispatcher, every *interval_s*."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        dispatcher: Dispatcher,
        settings: ChannelSettings,
        *,
        paused: Callable[[Session], bool],
        clock: Callable[[], datetime] = _now,
        lease: timedelta = LEASE,
    ) -> None:
        self._sessions = sessions
        self._dispatcher = dispatcher
        self._settings = settings
        self._paused = paused
        self._clock = clock
        self._lease = lease

    def due(self) -> list[Claimed]:
        """Claim what is due now (nothing while paused)."""
        now = self._clock()
        with self._sessions.begin() as session:
            if self._paused(session):
                return []
            return claim_due(session, self._settings, now, self._lease)

    async def pump_once(self) -> int:
        """Hand every due delivery to the dispatcher; returns how many were handed over."""
        handed = 0
        for claimed in await asyncio.to_thread(self.due):
            if self._dispatcher.submit(claimed.message, attempts=claimed.attempts):
                handed += 1
            else:
                await asyncio.to_thread(self._release, claimed.message.id)
        return handed

    def _release(self, message_id: str) -> None:
        with self._sessions.begin() as session:
            release(session, message_id, self._clock())

    async def run(self, interval_s: float) -> None:
        """Pump forever; a failure is logged and retried at the next interval."""
        while True:
            try:
                await self.pump_once()
            except Exception:
                log.exception("delivery pump failed; will try again")
            await asyncio.sleep(interval_s)
