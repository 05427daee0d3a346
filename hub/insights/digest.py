"""The weekly digest: last week's insights of each site, e-mailed to its managers.

Every Monday from :data:`SEND_HOUR` (site time) the hub builds, for each site, a short summary
of the week that just ended (Monday to Sunday) — room use, postures, community value, moments,
nudges' uplift — and sends it in each manager's language (accounts with the manager or admin
role; their e-mail address is their login) through the hub's Apprise mail URL
(``channels.email_url``). Small cells read « moins de 5 membres », as on the pages.

Once a week per site, across restarts and hub processes: the week is claimed by inserting the
``hub_state`` key ``insights-digest:<site>:<monday>`` before sending (a second insert fails), so
a digest is sent at most once; a failed send is logged, not retried. ``vivant hub digest``
prints the digest (``--send`` sends it now, ignoring the claim).
"""

from __future__ import annotations

import asyncio
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


def claim_week(sessions: sessionmaker[Session], site_id: str, week: date, now: datetime) -> bool:
    """Take the week of *site_id* for sending; False when it was already taken."""
    try:
        with sessions.begin() as session:
            session.add(
                HubState(
                    key=f"{STATE_PREFIX}:{site_id}:{week.isoformat()}",
                    value={"claimed_at": now.isoformat()},
                    saved_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


async def send_digest(
    config: HubConfig,
    sessions: sessionmaker[Session],
    site: SiteSettings,
    week: date,
    channel: AppriseChannel | None = None,
) -> int:
    """Send *site*'s digest of *week* to every manager now; returns the e-mails sent."""
    if config.channels.email_url is None:
        log.warning("weekly digest of %s not sent: no channels.email_url", site.id)
        return 0
    mail_url = config.channels.email_url.get_secret_value()
    with sessions() as session:
        report = site_week(session, config, site.id, week)
        people = managers(session)
    channel = channel or AppriseChannel(timeout_s=config.channels.apprise_timeout_s)
    sent = 0
    for index, (email, language) in enumerate(people):
        digest = build_digest(report, site, language, config.http.base_url)
        message = OutboundMessage(
            id=f"digest-{site.id}-{week.isoformat()}-{index}",
            recipient_kind=RecipientKind.STAFF,
            language=language.value,
            subject=digest.subject,
            body=digest.body,
            target=AppriseTarget(SecretStr(with_recipient(mail_url, email))),
        )
        result = await channel.send(message)
        if result.ok:
            sent += 1
        else:
            log.warning("weekly digest of %s to a manager failed: %s", site.id, result.detail)
    return sent


async def send_due_digests(
    config: HubConfig, sessions: sessionmaker[Session], now: datetime
) -> dict[str, int]:
    """Send each site's digest of last week if it is due and nobody sent it yet."""
    out: dict[str, int] = {}
    if config.channels.email_url is None:
        return out
    for site in config.sites:
        week = week_to_send(now, site.timezone)
        if week is None or not claim_week(sessions, site.id, week, now):
            continue
        out[site.id] = await send_digest(config, sessions, site, week)
        log.info("weekly digest of %s sent to %d manager(s)", site.id, out[site.id])
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
