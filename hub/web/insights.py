"""The managers' insights pages (``/insights``) and their CSV exports (``/insights/<report>.csv``).

One page per site (or all sites) and period: room use against capacity with the hour-of-week
heatmap, postures week by week and their transitions, moments' reach, nudges' uplift against the
holdout with 95 % intervals and its fatigue. Every chart has its table; each table is exactly
what the CSV of its report holds (:mod:`hub.insights.tables`). Charts are drawn by
``/static/insights.js`` with the vendored Chart.js, from ``data-chart`` attributes.

The period is given as site-local days ``from`` … ``to`` (both included); by default the last
four complete weeks (Monday to Sunday) in the site's time zone.

Computed reports and rendered pages are cached per sites, period (and language) until new
rollups touch the days they read (:mod:`hub.insights.cache`); the CSV exports share the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from hub.config import HubConfig, Language
from hub.i18n import gettext
from hub.insights.cache import watermark
from hub.insights.presentation import charts, heat_grid, shown_table
from hub.insights.reports.full import SiteInsights, insights
from hub.insights.tables import REPORTS, table, to_csv
from hub.runtime import HubRuntime
from hub.web.auth import ManagerUser, language_of, page
from hub.web.deps import get_runtime

router = APIRouter(prefix="/insights", tags=["insights"])

ALL = "all"
DEFAULT_WEEKS = 4
MAX_DAYS = 400


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


UNKNOWN_SITE = N_("unknown site")
NO_SITE = N_("no site is configured")
BAD_DATE = N_("dates must be written YYYY-MM-DD")
BACKWARDS = N_("the period must end after it starts")
TOO_LONG = N_("the period cannot be longer than 400 days")


class PeriodError(ValueError):
    """The requested site or period cannot be shown (the message, in English, says why)."""

    @property
    def status(self) -> int:
        """404 for an unknown site, else 400."""
        return 404 if str(self) == UNKNOWN_SITE else 400


@dataclass(frozen=True)
class Choice:
    """What a request asks for: sites and site-local days ``[start, end)``."""

    site: str  # a site id or ``all``
    site_ids: list[str]
    start: date
    end: date

    @property
    def last_day(self) -> date:
        """The last day included."""
        return self.end - timedelta(days=1)


def default_period(zone: str, now: datetime) -> tuple[date, date]:
    """The last :data:`DEFAULT_WEEKS` complete weeks before *now* in *zone*."""
    today = now.astimezone(ZoneInfo(zone)).date()
    end = today - timedelta(days=today.weekday())
    return end - timedelta(weeks=DEFAULT_WEEKS), end


def choose(config: HubConfig, site: str, start: str, to: str, now: datetime) -> Choice:
    """Validate the page's query (``site``, ``from``, ``to``)."""
    site = site or ALL
    if site == ALL:
        site_ids = [s.id for s in config.sites]
    elif config.site(site) is not None:
        site_ids = [site]
    else:
        raise PeriodError(UNKNOWN_SITE)
    if not site_ids:
        raise PeriodError(NO_SITE)
    zone = config.sites[0].timezone if site == ALL else config.site(site).timezone  # type: ignore[union-attr]
    first, end = default_period(zone, now)
    try:
        if start:
            first = date.fromisoformat(start)
        if to:
            end = date.fromisoformat(to) + timedelta(days=1)
    except ValueError as error:
        raise PeriodError(BAD_DATE) from error
    if end <= first:
        raise PeriodError(BACKWARDS)
    if (end - first).days > MAX_DAYS:
        raise PeriodError(TOO_LONG)
    return Choice(site, site_ids, first, end)


def page_key(runtime: HubRuntime, choice: Choice) -> tuple[object, ...]:
    """What a page shows, with the watermark of the rollups it is computed from."""
    settings = runtime.config.insights
    with runtime.sessions() as session:
        mark = watermark(
            session, choice.site_ids, choice.start, choice.end, settings.posture.period_days
        )
    return (tuple(choice.site_ids), choice.start, choice.end, mark)


def compute(
    runtime: HubRuntime, choice: Choice, key: tuple[object, ...] | None = None
) -> list[SiteInsights]:
    """Every report of the chosen sites (from the rollups the hub keeps up to date), computed
    once per state of the rollups (:mod:`hub.insights.cache`)."""

    def report() -> list[SiteInsights]:
        with runtime.sessions() as session:
            return insights(
                session, choice.start, choice.end, runtime.config.insights, choice.site_ids
            )

    return runtime.insights_reports.get_or_compute(key or page_key(runtime, choice), report)


def _choice(request: Request, runtime: HubRuntime) -> Choice:
    q = request.query_params
    return choose(
        runtime.config, q.get("site", ""), q.get("from", ""), q.get("to", ""), runtime.clock()
    )


@router.get("", response_class=HTMLResponse)
def insights_page(request: Request, principal: ManagerUser) -> HTMLResponse:
    """The insights of a site (or of all sites) over a period."""
    runtime = get_runtime(request)
    language = language_of(request, principal)
    try:
        choice = _choice(request, runtime)
    except PeriodError as error:
        # The form again, with what is wrong, on the default period.
        fallback = choose(runtime.config, "", "", "", runtime.clock())
        html = page(
            request,
            "insights.html",
            principal,
            sites=runtime.config.sites,
            choice=fallback,
            sections=[],
            error=gettext(language, str(error)),
        )
        return HTMLResponse(html, status_code=error.status)
    key = page_key(runtime, choice)
    names = {s.id: s.name for s in runtime.config.sites}

    def render() -> list[dict[str, Any]]:
        return [
            {
                "site_id": s.period.site_id,
                "name": names.get(s.period.site_id, s.period.site_id),
                "charts": charts(s, language),
                "heat": heat_grid(s, language),
                "tables": {r: shown_table(table(r, [s]), language) for r in REPORTS},
            }
            for s in compute(runtime, choice, key)
        ]

    sections = runtime.insights_pages.get_or_compute((*key, language.value), render)
    query = f"site={choice.site}&from={choice.start.isoformat()}&to={choice.last_day.isoformat()}"
    html = page(
        request,
        "insights.html",
        principal,
        sites=runtime.config.sites,
        choice=choice,
        sections=sections,
        query=query,
        reports=list(REPORTS),
        report_titles=report_titles(language),
        nudges_hint=gettext(language, NUDGES_HINT),
    )
    return HTMLResponse(html)


@router.get("/{report}.csv")
def insights_csv(request: Request, report: str, principal: ManagerUser) -> Response:
    """One report of the chosen sites and period as CSV (the rows of the page's table)."""
    if report not in REPORTS:
        raise HTTPException(404, "unknown report")
    runtime = get_runtime(request)
    try:
        choice = _choice(request, runtime)
    except PeriodError as error:
        raise HTTPException(error.status, str(error)) from error
    text = to_csv(table(report, compute(runtime, choice)))
    name = f"vivant-{report}-{choice.site}-{choice.start.isoformat()}-{choice.last_day.isoformat()}"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


REPORT_TITLES = {
    "rooms": N_("Rooms: use against capacity"),
    "heatmap": N_("Hour of the week"),
    "postures": N_("Postures, week by week"),
    "transitions": N_("Transitions between postures"),
    "moments": N_("Moments and their reach"),
    "nudges": N_("Nudges: uplift against the holdout"),
    "conversions": N_("Conversions"),
}


NUDGES_HINT = N_(
    "Per rule and channel: attendance with the nudge minus attendance in the holdout, in "
    "points, with its 95 % interval."
)


def report_titles(language: Language) -> dict[str, str]:
    """Report name → its title in *language*."""
    return {name: gettext(language, title) for name, title in REPORT_TITLES.items()}
