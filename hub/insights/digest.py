"""The weekly digest: last week's insights of each site, e-mailed to its managers.

Every Monday from :data:`SEND_HOUR` (site time) the hub builds, for each site, a short summary
of the week that just ended (Monday to Sunday) — room use, postures, community value, moments,
nudges' uplift — and sends it in each manager's language (accounts with the manager or admin
role; their e-mail address is their login) through the hub's Apprise mail URL
(``channels.email_url``). Small cells read « moins de 5 membres », as on the pages.

Once a week per site, across restarts and hub processes: the week is claimed by inserting the
``hub_state`` key ``insights-digest:<site>:<monday>`` (a second insert fails), together with one
row per manager (``…:<monday>:<hash of the address>``) recording that recipient's delivery:
``pending``, ``failed`` (with the next attempt's time), ``sent`` or ``abandoned``. Each pass
of the hub's insights loop (every ``insights.refresh_minutes``) attempts the recipients that are
due, so a refused or unreachable mail server is retried with backoff (15 minutes, doubling,
at most 12 hours between attempts, :data:`MAX_ATTEMPTS` attempts), and a digest that was
accepted is never sent again. Each attempt is taken by inserting its own key
(``…:<hash>:<attempt>``) before sending, so two hub processes never send the same attempt; an
attempt whose process died before recording the outcome counts as failed after
:data:`ATTEMPT_LEASE` (the one case where a manager may receive a digest twice: the server
accepted it and the process died before writing it down). ``vivant hub digest`` prints the
digest (``--send`` sends it now, ignoring the claim).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import Role
from hub.channels.apprise_channel import AppriseChannel
from hub.channels.base import AppriseTarget, OutboundMessage, RecipientKind
from hub.config import HubConfig, Language, SiteSettings
from hub.db.models import HubState, User
from hub.deliveries import with_recipient
from hub.i18n import gettext
from hub.insights.presentation import VALUES, cell_text, moment_kind
from hub.insights.privacy import Suppressed
from hub.insights.reports.full import SiteInsights, site_insights
from hub.insights.reports.period import Period
from hub.insights.stats import Uplift

log = logging.getLogger(__name__)

SEND_HOUR = 8
STATE_PREFIX = "insights-digest"
FIRST_RETRY = timedelta(minutes=15)
LONGEST_RETRY = timedelta(hours=12)
MAX_ATTEMPTS = 8
ATTEMPT_LEASE = timedelta(minutes=10)
"""An attempt not recorded this long after it began is taken as failed (its process died)."""
MANAGERS = (Role.MANAGER.value, Role.ADMIN.value)


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


@dataclass(frozen=True)
class Digest:
    """One site's week, written in one language."""

    site_id: str
    week_start: date
    language: Language
    subject: str
    body: str


def week_to_send(now: datetime, zone: str) -> date | None:
    """The Monday of the week to report on at *now*, or ``None`` before Monday's send hour.

    From Monday :data:`SEND_HOUR` on, the week that just ended is due (a hub started on a
    Wednesday still sends it)."""
    local = now.astimezone(ZoneInfo(zone))
    monday = local.date() - timedelta(days=local.weekday())
    if local.weekday() == 0 and local.time() < time(SEND_HOUR):
        return None
    return monday - timedelta(weeks=1)


def _day(value: date, language: Language) -> str:
    return value.strftime("%d/%m/%Y") if language is Language.FR else value.isoformat()


DIGEST_TEXT = {
    "week of": N_("week of"),
    "average": N_("average"),
    "peak": N_("peak"),
    "of capacity": N_("of capacity"),
    "Used only as desks": N_("Used only as desks"),
    "Postures (4 weeks to this one)": N_("Postures (4 weeks to this one)"),
    "Community value index": N_("Community value index"),
    "No moment this week.": N_("No moment this week."),
    "moments": N_("moments"),
    "attendances": N_("attendances"),
    "No nudge decision this week.": N_("No nudge decision this week."),
    "95 % interval": N_("95 % interval"),
    "Details and CSV exports": N_("Details and CSV exports"),
}
"""The digest's words (key: the English text)."""


def build_digest(
    report: SiteInsights, site: SiteSettings, language: Language, base_url: str
) -> Digest:
    """The digest of *report* (the insights of one week of *site*) in *language*."""
    t = {key: gettext(language, text) for key, text in DIGEST_TEXT.items()}
    week = report.period.start
    colon = " : " if language is Language.FR else ": "
    lines = [f"{site.name} · {t['week of']} {_day(week, language)}", ""]

    lines.append(gettext(language, "Rooms"))
    for room in report.rooms:
        if not room.capacity:
            continue
        if isinstance(room.average_of_capacity, Suppressed):
            figures = cell_text("average", room.average_of_capacity, language)
        else:
            average = cell_text("average_of_capacity", room.average_of_capacity, language)
            peak = cell_text("peak_of_capacity", room.peak_of_capacity, language)
            figures = f"{t['average']} {average}, {t['peak']} {peak} {t['of capacity']}"
        lines.append(f"- {room.name}{colon}{figures}")
    desks = [room.name for room in report.rooms if room.desk_only]
    if desks:
        lines.append(f"{t['Used only as desks']}{colon}{', '.join(desks)}")
    lines.append("")

    weeks = [w for w in report.postures.weeks if w.week_start == week]
    if weeks:
        posture = weeks[0]
        counts = ", ".join(
            f"{gettext(language, VALUES[str(getattr(k, 'value', k))])} "
            f"{cell_text('members', v, language)}"
            for k, v in posture.counts.items()
        )
        lines.append(f"{t['Postures (4 weeks to this one)']}{colon}{counts}")
        index = cell_text("value_index", posture.value_index, language)
        lines.append(f"{t['Community value index']}{colon}{index}")
        lines.append("")

    kinds = [g for g in report.moments if g.dimension == "kind"]
    lines.append(gettext(language, "Moments"))
    if not kinds:
        lines.append(f"- {t['No moment this week.']}")
    for group in kinds:
        came = cell_text("attendances", group.attendances, language)
        lines.append(
            f"- {moment_kind(group.value, language)}{colon}{t['moments']} {group.moments}, "
            f"{t['attendances']} {came}"
        )
    lines.append("")

    lines.append(gettext(language, "Nudges: uplift against the holdout"))
    rules = [r for r in report.nudges if r.dimension == "rule"]
    if not rules:
        lines.append(f"- {t['No nudge decision this week.']}")
    for row in rules:
        if isinstance(row.result, Uplift):
            u = row.result
            low = cell_text("result.low", u.low, language)
            high = cell_text("result.high", u.high, language)
            difference = cell_text("result.difference", u.difference, language)
            lines.append(f"- {row.rule}{colon}{difference} ({t['95 % interval']} {low} … {high})")
        else:
            lines.append(f"- {row.rule}{colon}{cell_text('result', row.result, language)}")
    lines.append("")
    last = week + timedelta(days=6)
    link = f"{base_url.rstrip('/')}/insights?site={site.id}&from={week}&to={last}"
    lines.append(f"{t['Details and CSV exports']}{colon}{link}")
    subject = f"Vivant · {site.name} · {t['week of']} {_day(week, language)}"
    return Digest(site.id, week, language, subject, "\n".join(lines) + "\n")


def site_week(session: Session, config: HubConfig, site_id: str, week: date) -> SiteInsights:
    """The insights of one site over the week starting on Monday *week*."""
    return site_insights(session, Period(site_id, week, week + timedelta(days=7)), config.insights)


def managers(session: Session) -> list[tuple[str, Language]]:
    """E-mail address and language of every manager and admin account."""
    return [
        (email, Language.EN if language == "en" else Language.FR)
        for email, language in session.execute(
            select(User.email, User.language).where(User.role.in_(MANAGERS)).order_by(User.id)
        )
    ]


def _week_key(site_id: str, week: date) -> str:
    return f"{STATE_PREFIX}:{site_id}:{week.isoformat()}"


def recipient_key(site_id: str, week: date, email: str) -> str:
    """The ``hub_state`` key of one manager's delivery of one digest (no address in keys)."""
    digest = hashlib.sha256(email.lower().encode()).hexdigest()[:16]
    return f"{_week_key(site_id, week)}:{digest}"


def retry_delay(attempts: int) -> timedelta:
    """Wait after the *attempts*-th failed attempt: 15 minutes, doubling, at most 12 hours."""
    delay: timedelta = FIRST_RETRY * 2 ** max(0, attempts - 1)
    return min(LONGEST_RETRY, delay)


def claim_week(
    sessions: sessionmaker[Session],
    site_id: str,
    week: date,
    now: datetime,
    recipients: list[str] | None = None,
) -> bool:
    """Take the week of *site_id* and plan a delivery to each of *recipients*; False when the
    week was already taken (by this process earlier or by another one)."""
    try:
        with sessions.begin() as session:
            session.add(
                HubState(
                    key=_week_key(site_id, week),
                    value={"claimed_at": now.isoformat()},
                    saved_at=now,
                )
            )
            session.flush()
            for email in dict.fromkeys(recipients or []):
                session.add(
                    HubState(
                        key=recipient_key(site_id, week, email),
                        value={
                            "site": site_id,
                            "week": week.isoformat(),
                            "email": email,
                            "status": "pending",
                            "attempts": 0,
                            "next_at": now.isoformat(),
                        },
                        saved_at=now,
                    )
                )
    except IntegrityError:
        return False
    return True


def _take_attempt(sessions: sessionmaker[Session], key: str, attempt: int, now: datetime) -> bool:
    """Insert the key of this attempt: only one process gets it."""
    try:
        with sessions.begin() as session:
            session.add(HubState(key=f"{key}:{attempt}", value={}, saved_at=now))
    except IntegrityError:
        return False
    return True


def _record(
    sessions: sessionmaker[Session], key: str, now: datetime, **changes: object
) -> dict[str, object]:
    with sessions.begin() as session:
        row = session.get(HubState, key)
        assert row is not None  # recipient rows are never deleted while planned
        row.value = {**row.value, **changes}
        row.saved_at = now
        return dict(row.value)


def due_deliveries(session: Session, now: datetime) -> list[tuple[str, dict[str, object]]]:
    """Planned or failed deliveries whose (next) attempt is due at *now*."""
    out = []
    for row in session.scalars(
        select(HubState).where(HubState.key.like(f"{STATE_PREFIX}:%:%:%")).order_by(HubState.key)
    ):
        value = row.value
        status, next_at = value.get("status"), value.get("next_at")
        if (
            status in ("pending", "failed")
            and isinstance(next_at, str)
            and datetime.fromisoformat(next_at) <= now
        ):
            out.append((row.key, dict(value)))
    return out


async def _deliver(
    config: HubConfig,
    site: SiteSettings,
    report: SiteInsights,
    email: str,
    language: Language,
    channel: AppriseChannel,
    attempt: int = 1,
) -> tuple[bool, str]:
    """Send one manager their digest; (accepted, detail)."""
    assert config.channels.email_url is not None
    mail_url = config.channels.email_url.get_secret_value()
    digest = build_digest(report, site, language, config.http.base_url)
    message = OutboundMessage(
        id=f"digest-{site.id}-{report.period.start.isoformat()}-"
        f"{recipient_key(site.id, report.period.start, email)[-16:]}-{attempt}",
        recipient_kind=RecipientKind.STAFF,
        language=language.value,
        subject=digest.subject,
        body=digest.body,
        target=AppriseTarget(SecretStr(with_recipient(mail_url, email))),
    )
    result = await channel.send(message)
    return result.ok, str(result.detail or "")


async def send_digest(
    config: HubConfig,
    sessions: sessionmaker[Session],
    site: SiteSettings,
    week: date,
    channel: AppriseChannel | None = None,
) -> int:
    """Send *site*'s digest of *week* to every manager now (no claim, no retry); returns the
    e-mails sent."""
    if config.channels.email_url is None:
        log.warning("weekly digest of %s not sent: no channels.email_url", site.id)
        return 0
    with sessions() as session:
        report = site_week(session, config, site.id, week)
        people = managers(session)
    channel = channel or AppriseChannel(timeout_s=config.channels.apprise_timeout_s)
    sent = 0
    for email, language in people:
        ok, detail = await _deliver(config, site, report, email, language, channel)
        if ok:
            sent += 1
        else:
            log.warning("weekly digest of %s to a manager failed: %s", site.id, detail)
    return sent


async def send_due_digests(
    config: HubConfig,
    sessions: sessionmaker[Session],
    now: datetime,
    channel: AppriseChannel | None = None,
) -> dict[str, int]:
    """Claim each site's digest of last week when it is due, then attempt every delivery that is
    due (new ones and failed ones whose retry time has come); returns the e-mails sent per
    site in this pass."""
    out: dict[str, int] = {}
    if config.channels.email_url is None:
        return out
    with sessions() as session:
        people = dict(managers(session))
    for site in config.sites:
        week = week_to_send(now, site.timezone)
        if week is not None and claim_week(sessions, site.id, week, now, list(people)):
            log.info("weekly digest of %s: week of %s claimed", site.id, week)
    sites = {site.id: site for site in config.sites}
    with sessions() as session:
        due = due_deliveries(session, now)
    channel = channel or AppriseChannel(timeout_s=config.channels.apprise_timeout_s)
    reports: dict[tuple[str, date], SiteInsights] = {}
    for key, value in due:
        chosen = sites.get(str(value["site"]))
        if chosen is None:
            continue  # a site no longer configured here
        site = chosen
        week, email = date.fromisoformat(str(value["week"])), str(value["email"])
        attempt = int(str(value["attempts"])) + 1
        if not _take_attempt(sessions, key, attempt, now):
            # Another process took this attempt; if it never recorded an outcome, it died.
            with sessions() as session:
                taken = session.get(HubState, f"{key}:{attempt}")
                stale = taken is not None and taken.saved_at + ATTEMPT_LEASE <= now
            if stale:
                _record(sessions, key, now, status="failed", attempts=attempt, detail="interrupted")
            continue
        if email not in people:
            _record(sessions, key, now, status="abandoned", attempts=attempt, detail="no manager")
            continue
        if (site.id, week) not in reports:
            with sessions() as session:
                reports[(site.id, week)] = site_week(session, config, site.id, week)
        try:
            ok, detail = await _deliver(
                config, site, reports[(site.id, week)], email, people[email], channel, attempt
            )
        except Exception as error:  # an attempt that raised is a failed attempt
            ok, detail = False, repr(error)
        if ok:
            _record(sessions, key, now, status="sent", attempts=attempt, sent_at=now.isoformat())
            out[site.id] = out.get(site.id, 0) + 1
        elif attempt >= MAX_ATTEMPTS:
            _record(sessions, key, now, status="abandoned", attempts=attempt, detail=detail)
            log.error(
                "weekly digest of %s to a manager abandoned after %d attempts: %s",
                site.id,
                attempt,
                detail,
            )
        else:
            retry = now + retry_delay(attempt)
            _record(
                sessions,
                key,
                now,
                status="failed",
                attempts=attempt,
                next_at=retry.isoformat(),
                detail=detail,
            )
            log.warning(
                "weekly digest of %s to a manager failed (attempt %d, next at %s): %s",
                site.id,
                attempt,
                retry.isoformat(),
                detail,
            )
    for site_id, sent in out.items():
        log.info("weekly digest of %s sent to %d manager(s)", site_id, sent)
    return out


def digest_command(config: HubConfig, sessions: sessionmaker[Session], *, send: bool) -> int:
    """``vivant hub digest``: print last week's digest of each site (``--send``: e-mail it)."""
    now = datetime.now(UTC)
    for site in config.sites:
        local = now.astimezone(ZoneInfo(site.timezone)).date()
        week = local - timedelta(days=local.weekday(), weeks=1)
        with sessions() as session:
            report = site_week(session, config, site.id, week)
        digest = build_digest(report, site, Language.FR, config.http.base_url)
        sys.stdout.write(f"Subject: {digest.subject}\n\n{digest.body}\n")
        if send:
            sent = asyncio.run(send_digest(config, sessions, site, week))
            sys.stdout.write(f"-> sent to {sent} manager(s)\n\n")
    return 0
