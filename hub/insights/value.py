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

from hub.insights.posture import MemberPeriod
from hub.insights.settings import ValueSettings

MOMENT_KINDS_OFFERED = 6
"""Kinds of moments a site typically offers, the default denominator of the moments part."""

SERVICES_SHARE_TARGET = 0.05
"""Share of room time in meeting rooms, phone booths (and the lobby) that counts as full use."""


def member_value(
    period: MemberPeriod, settings: ValueSettings, kinds_held: int = MOMENT_KINDS_OFFERED
) -> float:
    """The index of one member over *period*, between 0 and 1."""
    total = period.minutes_in_rooms
    parts = (
        min(1.0, period.moments_attended / kinds_held) if kinds_held else 0.0,
        min(1.0, period.minutes_community / total / settings.community_share_target)
        if total
        else 0.0,
        min(1.0, period.minutes_other_rooms / total / SERVICES_SHARE_TARGET) if total else 0.0,
    )
    weights = (settings.moments_weight, settings.community_weight, settings.services_weight)
    return sum(p * w for p, w in zip(parts, weights, strict=True)) / sum(weights)
