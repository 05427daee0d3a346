"""A member's data rights: consents with their audit trail, access, export and erasure, and the
emailed link to the self-service page.

Consent tiers (GDPR art. 6-7, CNIL): the default is the least. A member with no consent row is
only *counted* (occupancy, anonymous daily figures); every other tier is one row the member
grants and withdraws on the same page, with the same single click, and each change is written to
:class:`~hub.db.models.ConsentEvent` with its time and what made it (``self_service``, ``staff``).
Messages are consented per channel (``messages:email``, ``messages:apprise``, …), so allowing an
e-mail does not allow a Telegram message.

Erasure (art. 17) reaches every place a member lives:

* the SQL database: the member, consents and their history, credentials, presence sessions,
  room dwells, badge taps (theirs, and those of their badges' credentials), attendance; the
  nudge log keeps its rows for the experiments' aggregates but loses the member id;
* the time series: nothing to delete, by design: no point carries a member, credential or tag
  (:mod:`hub.measurements`; a test inspects what is written);
* the caches of the running hub: the live state forgets the member's tags and their room (through
  :meth:`hub.live.LiveState.member_left` and :meth:`hub.live.TagDirectory.forget`), the saved
  snapshot is rewritten without the member (the locator keeps the bare tag id a few minutes in
  its "ignore until" list; the ingest engine's badge cache reloads within 10 s: both need a
  public way to forget, see SECURITY.md);
* retained MQTT topics: the only retained messages that carry anything about a member are the
  nodes' ``config`` (the enrolled tag ids); once the tags are forgotten the ingest engine
  republishes every node's config without them at its next tick, which replaces the retained
  message on the broker.

The self-service page is reached through a signed, expiring link (:class:`hub.signing.Signer`,
:attr:`~hub.signing.Purpose.PRIVACY`) sent by e-mail. Asking for it answers the same whatever
the address, and the look-up and the sending happen after the answer, so neither the page nor its
timing tells whether someone is a member.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.channels.base import AppriseTarget, OutboundMessage, RecipientKind
from hub.config import Language
from hub.db.models import (
    Attendance,
    BadgeTap,
    Consent,
    ConsentEvent,
    Credential,
    CredentialKind,
    Member,
    MemberConsent,
    Moment,
    NudgeRecord,
    PresenceSession,
    RoomDwell,
    message_scope,
)
from hub.i18n import gettext
from hub.live import LiveState
from hub.privacy_settings import PrivacySettings
from hub.signing import InvalidToken, Purpose, Signer

log = logging.getLogger(__name__)

VIA_SELF_SERVICE = "self_service"
VIA_STAFF = "staff"

MESSAGE_CHANNELS: tuple[str, ...] = ("email", "apprise", "webhook")
"""Channels a member consents to one by one (the message channels of :mod:`hub.nudges.rules`)."""

EMAIL_PATTERN = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]{1,190}\.[^@\s<>\"',;.]{2,63}$")


def N_(message: str) -> str:
    """Mark *message* for translation; it is translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True)
class ConsentOption:
    """One consent tier as the member sees it on their page."""

    scope: str
    label: str  # English msgid, translated when shown
    help: str


CONSENT_OPTIONS: tuple[ConsentOption, ...] = (
    ConsentOption(
        Consent.STAFF_VISIBLE.value,
        N_("Known to staff"),
        N_("The community team may see that I am on site."),
    ),
    ConsentOption(
        Consent.SCREEN_DISPLAY.value,
        N_("Shown on lobby screens"),
        N_("The lobby screen may greet me by my first name when I badge in."),
    ),
    ConsentOption(
        Consent.ROOM_LOCATION.value,
        N_("Room-level location"),
        N_("My room (kitchen, open space…) and how long I stay there may be kept."),
    ),
    ConsentOption(
        message_scope("email"),
        N_("Messages by e-mail"),
        N_("Invitations to community moments by e-mail, a few a week at most."),
    ),
    ConsentOption(
        message_scope("apprise"),
        N_("Messages on my messaging app"),
        N_("The same invitations through Signal, Telegram, ntfy or another app I set up."),
    ),
    ConsentOption(
        message_scope("webhook"),
        N_("Messages through the space's app"),
        N_("The same invitations through the community app the space connected."),
    ),
    ConsentOption(
        Consent.INSIGHTS.value,
        N_("Individual insights"),
        N_("The community team may see how I use the space (not only totals)."),
    ),
)
"""Every tier above *counted only*, in the order of the page."""

KNOWN_SCOPES: frozenset[str] = frozenset(option.scope for option in CONSENT_OPTIONS)
LEGACY_SCOPES: frozenset[str] = frozenset({Consent.MESSAGES.value})
"""Scopes that may still be stored but are no longer offered (``messages`` for any channel)."""


# -- consents -------------------------------------------------------------------------------


class UnknownScope(ValueError):
    """A consent scope that does not exist (a forged form)."""


def set_consents(
    session: Session, member: Member, wanted: Iterable[str], *, at: datetime, via: str
) -> list[ConsentEvent]:
    """Make the member's consents exactly *wanted*; record each change; return the changes.

    Withdrawing room-level location also erases the member's room dwells: without consent there
    is no basis to keep them.
    """
    target = set(wanted)
    unknown = target - KNOWN_SCOPES
    if unknown:
        raise UnknownScope(f"unknown consent scope(s): {', '.join(sorted(unknown))}")
    current = {c.scope for c in member.consents}
    events = [
        ConsentEvent(member_id=member.id, scope=scope, granted=True, at=at, via=via)
        for scope in sorted(target - current)
    ] + [
        ConsentEvent(member_id=member.id, scope=scope, granted=False, at=at, via=via)
        for scope in sorted(current - target)
    ]
    for scope in sorted(target - current):
        member.consents.append(MemberConsent(scope=scope, granted_at=at))
    member.consents[:] = [c for c in member.consents if c.scope in target]
    session.add_all(events)
    if Consent.ROOM_LOCATION.value in current - target:
        session.execute(delete(RoomDwell).where(RoomDwell.member_id == member.id))
    session.flush()
    return events


def consent_history(session: Session, member_id: int) -> list[ConsentEvent]:
    """Every recorded consent change of the member, oldest first."""
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.member_id == member_id)
            .order_by(ConsentEvent.at, ConsentEvent.id)
        )
    )


def consented_channels(member: Member) -> frozenset[str]:
    """The message channels the member accepts (for the nudge guardrails' candidates)."""
    return frozenset(channel for channel in MESSAGE_CHANNELS if member.allows_messages(channel))


# -- access and export ----------------------------------------------------------------------


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def member_data(session: Session, member: Member, now: datetime) -> dict[str, Any]:
    """Everything the hub holds about *member*, JSON-ready (times in UTC, ISO 8601)."""
    mid = member.id
    badge_values = [c.value for c in member.credentials if c.kind == CredentialKind.BADGE.value]
    taps = session.scalars(
        select(BadgeTap)
        .where(_taps_of(mid, badge_values))
        .order_by(BadgeTap.observed_at, BadgeTap.id)
    )
    attendances = session.execute(
        select(Attendance, Moment.title, Moment.starts_at)
        .join(Moment, Moment.id == Attendance.moment_id)
        .where(Attendance.member_id == mid)
        .order_by(Moment.starts_at)
    )
    return {
        "generated_at": _iso(now),
        "member": {
            "id": mid,
            "first_name": member.first_name,
            "last_name": member.last_name,
            "email": member.email,
            "language": member.language,
            "external_ref": member.external_ref,
            "created_at": _iso(member.created_at),
        },
        "consents": [
            {"scope": c.scope, "granted_at": _iso(c.granted_at)}
            for c in sorted(member.consents, key=lambda c: c.scope)
        ],
        "consent_history": [
            {"scope": e.scope, "granted": e.granted, "at": _iso(e.at), "via": e.via}
            for e in consent_history(session, mid)
        ],
        "credentials": [
            {"kind": c.kind, "value": c.value, "label": c.label, "created_at": _iso(c.created_at)}
            for c in sorted(member.credentials, key=lambda c: c.id)
        ],
        "presence": [
            {
                "site": p.site_id,
                "arrived_at": _iso(p.arrived_at),
                "arrival_source": p.arrival_source,
                "last_seen_at": _iso(p.last_seen_at),
                "departed_at": _iso(p.departed_at),
                "departure_source": p.departure_source,
            }
            for p in session.scalars(
                select(PresenceSession)
                .where(PresenceSession.member_id == mid)
                .order_by(PresenceSession.arrived_at)
            )
        ],
        "room_dwells": [
            {
                "site": d.site_id,
                "room": d.room_id,
                "entered_at": _iso(d.entered_at),
                "left_at": _iso(d.left_at),
                "source": d.source,
            }
            for d in session.scalars(
                select(RoomDwell).where(RoomDwell.member_id == mid).order_by(RoomDwell.entered_at)
            )
        ],
        "badge_taps": [
            {
                "site": t.site_id,
                "room": t.room_id,
                "reader": t.reader,
                "outcome": t.outcome,
                "observed_at": _iso(t.observed_at),
            }
            for t in taps
        ],
        "attendance": [
            {
                "moment": title,
                "starts_at": _iso(starts_at),
                "source": a.source,
                "confidence": a.confidence,
                "minutes_present": a.minutes_present,
            }
            for a, title, starts_at in attendances
        ],
        "nudges": [
            {
                "rule": n.rule,
                "channel": n.channel,
                "decision": n.decision,
                "arm": n.arm,
                "triggered_at": _iso(n.triggered_at),
                "sent_at": _iso(n.sent_at),
                "outcome": n.outcome,
            }
            for n in session.scalars(
                select(NudgeRecord)
                .where(NudgeRecord.member_id == mid)
                .order_by(NudgeRecord.triggered_at)
            )
        ],
    }


def export_csv(data: dict[str, Any]) -> str:
    """The export as one CSV table: ``section, record, field, value`` (one line per value)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["section", "record", "field", "value"])
    for section, content in data.items():
        records = content if isinstance(content, list) else [content]
        for index, record in enumerate(records, start=1):
            if isinstance(record, dict):
                for name, value in record.items():
                    writer.writerow([section, index, name, "" if value is None else _cell(value)])
            else:
                writer.writerow([section, index, "value", _cell(record)])
    return buffer.getvalue()


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (CSV injection)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# -- erasure --------------------------------------------------------------------------------


def _taps_of(member_id: int, badge_values: list[str]) -> Any:
    condition = BadgeTap.member_id == member_id
    if badge_values:
        condition = or_(condition, BadgeTap.credential.in_(badge_values))
    return condition


def erase_rows(session: Session, member_id: int) -> dict[str, int]:
    """Delete every row about the member (see the module docstring); returns counts per table.

    Badge taps of the member's badges are deleted even when they were recorded as unknown
    (before enrolment): the credential would still link them to the person.
    """
    badge_values = list(
        session.scalars(
            select(Credential.value).where(
                Credential.member_id == member_id, Credential.kind == CredentialKind.BADGE.value
            )
        )
    )
    counts: dict[str, int] = {}

    def run(name: str, statement: Any) -> None:
        result = session.execute(statement)
        counts[name] = int(getattr(result, "rowcount", 0) or 0)

    run("badge_taps", delete(BadgeTap).where(_taps_of(member_id, badge_values)))
    run("room_dwells", delete(RoomDwell).where(RoomDwell.member_id == member_id))
    run("presence_sessions", delete(PresenceSession).where(PresenceSession.member_id == member_id))
    run("attendances", delete(Attendance).where(Attendance.member_id == member_id))
    run(
        "nudge_records_anonymised",
        update(NudgeRecord).where(NudgeRecord.member_id == member_id).values(member_id=None),
    )
    run("consent_events", delete(ConsentEvent).where(ConsentEvent.member_id == member_id))
    run("member_consents", delete(MemberConsent).where(MemberConsent.member_id == member_id))
    run("credentials", delete(Credential).where(Credential.member_id == member_id))
    run("members", delete(Member).where(Member.id == member_id))
    return counts


def forget_in_live_state(live: LiveState, member_id: int, now: datetime) -> None:
    """Make the running hub's live state forget the member (their tags, room and freshness)."""
    live.forget_member(member_id)  # node configs are republished without the erased tags


def erase_member(
    sessions: sessionmaker[Session],
    member_id: int,
    *,
    live: LiveState | None = None,
    lock: AbstractContextManager[Any] | None = None,
    now: datetime | None = None,
    forget_badges: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Erase the member everywhere the hub keeps them; returns what was deleted.

    *lock* is the ingest engine's work lock: holding it, no batch can write about the member
    between the deletion and the cache purge, and the live-state snapshot saved here (replacing
    one that named the member) is consistent with memory.
    """
    at = now or datetime.now(UTC)
    with lock or nullcontext(), sessions.begin() as session:
        counts = erase_rows(session, member_id)
        if live is not None:
            forget_in_live_state(live, member_id, at)
            live.save(session, at)
        if forget_badges is not None:  # the ingest engine's badge -> member cache
            forget_badges()
    log.info("erased a member: %s", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return counts


def remaining_rows(session: Session, member_id: int, badge_values: Iterable[str]) -> int:
    """How many rows still name the member (0 after an erasure; used by checks and tests)."""
    values = list(badge_values)
    total = 0
    for model, condition in (
        (Member, Member.id == member_id),
        (MemberConsent, MemberConsent.member_id == member_id),
        (ConsentEvent, ConsentEvent.member_id == member_id),
        (Credential, Credential.member_id == member_id),
        (PresenceSession, PresenceSession.member_id == member_id),
        (RoomDwell, RoomDwell.member_id == member_id),
        (Attendance, Attendance.member_id == member_id),
        (NudgeRecord, NudgeRecord.member_id == member_id),
        (BadgeTap, _taps_of(member_id, values)),
    ):
        total += int(session.scalar(select(func.count()).select_from(model).where(condition)) or 0)
    return total


# -- the self-service link ------------------------------------------------------------------


def valid_email(address: str) -> bool:
    """Whether *address* looks like an e-mail address (a syntax check, nothing more)."""
    return len(address) <= 254 and EMAIL_PATTERN.match(address) is not None


def normalise_email(address: str) -> str:
    """The address as stored and compared: trimmed, lower case."""
    return address.strip().lower()


def member_by_email(session: Session, address: str) -> Member | None:
    """The member with this e-mail address (compared case-insensitively), if any."""
    return session.scalar(select(Member).where(func.lower(Member.email) == address))


def link_token(signer: Signer, member_id: int) -> str:
    """A signed token for the member's self-service page."""
    return signer.dumps(Purpose.PRIVACY, {"member": member_id})


def link_url(base_url: str, token: str) -> str:
    """The page's address: ``{base_url}/privacy/{token}``."""
    return f"{base_url.rstrip('/')}/privacy/{token}"


def member_of_token(signer: Signer, token: str, max_age_s: int) -> int:
    """The member id a valid link names; :class:`~hub.signing.InvalidToken` otherwise."""
    data = signer.loads(Purpose.PRIVACY, token, max_age_s)
    member = data.get("member")
    if not isinstance(member, int) or isinstance(member, bool):
        raise InvalidToken("invalid")
    return member


def _link_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def form_token(signer: Signer, token: str) -> str:
    """The CSRF token of the forms on the page of *token*: bound to that very link."""
    return signer.dumps(Purpose.PRIVACY, {"form": _link_digest(token)})


def check_form_token(signer: Signer, token: str, submitted: str, max_age_s: int) -> bool:
    """Whether *submitted* is the form token of the page of *token*, and not too old."""
    try:
        data = signer.loads(Purpose.PRIVACY, submitted, max_age_s)
    except InvalidToken:
        return False
    expected = _link_digest(token)
    value = data.get("form")
    return isinstance(value, str) and hmac.compare_digest(value, expected)


def recipient_url(email_url: str, address: str) -> str:
    """The Apprise e-mail URL with *address* as its only recipient."""
    parts = urlsplit(email_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "to"]
    query.append(("to", address))
    return urlunsplit(parts._replace(query=urlencode(query)))


class RequestLimiter:
    """Sliding-window counts of link requests per client and per address (in memory).

    Addresses are kept only as keyed hashes, and only for the window's length.
    """

    def __init__(
        self,
        settings: PrivacySettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        key: bytes | None = None,
    ) -> None:
        self._settings = settings
        self._monotonic = monotonic
        self._key = key or secrets.token_bytes(32)
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _allow(self, key: str, limit: int) -> bool:
        now = self._monotonic()
        horizon = now - self._settings.request_window_min * 60
        with self._lock:
            for name in [k for k, q in self._hits.items() if not q or q[-1] < horizon]:
                del self._hits[name]
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] < horizon:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            return True

    def allow_client(self, client: str) -> bool:
        """Count one request from *client*; False once it exceeds its share."""
        return self._allow("client:" + client, self._settings.requests_per_client)

    def allow_address(self, address: str) -> bool:
        """Count one link for *address*; False once it had its share."""
        digest = hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()
        return self._allow("address:" + digest, self._settings.requests_per_address)


def member_language(member: Member) -> Language:
    """The member's language for pages and e-mails (French unless they chose English)."""
    return Language.EN if member.language == Language.EN.value else Language.FR


def link_message(
    settings: PrivacySettings, member: Member, link: str, *, message_id: str
) -> OutboundMessage | None:
    """The e-mail carrying *link* to the member, or ``None`` when it cannot be sent."""
    if settings.email_url is None or not member.email or not valid_email(member.email):
        return None
    language = member_language(member)
    minutes = settings.link_max_age_min
    body = "\n\n".join(
        (
            gettext(language, "Hello %(name)s,") % {"name": member.first_name},
            gettext(
                language,
                "Here is your personal link to see your data, change your consents, "
                "export or erase your data:",
            ),
            link,
            gettext(language, "This link is valid for %(minutes)d minutes. Do not share it.")
            % {"minutes": minutes},
            gettext(language, "If you did not ask for it, ignore this e-mail."),
        )
    )
    return OutboundMessage(
        id=message_id,
        recipient_kind=RecipientKind.MEMBER,
        language=language.value,
        subject=gettext(language, "Your data at Vivant"),
        body=body,
        target=AppriseTarget(
            SecretStr(recipient_url(settings.email_url.get_secret_value(), member.email))
        ),
        metadata={"purpose": "privacy_link"},
    )


def prepare_link_request(
    session: Session,
    signer: Signer,
    settings: PrivacySettings,
    base_url: str,
    address: str,
    limiter: RequestLimiter,
) -> OutboundMessage | None:
    """The link e-mail to send for a request naming *address*, or ``None`` (unknown address,
    too many links to it already, or e-mail not configured)."""
    member = member_by_email(session, normalise_email(address))
    if member is None or not limiter.allow_address(normalise_email(address)):
        return None
    token = link_token(signer, member.id)
    return link_message(
        settings, member, link_url(base_url, token), message_id=f"privacy-{secrets.token_hex(8)}"
    )
