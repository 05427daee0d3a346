"""The staff page of the nudges (``/staff/nudges``): the readable dry run and the switches.

The dry run is the scheduler's :meth:`~hub.nudge_scheduler.NudgeScheduler.preview` explained by
:func:`~hub.nudge_scheduler.explain_planned`: the same lines as ``vivant hub nudges``, for now or
for a time typed in a site's time zone (the first site's unless another is chosen), in the
viewer's language. It records and sends nothing. The global pause uses the dashboard's routes
(``/staff/nudges/pause|resume``, with ``next=/staff/nudges`` to come back here); the dry-run
mode is switched by a manager.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.i18n import gettext
from hub.nudge_control import effective_rules, is_dry_run, is_paused, set_dry_run
from hub.nudge_scheduler import explain_planned
from hub.web.auth import ManagerUser, StaffUser, language_of, page
from hub.web.deps import get_runtime
from hub.web.staff_moments import FormError, parse_local

router = APIRouter(prefix="/staff", tags=["staff"])

PAGE = "/staff/nudges"


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


MESSAGES = {
    "paused": N_("Nudges are paused: nothing is sent until you resume them."),
    "resumed": N_("Nudges are running again."),
    "dry_run_on": N_("Dry-run mode on: the rules decide and explain, nothing is delivered."),
    "dry_run_off": N_("Dry-run mode off: the nudges are delivered again."),
}


@router.get("/nudges", response_class=HTMLResponse)
def nudges_page(
    request: Request,
    who: StaffUser,
    at: Annotated[str, Query(max_length=32)] = "",
    zone: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """What the rules would send now (or at *at*, in the time of the site *zone*), and why not."""
    runtime = get_runtime(request)
    language = language_of(request, who)
    sites = runtime.config.sites
    zone_site = runtime.config.site(zone) or (sites[0] if sites else None)
    when = runtime.clock()
    error = None
    if at and zone_site is not None:
        try:
            when = parse_local(at, zone_site, "at")
        except FormError:
            error = gettext(language, "Give a date and a time to look at.")
    status = 400 if error else 200
    with runtime.sessions() as session:
        rules = effective_rules(session, runtime.rules)
        state = {
            "paused": rules.paused,
            "staff_paused": is_paused(session),
            "file_paused": runtime.rules.paused,
            "dry_run": rules.dry_run,
            "staff_dry_run": is_dry_run(session),
            "file_dry_run": runtime.rules.dry_run,
        }
    scheduler = runtime.scheduler
    lines = None
    if scheduler is not None and error is None:
        text = explain_planned(runtime.config, scheduler.preview(when), when, language)
        lines = text.splitlines()
    code = request.query_params.get("msg", "")
    html = page(
        request,
        "staff_nudges.html",
        who,
        state=state,
        lines=lines,
        at_value=when.astimezone(zone_site.zone).strftime("%Y-%m-%dT%H:%M") if zone_site else "",
        zone=zone_site.timezone if zone_site else "UTC",
        zone_site=zone_site.id if zone_site else "",
        zones=[(site.id, site.name, site.timezone) for site in sites]
        if len({site.timezone for site in sites}) > 1
        else [],
        chosen=bool(at) and error is None,
        error=error,
        message=gettext(language, MESSAGES[code]) if code in MESSAGES else None,
        page_path=PAGE,
    )
    return HTMLResponse(html, status_code=status)


@router.post("/nudges/dry-run-mode")
def dry_run_mode(
    request: Request, _who: ManagerUser, mode: Annotated[Literal["on", "off"], Form()]
) -> RedirectResponse:
    """Turn the dry-run mode on (decide and explain, deliver nothing) or off: managers only."""
    runtime = get_runtime(request)
    with runtime.sessions.begin() as session:
        set_dry_run(session, mode == "on", runtime.clock())
    return RedirectResponse(f"{PAGE}?msg=dry_run_{mode}", status_code=303)
