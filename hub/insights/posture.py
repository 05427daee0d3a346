"""Postures: how a member used a site over a period, and why the hub says so.

A posture is a description of a period, never a judgement of a person: the same member may be a
tenant in February and a coworker in May, and the insights count exactly those movements. The
rules (thresholds in :class:`~hub.insights.settings.PostureSettings`), applied in this order:

1. **absent** — on site at most ``absent_max_days`` days (pays, rarely comes);
2. **coworker** — took part in at least ``coworker_min_moments`` moments, or spent at least
   ``coworker_min_community_share`` of the time in community rooms;
3. **tenant** — on site at least ``tenant_min_days`` days, in at most ``tenant_max_moments``
   moments, and at least ``tenant_min_desk_share`` of the time in desk rooms;
4. **occasional** — everyone else: comes now and then, takes part a little.

Room shares need room-level dwells, which exist only for members who allowed room location. For
the others the shares are unknown: the community-share path to *coworker* is closed and the
desk-share condition of *tenant* is not checked (days and moments decide), which the explanation
says.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from babel.numbers import format_percent

from hub.config import Language
from hub.i18n import gettext, ngettext
from hub.insights.settings import PostureSettings


class Posture(StrEnum):
    """How a member used the place over a period (the brief's four words)."""

    ABSENT = "absent"
    TENANT = "tenant"
    OCCASIONAL = "occasional"
    COWORKER = "coworker"


POSTURES: tuple[Posture, ...] = tuple(Posture)


@dataclass(frozen=True)
class MemberPeriod:
    """What one member did at one site over a period (summed from daily rollups)."""

    period_days: int
    days_on_site: int
    moments_attended: int
    minutes_desk: float = 0.0
    minutes_community: float = 0.0
    minutes_other_rooms: float = 0.0  # meeting rooms, phone booths, lobby

    @property
    def minutes_in_rooms(self) -> float:
        """Minutes placed in some room (zero without room-location consent)."""
        return self.minutes_desk + self.minutes_community + self.minutes_other_rooms

    @property
    def desk_share(self) -> float | None:
        """Share of room time in desk rooms, None when no room time is known."""
        total = self.minutes_in_rooms
        return self.minutes_desk / total if total > 0 else None

    @property
    def community_share(self) -> float | None:
        """Share of room time in community rooms, None when no room time is known."""
        total = self.minutes_in_rooms
        return self.minutes_community / total if total > 0 else None


@dataclass(frozen=True)
class Classification:
    """A posture with the facts it rests on, able to explain itself in French or English."""

    posture: Posture
    period: MemberPeriod

    def label(self, language: Language) -> str:
        """The posture's name in *language*."""
        return posture_label(self.posture, language)

    def explain(self, language: Language) -> str:
        """« sur place 14 jours en 4 semaines, 0 moment, 96 % du temps en espace de travail »."""
        p = self.period
        days = ngettext(language, "on site %(count)d day", "on site %(count)d days", p.days_on_site)
        if p.period_days % 7 == 0:
            span = ngettext(language, "in %(count)d week", "in %(count)d weeks", p.period_days // 7)
        else:
            span = ngettext(language, "in %(count)d day", "in %(count)d days", p.period_days)
        moments = ngettext(language, "%(count)d moment", "%(count)d moments", p.moments_attended)
        parts = [f"{days} {span}", moments]
        desk, community = p.desk_share, p.community_share
        if desk is None or community is None:
            if p.days_on_site > 0:
                parts.append(gettext(language, "no room-level data (not consented)"))
        elif self.posture is Posture.COWORKER or community >= desk:
            parts.append(
                gettext(language, "%(share)s of the time in community rooms")
                % {"share": _percent(community, language)}
            )
        else:
            parts.append(
                gettext(language, "%(share)s of the time in desk rooms")
                % {"share": _percent(desk, language)}
            )
        return ", ".join(parts)


def classify(period: MemberPeriod, settings: PostureSettings) -> Classification:
    """The posture of *period* under *settings* (rules in the module docstring)."""
    return Classification(_posture(period, settings), period)


def _posture(p: MemberPeriod, s: PostureSettings) -> Posture:
    if p.days_on_site <= s.absent_max_days:
        return Posture.ABSENT
    community = p.community_share
    if p.moments_attended >= s.coworker_min_moments or (
        community is not None and community >= s.coworker_min_community_share
    ):
        return Posture.COWORKER
    desk = p.desk_share
    if (
        p.days_on_site >= s.tenant_min_days
        and p.moments_attended <= s.tenant_max_moments
        and (desk is None or desk >= s.tenant_min_desk_share)
    ):
        return Posture.TENANT
    return Posture.OCCASIONAL


def posture_label(posture: Posture, language: Language) -> str:
    """The name of *posture* in *language* (« locataire » for a tenant)."""
    labels = {
        Posture.ABSENT: gettext(language, "absent"),
        Posture.TENANT: gettext(language, "tenant"),
        Posture.OCCASIONAL: gettext(language, "occasional"),
        Posture.COWORKER: gettext(language, "coworker"),
    }
    return labels[posture]


def _percent(share: float, language: Language) -> str:
    return format_percent(share, locale=language.value)
