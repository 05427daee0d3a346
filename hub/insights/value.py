"""The "community value captured" index: the share of what the place offers that a member uses.

The brief's operator says tenants deprive themselves of "75 % of the added value" of the place.
The index makes that measurable, per member and per site, between 0 (only a desk) and 1:

* **moments** — the share of the kinds of moments (breakfast, lunch, workshop, talk, afterwork,
  sport, other) the site held in the period that the member took part in at least once. Kinds,
  not counts: breadth of what the place offers, and nobody is expected to attend everything;
  approximated from the rollups as ``min(1, moments attended / kinds held)`` when the kinds are
  not at hand;
* **community rooms** — the share of on-site room time spent in community rooms, against a
  target (``community_share_target``, 25 % by default) that counts as full use, capped at 1;
* **services** — the share of the service rooms (meeting rooms, phone booths) used at least once.

The index is their weighted mean (weights in :class:`~hub.insights.settings.ValueSettings`). A
member who did not come scores 0 and counts in the site's mean: they pay for what they do not
use. It measures *use of the offer*, never time idle or productivity.
"""

from __future__ import annotations

from datetime import date

from hub.insights.reports.period import MemberWeek, weeks_in
from hub.insights.settings import ValueSettings

MOMENT_KINDS_OFFERED = 6
"""Kinds of moments a site typically offers, the default denominator of the moments part."""


def member_value(
    weeks: dict[date, MemberWeek],
    start: date,
    end: date,
    settings: ValueSettings,
    kinds_held: int = MOMENT_KINDS_OFFERED,
) -> float:
    """The index of one member over the weeks starting in ``[start, end)``."""
    chosen = weeks_in(weeks, start, end)
    moments = sum(w.moments for w in chosen)
    desk = sum(w.minutes_desk for w in chosen)
    community = sum(w.minutes_community for w in chosen)
    other = sum(w.minutes_other for w in chosen)
    total = desk + community + other
    parts = (
        min(1.0, moments / kinds_held) if kinds_held else 0.0,
        min(1.0, community / total / settings.community_share_target) if total else 0.0,
        min(1.0, other / total / 0.05) if total else 0.0,
    )
    weights = (settings.moments_weight, settings.community_weight, settings.services_weight)
    return sum(p * w for p, w in zip(parts, weights, strict=True)) / sum(weights)
