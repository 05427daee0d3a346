"""The nudge scheduler: turns presence and moments into triggers, decisions and deliveries.

Every ``nudges.tick_s`` seconds (30 by default) the hub looks at the database (presence sessions,
moments, RSVPs, attendance) and at its live room location, and finds what the rules react to:

1. **arrival** — a presence session opened recently: a welcome on the member's first day or after
   a long absence, and (rule off by default) a message when a moment starts within the hour;
2. **moment starting soon** — ``lead_minutes`` before a moment: the members on site who have not
   joined, ranked by interest match, as many as there are seats left
   (:func:`~hub.nudges.guardrails.plan_moment_soon`), and an announcement on the lobby screens;
3. **low attendance** — ``after_start_minutes`` after the start: an alert to the site's staff
   channel when fewer people are in the room than expected;
4. **tenant streak** — a member on site ``streak_days`` days in a row without any moment: a
   suggestion to the *staff* (never a message to the member), with the member's insights consent;

and runs each through :func:`~hub.nudges.guardrails.decide`. The scheduler decides nothing
itself: it only feeds the guardrails real data (:mod:`hub.nudge_facts`: consents mapped to
channels and kinds, past nudges from the log for caps, rotation and cooldowns, the room the
member is in now from the live locator) and the staff switches (:mod:`hub.nudge_control`).

**Each trigger fires once**, across ticks, restarts and two hub processes sharing the database:
its key (``moment_soon:42:<start>``, ``arrival:17``, …) is inserted in ``nudge_triggers`` in the
same transaction as its decisions (``nudge_records``) and deliveries (``deliveries``); a second
process inserting the same key fails and drops its whole transaction. Looking back over a window
rather than "since the last tick" is what makes a restart safe: what was missed while the hub was
down is still found, and what was done is not done again.

A moment moved to another time gets a new key (the start is part of it), so its invitation is
sent for the new time. The clock is injected so tests travel in time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.channels.base import RecipientKind
from hub.config import HubConfig, Language, SiteSettings
from hub.db.models import (
    Member,
    Moment,
    NudgeTrigger,
    PresenceSession,
)
from hub.deliveries import enqueue
from hub.i18n import gettext
from hub.nudge_control import effective_rules
from hub.nudge_facts import LiveRooms, NudgeFacts, streak_without_moment
from hub.nudge_log import Decision as LogDecision
from hub.nudge_log import record_decision
from hub.nudges.dryrun import explain
from hub.nudges.experiment import Arm
from hub.nudges.guardrails import (
    Decision,
    Holdout,
    PastNudge,
    Send,
    Skip,
    Trigger,
    decide,
    plan_moment_soon,
)
from hub.nudges.rules import Channel, NudgeKind, RulesConfig
from hub.rsvp import members_joined, rsvp_url
from hub.signing import Signer

log = logging.getLogger(__name__)

WELCOME_LOOKBACK = timedelta(minutes=30)
"""Arrivals older than this are not looked at (their delay windows are over anyway)."""
NEW_MEMBER = timedelta(days=30)
"""A first recorded visit is a *first day* only for a member registered within this period: the
members of a space that installs Vivant are not all new."""
TRIGGER_MEMORY = timedelta(days=14)
"""Fired trigger keys are kept this long: past it, no rule looks back far enough to find the
same trigger again (arrivals: 30 minutes; moments: until their start or end; streaks: today)."""
EXPIRY_SLACK = timedelta(hours=1)
"""A message with no moment to miss may still leave this long after its window closes."""

K = NudgeKind


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PendingTrigger:
    """Something a rule reacts to, found in the data; fires once under *key*."""

    key: str
    kind: NudgeKind
    site_id: str
    at: datetime
    moment_id: int | None = None
    member_id: int | None = None
    session_id: int | None = None
    days: int | None = None  # absence (welcome back) or streak length


@dataclass(frozen=True, slots=True)
class Planned:
    """One decision of one trigger, with who or what it is about (for the log and dry runs)."""

    trigger: PendingTrigger
    name: str
    decision: Decision
    member_id: int | None = None


@dataclass
class TickReport:
    """What one tick did."""

    fired: list[str] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)
    deliveries: int = 0

    def decisions(self, kind: NudgeKind) -> list[Planned]:
        """The decisions of one rule."""
        return [p for p in self.planned if p.decision.kind is kind]


def _subject(kind: NudgeKind, language: Language, values: dict[str, str]) -> str:
    if kind in (K.MOMENT_SOON, K.ARRIVAL_MESSAGE):
        return gettext(language, "%(title)s at %(time)s") % values
    if kind is K.LOW_ATTENDANCE_STAFF:
        return gettext(language, "Few people at %(title)s") % values
    if kind is K.TENANT_STREAK_STAFF:
        return gettext(language, "A member to introduce")
    if kind is K.WELCOME_BACK:
        return gettext(language, "Welcome back to %(site)s") % values
    return gettext(language, "Welcome to %(site)s") % values


class NudgeScheduler:
    """Finds triggers, decides, records and queues deliveries; see the module docstring."""

    def __init__(
        self,
        config: HubConfig,
        sessions: sessionmaker[Session],
        rules: RulesConfig,
        *,
        live: LiveRooms | None = None,
        signer: Signer | None = None,
        clock: Callable[[], datetime] = _utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.rules = rules
        self.facts = NudgeFacts(config, live)
        self.signer = signer
        self.clock = clock
        self.rand = rand

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Tick forever every ``nudges.tick_s``; a failing tick is logged and retried."""
        while True:
            try:
                report = await asyncio.to_thread(self.tick)
                if report.fired:
                    log.info(
                        "nudges: %d trigger(s), %d decision(s), %d delivery(ies)",
                        len(report.fired),
                        len(report.planned),
                        report.deliveries,
                    )
            except Exception:
                log.exception("nudge tick failed; will try again")
            await asyncio.sleep(self.config.nudges.tick_s)

    def tick(self, now: datetime | None = None) -> TickReport:
        """Fire every trigger due at *now* that has not fired yet, each in its own transaction."""
        now = now or self.clock()
        report = TickReport()
        with self.sessions() as session:
            pending = [
                t for site in self.config.sites for t in self.find_triggers(session, site, now)
            ]
            done = set(
                session.scalars(
                    select(NudgeTrigger.key).where(NudgeTrigger.key.in_([t.key for t in pending]))
                )
            )
        for trigger in pending:
            if trigger.key not in done:
                self._fire(trigger, now, report)
        return report

    def announce_now(self, site_id: str, moment_id: int, now: datetime | None = None) -> TickReport:
        """Staff announce a moment now: the members on site who have not joined are invited
        through the same guardrails as the automatic invitation (consent, caps, quiet hours,
        holdout, meeting rooms, remaining seats), and the lobby screens show it."""
        now = now or self.clock()
        trigger = PendingTrigger(
            f"announce:{moment_id}:{now.astimezone(UTC).isoformat()}",
            K.MOMENT_SOON,
            site_id,
            now,
            moment_id=moment_id,
        )
        report = TickReport()
        self._fire(trigger, now, report)
        return report

    def _fire(self, trigger: PendingTrigger, now: datetime, report: TickReport) -> None:
        """Claim *trigger* (once, across processes), plan it and record what it sends."""
        try:
            with self.sessions.begin() as session:
                session.add(
                    NudgeTrigger(
                        key=trigger.key,
                        site_id=trigger.site_id,
                        rule=trigger.kind.value,
                        fired_at=now,
                    )
                )
                session.flush()  # the claim: fails here if another process fired it
                rules = effective_rules(session, self.rules)
                planned = self.plan(session, trigger, rules, now)
                report.deliveries += self._record(session, trigger, planned, rules, now)
        except IntegrityError:
            log.debug("trigger %s already fired elsewhere", trigger.key)
            return
        except OperationalError as error:  # SQLite busy beyond its timeout: next tick
            log.warning("trigger %s postponed: %s", trigger.key, type(error).__name__)
            return
        report.fired.append(trigger.key)
        report.planned.extend(planned)

    def prune_triggers(self, now: datetime | None = None) -> int:
        """Forget trigger keys older than :data:`TRIGGER_MEMORY`; returns how many."""
        cutoff = (now or self.clock()) - TRIGGER_MEMORY
        with self.sessions.begin() as session:
            result = session.execute(delete(NudgeTrigger).where(NudgeTrigger.fired_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    def preview(self, now: datetime | None = None) -> list[Planned]:
        """What a tick at *now* would decide, recording and sending nothing (dry run)."""
        now = now or self.clock()
        scheduled: dict[int, list[PastNudge]] = {}  # what this preview would have sent
        planned: list[Planned] = []
        with self.sessions() as session:
            rules = effective_rules(session, self.rules)
            for site in self.config.sites:
                for trigger in self.find_triggers(session, site, now):
                    decisions = self.plan(session, trigger, rules, now, scheduled)
                    for item in decisions:
                        if isinstance(item.decision, Send) and item.member_id is not None:
                            scheduled.setdefault(item.member_id, []).append(_past(item.decision))
                    planned.extend(decisions)
            session.rollback()
        return planned

    # -- finding triggers ---------------------------------------------------------------------

    def find_triggers(
        self, session: Session, site: SiteSettings, now: datetime
    ) -> list[PendingTrigger]:
        """Every trigger due at *now* at *site* (fired or not: the caller checks the keys)."""
        rules = self.rules.rules
        found: list[PendingTrigger] = []
        moments = session.scalars(
            select(Moment)
            .where(
                Moment.site_id == site.id,
                Moment.cancelled_at.is_(None),
                Moment.ends_at > now,
                Moment.starts_at
                <= now
                + timedelta(
                    minutes=max(
                        rules.moment_soon.lead_minutes, rules.arrival_message.within_minutes
                    )
                ),
            )
            .order_by(Moment.starts_at, Moment.id)
        ).all()
        for moment in moments:
            start = moment.starts_at.astimezone(UTC).isoformat()
            soon = moment.starts_at - timedelta(minutes=rules.moment_soon.lead_minutes)
            if rules.moment_soon.enabled and soon <= now < moment.starts_at:
                found.append(
                    PendingTrigger(
                        f"moment_soon:{moment.id}:{start}",
                        K.MOMENT_SOON,
                        site.id,
                        now,
                        moment_id=moment.id,
                    )
                )
            low = moment.starts_at + timedelta(
                minutes=rules.low_attendance_staff.after_start_minutes
            )
            if rules.low_attendance_staff.enabled and low <= now < moment.ends_at:
                found.append(
                    PendingTrigger(
                        f"low_attendance:{moment.id}:{start}",
                        K.LOW_ATTENDANCE_STAFF,
                        site.id,
                        now,
                        moment_id=moment.id,
                    )
                )
        found += self._arrivals(session, site, now, moments)
        found += self._streaks(session, site, now)
        return found

    def _arrivals(
        self, session: Session, site: SiteSettings, now: datetime, moments: Sequence[Moment]
    ) -> list[PendingTrigger]:
        rules = self.rules.rules
        arrivals = session.scalars(
            select(PresenceSession)
            .where(
                PresenceSession.site_id == site.id,
                PresenceSession.arrived_at > now - WELCOME_LOOKBACK,
                PresenceSession.arrived_at <= now,
                PresenceSession.departed_at.is_(None),
            )
            .order_by(PresenceSession.arrived_at, PresenceSession.id)
        ).all()
        found: list[PendingTrigger] = []
        for visit in arrivals:
            previous = session.scalar(
                select(
                    func.max(
                        func.coalesce(PresenceSession.departed_at, PresenceSession.last_seen_at)
                    )
                ).where(
                    PresenceSession.member_id == visit.member_id,
                    PresenceSession.id != visit.id,
                    PresenceSession.arrived_at < visit.arrived_at,
                )
            )
            member = visit.member_id
            if previous is None:
                joined_at = session.scalar(select(Member.created_at).where(Member.id == member))
                new = joined_at is not None and visit.arrived_at - joined_at <= NEW_MEMBER
                if rules.welcome_first_day.enabled and new:
                    found.append(
                        PendingTrigger(
                            f"welcome:{visit.id}",
                            K.WELCOME_FIRST_DAY,
                            site.id,
                            visit.arrived_at,
                            member_id=member,
                            session_id=visit.id,
                        )
                    )
            else:
                days = (visit.arrived_at - _aware(previous)).days
                if rules.welcome_back.enabled and days >= rules.welcome_back.absence_days:
                    found.append(
                        PendingTrigger(
                            f"welcome:{visit.id}",
                            K.WELCOME_BACK,
                            site.id,
                            visit.arrived_at,
                            member_id=member,
                            session_id=visit.id,
                            days=days,
                        )
                    )
            if not rules.arrival_message.enabled:
                continue
            within = visit.arrived_at + timedelta(minutes=rules.arrival_message.within_minutes)
            upcoming = [m for m in moments if visit.arrived_at < m.starts_at <= within]
            if upcoming:
                joined = members_joined(session, [m.id for m in upcoming])
                fresh = [m for m in upcoming if member not in joined[m.id]]
                moment = (fresh or upcoming)[0]
                found.append(
                    PendingTrigger(
                        f"arrival:{visit.id}",
                        K.ARRIVAL_MESSAGE,
                        site.id,
                        visit.arrived_at,
                        moment_id=moment.id,
                        member_id=member,
                        session_id=visit.id,
                    )
                )
        return found

    def _streaks(self, session: Session, site: SiteSettings, now: datetime) -> list[PendingTrigger]:
        rule = self.rules.rules.tenant_streak_staff
        if not rule.enabled:
            return []
        today = now.astimezone(site.zone).date()
        on_site = session.scalars(
            select(PresenceSession.member_id).where(
                PresenceSession.site_id == site.id, PresenceSession.departed_at.is_(None)
            )
        ).all()
        found = []
        for member_id in sorted(set(on_site)):
            days = streak_without_moment(session, site, member_id, today)
            if days >= rule.streak_days:
                found.append(
                    PendingTrigger(
                        f"streak:{member_id}:{today.isoformat()}",
                        K.TENANT_STREAK_STAFF,
                        site.id,
                        now,
                        member_id=member_id,
                        days=days,
                    )
                )
        return found

    # -- deciding -----------------------------------------------------------------------------

    def plan(
        self,
        session: Session,
        trigger: PendingTrigger,
        rules: RulesConfig,
        now: datetime,
        scheduled: dict[int, list[PastNudge]] | None = None,
    ) -> list[Planned]:
        """The decisions of one trigger (recording nothing); *scheduled*: unrecorded history."""
        site = self.config.site(trigger.site_id)
        assert site is not None
        moment = session.get(Moment, trigger.moment_id) if trigger.moment_id is not None else None
        rule_moment = self.facts.rule_moment(session, site, moment, now) if moment else None
        event = Trigger(
            kind=trigger.kind, at=trigger.at, zone=site.zone, site=site.name, moment=rule_moment
        )
        if trigger.kind is K.MOMENT_SOON:
            assert moment is not None
            assert rule_moment is not None
            on_site = session.scalars(
                select(PresenceSession.member_id).where(
                    PresenceSession.site_id == site.id, PresenceSession.departed_at.is_(None)
                )
            ).all()
            candidates = [
                self.facts.candidate(session, site, m, now, moment=moment, scheduled=scheduled)
                for m in sorted(set(on_site))
            ]
            left = (
                None if rule_moment.capacity is None else rule_moment.capacity - rule_moment.rsvps
            )
            plan = plan_moment_soon(
                event, [c for c in candidates if c is not None], rules, now, left
            )
            return [Planned(trigger, c.first_name, d, int(c.member_id)) for c, d in plan]
        if trigger.kind is K.LOW_ATTENDANCE_STAFF:
            assert moment is not None
            return [Planned(trigger, moment.title, decide(event, None, rules, now))]
        assert trigger.member_id is not None
        candidate = self.facts.candidate(
            session,
            site,
            trigger.member_id,
            now,
            moment=moment,
            about=trigger.kind,
            days=trigger.days,
            scheduled=scheduled,
        )
        if candidate is None:
            return []
        return [
            Planned(
                trigger,
                candidate.first_name,
                decide(event, candidate, rules, now),
                trigger.member_id,
            )
        ]

    # -- recording ----------------------------------------------------------------------------

    def _record(
        self,
        session: Session,
        trigger: PendingTrigger,
        planned: Iterable[Planned],
        rules: RulesConfig,
        now: datetime,
    ) -> int:
        site = self.config.site(trigger.site_id)
        assert site is not None
        moment = session.get(Moment, trigger.moment_id) if trigger.moment_id is not None else None
        deliveries = 0
        for item in planned:
            decision = item.decision
            if isinstance(decision, Skip):
                log_decision, arm, channel, variant = LogDecision.SKIPPED, None, None, None
                window: tuple[datetime | None, datetime | None] = (None, None)
            elif isinstance(decision, Holdout):
                log_decision, arm = LogDecision.HOLDOUT, Arm.HOLDOUT.value
                channel, variant = decision.channel.value, decision.variant_id
                window = (None, None)
            else:
                log_decision = LogDecision.DRY_RUN if decision.dry_run else LogDecision.SENT
                arm, channel, variant = (
                    Arm.TREATMENT.value,
                    decision.channel.value,
                    decision.variant_id,
                )
                window = (decision.not_before, decision.not_after)
            record = record_decision(
                session,
                site_id=site.id,
                rule=decision.kind.value,
                decision=log_decision.value,
                triggered_at=trigger.at,
                member_id=item.member_id,
                channel=channel,
                variant_id=variant,
                arm=arm,
                reasons=[r.code.value for r in decision.reasons]
                if isinstance(decision, Skip)
                else (),
                moment_id=trigger.moment_id,
                not_before=window[0],
                not_after=window[1],
            )
            if not isinstance(decision, Send):
                continue
            if decision.dry_run or decision.channel is Channel.SCREEN:
                continue  # the greeting itself is the screens' job, at the badge tap
            self._deliver(session, site, trigger, item, decision, record.id, moment, rules, now)
            deliveries += 1
        announce = trigger.kind is K.MOMENT_SOON and moment is not None and site.screens
        if announce and moment is not None and not rules.paused and not rules.dry_run:
            enqueue(
                session,
                site_id=site.id,
                channel=Channel.SCREEN,
                target_ref=str(moment.id),
                recipient_kind=RecipientKind.SCREEN,
                language=site.screens[0].language.value,
                subject=moment.title,
                body=moment.title,
                send_at=now,
                now=now,
                expires_at=moment.starts_at,
                meta={"moment": str(moment.id)},
            )
            deliveries += 1
        return deliveries

    def _deliver(
        self,
        session: Session,
        site: SiteSettings,
        trigger: PendingTrigger,
        item: Planned,
        decision: Send,
        record_id: int,
        moment: Moment | None,
        rules: RulesConfig,
        now: datetime,
    ) -> None:
        staff = decision.channel is Channel.STAFF
        member = session.get(Member, item.member_id) if item.member_id is not None else None
        if staff or member is None:
            language = rules.staff_language
        else:
            language = Language.EN if member.language == "en" else Language.FR
        values = {"site": site.name, "title": moment.title if moment else "", "time": ""}
        if moment is not None:
            values["time"] = f"{moment.starts_at.astimezone(site.zone):%H:%M}"
        body = decision.text
        if (
            not staff
            and member is not None
            and moment is not None
            and decision.kind in (K.MOMENT_SOON, K.ARRIVAL_MESSAGE)
        ):
            link = self.rsvp_link(member.id, moment.id)
            if link:
                body += "\n\n" + gettext(language, "Join or leave: %(url)s") % {"url": link}
        span = (decision.not_after - decision.not_before).total_seconds()
        send_at = decision.not_before + timedelta(seconds=span * self.rand())
        expires = decision.not_after + EXPIRY_SLACK
        if moment is not None and decision.kind in (K.MOMENT_SOON, K.ARRIVAL_MESSAGE):
            expires = moment.starts_at
        enqueue(
            session,
            site_id=site.id,
            channel=decision.channel,
            target_ref=site.id if staff else str(member.id if member else ""),
            recipient_kind=RecipientKind.STAFF if staff else RecipientKind.MEMBER,
            language=language.value,
            subject=_subject(decision.kind, language, values),
            body=body,
            send_at=send_at,
            expires_at=expires,
            now=now,
            member_id=item.member_id,  # also for a suggestion about them: erased with them
            nudge_id=record_id,
            meta={
                "nudge_id": str(record_id),
                "rule": decision.kind.value,
                "variant": decision.variant_id,
                **({"moment": str(moment.id)} if moment is not None else {}),
            },
        )

    def rsvp_link(self, member_id: int, moment_id: int) -> str | None:
        """The member's signed RSVP link to the moment (None without a signer)."""
        if self.signer is None:
            return None
        return rsvp_url(self.signer, self.config.http.base_url, member_id, moment_id)


def _past(send: Send) -> PastNudge:
    return PastNudge(send.not_before, send.kind, send.variant_id, send.channel)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def explain_planned(
    config: HubConfig, planned: Sequence[Planned], at: datetime, language: Language = Language.FR
) -> str:
    """The decisions of a preview, site by site, in words a community manager reads."""
    fr = language is Language.FR
    blocks = []
    for site in config.sites:
        items = [(p.name, p.decision) for p in planned if p.trigger.site_id == site.id]
        local = at.astimezone(site.zone)
        when = f"{local:%d/%m/%Y %H:%M}" if fr else f"{local:%Y-%m-%d %H:%M}"
        header = f"{site.name} — {when}"
        if not items:
            nothing = "rien à envoyer à cette heure-ci" if fr else "nothing to send at this time"
            blocks.append(f"{header}\n  {nothing}")
            continue
        blocks.append(f"{header}\n{explain(items, site.zone, language)}")
    return "\n\n".join(blocks)
