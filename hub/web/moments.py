"""Community moments on the web: the iCal feed of each site (for members' calendars)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Response

from hub.calendar import export_site
from hub.web.deps import RuntimeDep

router = APIRouter(prefix="/sites", tags=["moments"])


@router.get("/{site_id}/moments.ics", response_class=Response)
def site_calendar(site_id: str, runtime: RuntimeDep) -> Response:
    """Upcoming moments of the site as an iCal feed (what is already public on its screens)."""
    site = runtime.config.site(site_id)
    if site is None:
        raise HTTPException(status_code=404, detail="unknown site")
    with runtime.sessions() as session:
        body = export_site(session, site, datetime.now(UTC))
    headers = {"Content-Disposition": f'inline; filename="{site_id}.ics"'}
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
