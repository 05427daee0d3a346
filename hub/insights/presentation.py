"""How the insights pages show a report: column names, cell text, charts and the heatmap grid.

Everything here is in the viewer's language and reads the same :class:`~hub.insights.tables.Table`
as the CSV, so the page and the export cannot disagree. A suppressed cell reads « moins de 5
membres », never a number; charts leave it out (a gap, not a zero). Charts are Chart.js
configurations as plain JSON (no callbacks): ``/static/insights.js`` draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.config import Language
from hub.i18n import gettext
from hub.insights.export import Cell
from hub.insights.privacy import Suppressed
from hub.insights.reports.full import SiteInsights
from hub.insights.stats import Uplift
from hub.insights.tables import Table, csv_cell
from hub.screen_view import KIND_LABELS as MOMENT_KINDS


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


COLUMNS = {
    "site": N_("Site"),
    "room_id": N_("Room id"),
    "name": N_("Room"),
    "kind": N_("Kind"),
    "capacity": N_("Capacity"),
    "hours_used": N_("Hours used"),
    "person_hours": N_("Person-hours"),
    "peak": N_("Peak"),
    "average": N_("Average present"),
    "peak_of_capacity": N_("Peak / capacity"),
    "average_of_capacity": N_("Average / capacity"),
    "desk_occupants": N_("Desk holders"),
    "reached_community": N_("Reached community life"),
    "desk_only": N_("Used only as desks"),
    "weekday": N_("Weekday"),
    "hour": N_("Hour"),
    "week_start": N_("Week of"),
    "members": N_("Members"),
    "value_index": N_("Community value index"),
    "before": N_("Before"),
    "after": N_("After"),
    "dimension": N_("Group by"),
    "value": N_("Group"),
    "moments": N_("Moments"),
    "attendances": N_("Attendances"),
    "rsvps": N_("RSVPs"),
    "rsvp_show_rate": N_("RSVP show rate"),
    "fill_rate": N_("Fill rate"),
    "rule": N_("Rule"),
    "result": N_("Uplift"),
    "result.difference": N_("Uplift (points)"),
    "result.low": N_("95 % interval: low"),
    "result.high": N_("95 % interval: high"),
    "result.significant": N_("Significant"),
    "converted": N_("Tenants become coworkers"),
    "nudged_before": N_("Nudged before their first moment"),
}
ARMS = {"treatment": N_("Nudged"), "holdout": N_("Holdout")}
ARM_FIELDS = {
    "decisions": N_("decisions"),
    "attended": N_("attended"),
    "members": N_("members"),
    "design_effect": N_("design effect"),
}
VALUES = {
    # postures
    "absent": N_("absent"),
    "tenant": N_("tenant"),
    "occasional": N_("occasional"),
    "coworker": N_("coworker"),
    # reach
    "regular": N_("regular"),
    "newcomer": N_("newcomer"),
    "converted_tenant": N_("converted tenant"),
    # room kinds
    "desk": N_("desk"),
    "community": N_("community"),
    "meeting": N_("meeting room"),
    "phone_booth": N_("phone booth"),
    "lobby": N_("lobby"),
    # dimensions
    "channel": N_("channel"),
    "variant": N_("variant"),
    "timing": N_("timing"),
    "segment": N_("segment"),
    "rank": N_("fatigue (rank)"),
    "month": N_("month"),
}
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
PERCENT = {
    "peak_of_capacity",
    "average_of_capacity",
    "reached_community",
    "rsvp_show_rate",
    "fill_rate",
}
POINTS = {"result.difference", "result.low", "result.high"}
YES_NO = {"desk_only", "result.significant"}
TRANSLATED = {"kind", "before", "after", "dimension", "value", "segment"}
SUPPRESSED_TEXT = N_("fewer than 5 members")
FIRST_MOMENT = N_("First moment")
SUPPRESSED_SOMETIMES = N_("hidden where fewer than 5 members")
POSTURES = ("absent", "tenant", "occasional", "coworker")
POSTURE_COLOURS = {
    "absent": "#9aa0a6",
    "tenant": "#d9822b",
    "occasional": "#5b8def",
    "coworker": "#2e9e6a",
}
REACH_COLOURS = {"regular": "#5b8def", "newcomer": "#2e9e6a", "converted_tenant": "#d9822b"}


def column_label(column: str, language: Language) -> str:
    """The heading of *column* in *language*."""
    _ = lambda m: gettext(language, m)  # noqa: E731
    if column in COLUMNS:
        return _(COLUMNS[column])
    head, _dot, tail = column.partition(".")
    if head in ("counts", "reach") and tail in VALUES:
        return _(VALUES[tail])
    if head == "first_moment_kind":
        return f"{_(FIRST_MOMENT)}: {tail}"
    if head == "result":
        arm, _dot, name = tail.partition(".")
        if arm in ARMS and name in ARM_FIELDS:
            return f"{_(ARMS[arm])}: {_(ARM_FIELDS[name])}"
    return column


def number(value: float, language: Language, digits: int = 1) -> str:
    """*value* with *digits* decimals and the language's decimal separator."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language is Language.FR else text


def percent(fraction: float, language: Language) -> str:
    """A share as « 42 % » (French) or "42%"."""
    text = f"{fraction * 100:.0f}"
    return f"{text}\u202f%" if language is Language.FR else f"{text}%"


def cell_text(column: str, value: Cell | Suppressed, language: Language) -> str:
    """How the page shows *value* of *column* (a suppressed cell never shows a number)."""
    if isinstance(value, Suppressed):
        return gettext(language, SUPPRESSED_TEXT)
    if value is None:
        return "—"
    if column in YES_NO:
        return gettext(language, "yes") if value else gettext(language, "no")
    if column in PERCENT and isinstance(value, int | float):
        return percent(value, language)
    if column in POINTS and isinstance(value, int | float):
        sign = "+" if value > 0 else ""
        return f"{sign}{number(value * 100, language)} pts"
    if column == "weekday" and isinstance(value, int) and 0 <= value < 7:
        return gettext(language, WEEKDAYS[value])
    if isinstance(value, float):
        return number(value, language, 2 if column == "value_index" else 1)
    if isinstance(value, str) and (column in TRANSLATED) and value in VALUES:
        return gettext(language, VALUES[value])
    if column == "value" and isinstance(value, str) and value in MOMENT_KINDS:
        return moment_kind(value, language)
    return str(value)


def moment_kind(kind: str, language: Language) -> str:
    """The name of a kind of moment (breakfast, lunch, …) in *language*."""
    return gettext(language, MOMENT_KINDS[kind]) if kind in MOMENT_KINDS else kind


@dataclass(frozen=True)
class ShownCell:
    """One cell of a page table: what it reads, what the CSV holds, whether it is hidden."""

    text: str
    raw: str
    suppressed: bool


@dataclass(frozen=True)
class ShownTable:
    """A report table ready for the page."""

    report: str
    columns: list[tuple[str, str]]  # (column, heading)
    rows: list[list[ShownCell]]


def shown_table(data: Table, language: Language) -> ShownTable:
    """*data* as the page shows it."""
    return ShownTable(
        data.report,
        [(c, column_label(c, language)) for c in data.columns],
        [
            [
                ShownCell(cell_text(c, v, language), csv_cell(v), isinstance(v, Suppressed))
                for c, v in zip(data.columns, row, strict=True)
            ]
            for row in data.rows
        ],
    )


# -- charts -----------------------------------------------------------------------------------


def _figure(value: object, scale: float = 1.0) -> float | None:
    """A chart value: ``None`` (a gap) for a suppressed or missing figure."""
    if isinstance(value, Suppressed) or value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return round(float(value) * scale, 3)
    return None


def _bar_options(language: Language, y_title: str, *, stacked: bool = False) -> dict[str, Any]:
    return {
        "scales": {
            "x": {"stacked": stacked},
            "y": {"stacked": stacked, "title": {"display": True, "text": y_title}},
        },
    }


def rooms_chart(site: SiteInsights, language: Language) -> dict[str, Any] | None:
    """Average and peak use of each room with a capacity, as a share of it."""
    rooms = [r for r in site.rooms if r.capacity]
    if not rooms:
        return None
    _ = lambda m: gettext(language, m)  # noqa: E731
    return {
        "type": "bar",
        "data": {
            "labels": [r.name for r in rooms],
            "datasets": [
                {
                    "label": _("Average / capacity"),
                    "data": [_figure(r.average_of_capacity, 100) for r in rooms],
                    "backgroundColor": "#5b8def",
                },
                {
                    "label": _("Peak / capacity"),
                    "data": [_figure(r.peak_of_capacity, 100) for r in rooms],
                    "backgroundColor": "#d9822b",
                },
            ],
        },
        "options": _bar_options(language, _("% of capacity")),
    }


def postures_chart(site: SiteInsights, language: Language) -> dict[str, Any] | None:
    """Members per posture, week by week (stacked)."""
    weeks = site.postures.weeks
    if not weeks:
        return None
    _ = lambda m: gettext(language, m)  # noqa: E731
    return {
        "type": "bar",
        "data": {
            "labels": [w.week_start.isoformat() for w in weeks],
            "datasets": [
                {
                    "label": _hidden_label(
                        _(VALUES[p]), [_count(w.counts, p) for w in weeks], language
                    ),
                    "data": [_figure(_count(w.counts, p)) for w in weeks],
                    "backgroundColor": POSTURE_COLOURS[p],
                }
                for p in POSTURES
            ],
        },
        "options": _bar_options(language, _("Members"), stacked=True),
    }


def _hidden_label(label: str, values: Sequence[object], language: Language) -> str:
    """*label*, saying when some of its bars are hidden (fewer than 5 members)."""
    if any(isinstance(v, Suppressed) for v in values):
        return f"{label} ({gettext(language, SUPPRESSED_SOMETIMES)})"
    return label


def _count(counts: dict[Any, int | Suppressed], key: str) -> int | Suppressed | None:
    for k, v in counts.items():
        if str(getattr(k, "value", k)) == key:
            return v
    return None


def reach_chart(site: SiteInsights, language: Language) -> dict[str, Any] | None:
    """Who the moments reached, per kind of moment (stacked)."""
    groups = [g for g in site.moments if g.dimension == "kind"]
    if not groups:
        return None
    _ = lambda m: gettext(language, m)  # noqa: E731
    return {
        "type": "bar",
        "data": {
            "labels": [moment_kind(g.value, language) for g in groups],
            "datasets": [
                {
                    "label": _hidden_label(
                        _(VALUES[r]), [_count(dict(g.reach), r) for g in groups], language
                    ),
                    "data": [_figure(_count(dict(g.reach), r)) for g in groups],
                    "backgroundColor": colour,
                }
                for r, colour in REACH_COLOURS.items()
            ],
        },
        "options": _bar_options(language, _("Members"), stacked=True),
    }


def uplift_chart(
    site: SiteInsights, language: Language, dimensions: Sequence[str]
) -> dict[str, Any] | None:
    """Uplift and its 95 % interval (floating bar) per rule and value of *dimensions*."""
    rows = [r for r in site.nudges if r.dimension in dimensions and isinstance(r.result, Uplift)]
    if not rows:
        return None
    _ = lambda m: gettext(language, m)  # noqa: E731
    labels = [r.rule if r.dimension == "rule" else f"{r.rule} · {r.value}" for r in rows]
    results = [r.result for r in rows if isinstance(r.result, Uplift)]
    return {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "type": "line",
                    "label": _("Uplift (points)"),
                    "data": [round(u.difference * 100, 2) for u in results],
                    "showLine": False,
                    "pointRadius": 6,
                    "backgroundColor": "#1f2933",
                    "borderColor": "#1f2933",
                },
                {
                    "label": _("95 % interval"),
                    "data": [[round(u.low * 100, 2), round(u.high * 100, 2)] for u in results],
                    "backgroundColor": "rgba(91, 141, 239, 0.45)",
                    "borderColor": "#5b8def",
                    "borderWidth": 1,
                },
            ],
        },
        "options": _bar_options(language, _("Attendance points")),
    }


def charts(site: SiteInsights, language: Language) -> dict[str, dict[str, Any] | None]:
    """Every chart of a site's page, by name (``None``: nothing to draw)."""
    return {
        "rooms": rooms_chart(site, language),
        "postures": postures_chart(site, language),
        "moments": reach_chart(site, language),
        "nudges": uplift_chart(site, language, ("rule", "channel")),
        "fatigue": uplift_chart(site, language, ("rank",)),
    }


# -- heatmap ----------------------------------------------------------------------------------

LEVELS = 5


@dataclass(frozen=True)
class HeatGrid:
    """The hour-of-week heatmap: weekdays × hours, each cell a level 0..5 or hidden."""

    hours: list[int]
    rows: list[tuple[str, list[tuple[str, str]]]]  # weekday label, [(css class, title)]


def heat_grid(site: SiteInsights, language: Language) -> HeatGrid | None:
    """The grid of *site*'s heatmap (``None`` without data)."""
    cells = {(c.weekday, c.hour): c.average for c in site.heatmap}
    if not cells:
        return None
    hours = list(range(min(h for _, h in cells), max(h for _, h in cells) + 1))
    top = max((v for v in cells.values() if isinstance(v, float | int)), default=0.0) or 1.0
    hidden = gettext(language, SUPPRESSED_TEXT)
    rows = []
    for weekday in range(7):
        line = []
        for hour in hours:
            value = cells.get((weekday, hour))
            if value is None:
                line.append(("heat-0", f"{hour:02d}h: 0"))
            elif isinstance(value, Suppressed):
                line.append(("heat-hidden", f"{hour:02d}h: {hidden}"))
            else:
                level = max(1, round(value / top * LEVELS)) if value > 0 else 0
                line.append((f"heat-{level}", f"{hour:02d}h: {number(value, language)}"))
        rows.append((gettext(language, WEEKDAYS[weekday]), line))
    return HeatGrid(hours, rows)
