"""Per-member insights, for community managers, only about members who allowed it.

A member's posture and its explanation are personal data: they are shown only when the member
gave the **insights** consent (no row, no permission; withdrawing it hides them at once), and
they describe participation, never idle time or productivity (the CNIL fined exactly that in
2023). The role check (community managers only) belongs to the page that calls this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import Language
from hub.db.models import Consent, Member, MemberConsent
from hub.insights.posture import Classification, MemberPeriod, classify
from hub.insights.reports.period import Period, member_weeks, trailing_periods
from hub.insights.settings import InsightsSettings
from hub.insights.value import member_value


class ConsentRequired(PermissionError):
    """The member did not allow individual insights."""


@dataclass(frozen=True)
class MemberInsight:
    """One consenting member's posture over the period ending with *period*, and why."""

    member_id: int
    first_name: str
    classification: Classification
    value_index: float

    def explanation(self, language: Language) -> str:
        """« locataire — sur place 14 jours en 4 semaines, 0 moment, … »."""
        return f"{self.classification.label(language)} — {self.classification.explain(language)}"


def member_insight(
    session: Session, member_id: int, period: Period, settings: InsightsSettings
) -> MemberInsight:
    """The member's posture over the ``period_days`` ending with *period*; needs consent."""
    member = session.get(Member, member_id)
    if member is None or not member.allows(Consent.INSIGHTS):
        raise ConsentRequired(f"member {member_id} did not allow individual insights")
    return _insights(session, period, settings, {member_id: member.first_name}, member_id)[0]


def consented_insights(
    session: Session, period: Period, settings: InsightsSettings
) -> list[MemberInsight]:
    """Every member of the site who allowed individual insights (the others are not listed)."""
    names = {
        m.id: m.first_name
        for m in session.scalars(
            select(Member)
            .join(MemberConsent, MemberConsent.member_id == Member.id)
            .where(MemberConsent.scope == Consent.INSIGHTS.value)
        )
    }
    return _insights(session, period, settings, names, None)


def _insights(
    session: Session,
    period: Period,
    settings: InsightsSettings,
    names: dict[int, str],
    member_id: int | None,
) -> list[MemberInsight]:
    span = timedelta(days=settings.posture.period_days)
    end_week = period.end - timedelta(days=1)
    end_week -= timedelta(days=end_week.weekday())
    weeks = member_weeks(
        session, Period(period.site_id, end_week + timedelta(weeks=1) - span, period.end), member_id
    )
    out = []
    chosen = [member_id] if member_id is not None else sorted(set(weeks) & set(names))
    for member in chosen:
        rows = weeks.get(member, {})
        found = trailing_periods(rows, [end_week], settings.posture.period_days)
        period_of: MemberPeriod = found[end_week]
        out.append(
            MemberInsight(
                member,
                names[member],
                classify(period_of, settings.posture),
                member_value(period_of, settings.value),
            )
        )
    return out
