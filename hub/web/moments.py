"""Community moments on the web: the iCal feed of each site, and the JSON API staff pages use.

The API goes through :mod:`hub.moments`, like the calendar import, so every moment passes the
same checks (room of the site, known kind, aware times ending after they start, clean tags);
a refused moment answers 422 with the reason, in words a staff member reads.

The iCal feed is public (the moments the lobby screens show, for members' calendars); the JSON
API is for staff, signed in or with an API token (integrations).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import Role
from hub.calendar import export_site
from hub.config import SiteSettings
from hub.db.models import Moment, MomentKind
from hub.moments import (
    CAPACITY_MAX,
    HOST_MAX,
    TAGS_MAX,
    TITLE_MAX,
    MomentError,
    add_moment,
    cancel_moment,
    edit_moment,
    restore_moment,
)
from hub.rsvp import going_count, seats_left
from hub.web.auth import require
from hub.web.deps import RowId, RuntimeDep
from hub.web.ratelimit import PUBLIC_LIMIT, TOO_MANY

STAFF_OR_TOKEN = require(Role.STAFF, tokens=True)

router = APIRouter(prefix="/sites", tags=["moments"])


class Refusal(BaseModel):
    """A 422 answer: the reason in words (a refused moment), or FastAPI's list of invalid
    fields (a request that does not match the schema)."""

    detail: str | list[dict[str, Any]]


api = APIRouter(prefix="/api", tags=["moments"], responses={422: {"model": Refusal}})

DESCRIPTION_MAX = 5000


@router.get(
    "/{site_id}/moments.ics",
    response_class=Response,
    dependencies=[PUBLIC_LIMIT],
    responses=TOO_MANY,
)
def site_calendar(site_id: str, runtime: RuntimeDep) -> Response:
    """Upcoming moments of the site as an iCal feed (what is already public on its screens)."""
    site = runtime.config.site(site_id)
    if site is None:
        raise HTTPException(status_code=404, detail="unknown site")
    with runtime.sessions() as session:
        body = export_site(session, site, datetime.now(UTC))
    headers = {"Content-Disposition": f'inline; filename="{site_id}.ics"'}
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)


class MomentIn(BaseModel):
    """A new moment."""

    model_config = ConfigDict(extra="forbid")

    room_id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    kind: MomentKind
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    tags: list[str] = Field(default_factory=list, max_length=TAGS_MAX)
    capacity: int | None = Field(default=None, ge=1, le=CAPACITY_MAX)
    host: str | None = Field(default=None, max_length=HOST_MAX)


class MomentPatch(BaseModel):
    """Fields to change; those left out are kept (``null`` clears capacity or host)."""

    model_config = ConfigDict(extra="forbid")

    room_id: str | None = Field(default=None, min_length=1, max_length=64)
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    kind: MomentKind | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    tags: list[str] | None = Field(default=None, max_length=TAGS_MAX)
    capacity: int | None = Field(default=None, ge=1, le=CAPACITY_MAX)
    host: str | None = Field(default=None, max_length=HOST_MAX)


class MomentOut(BaseModel):
    """A moment as the staff pages show it."""

    id: int
    site_id: str
    room_id: str
    room_name: str
    title: str
    kind: str
    description: str
    starts_at: datetime
    ends_at: datetime
    tags: list[str]
    capacity: int | None
    host: str | None
    cancelled: bool
    imported: bool
    going: int
    seats_left: int | None


def _site(runtime: RuntimeDep, site_id: str) -> SiteSettings:
    site = runtime.config.site(site_id)
    if site is None:
        raise HTTPException(status_code=404, detail="unknown site")
    return site


def _out(session: Session, site: SiteSettings, moment: Moment) -> MomentOut:
    room = site.room(moment.room_id)
    session.flush()
    return MomentOut(
        id=moment.id,
        site_id=moment.site_id,
        room_id=moment.room_id,
        room_name=room.name if room else moment.room_id,
        title=moment.title,
        kind=moment.kind,
        description=moment.description,
        starts_at=moment.starts_at,
        ends_at=moment.ends_at,
        tags=list(moment.tags or []),
        capacity=moment.capacity,
        host=moment.host,
        cancelled=moment.cancelled_at is not None,
        imported=moment.feed_id is not None,
        going=going_count(session, moment.id),
        seats_left=seats_left(session, moment),
    )


def _moment(runtime: RuntimeDep, session: Session, moment_id: int) -> tuple[SiteSettings, Moment]:
    moment = session.get(Moment, moment_id)
    site = runtime.config.site(moment.site_id) if moment is not None else None
    if moment is None or site is None:
        raise HTTPException(status_code=404, detail="unknown moment")
    return site, moment


@api.get("/sites/{site_id}/moments", dependencies=[STAFF_OR_TOKEN])
def list_moments(
    site_id: str,
    runtime: RuntimeDep,
    start: AwareDatetime | None = Query(default=None, alias="from"),  # noqa: B008
    end: AwareDatetime | None = Query(default=None, alias="to"),  # noqa: B008
    include_cancelled: bool = False,
) -> list[MomentOut]:
    """Moments of the site ending after *from* (default: now) and starting before *to*."""
    site = _site(runtime, site_id)
    query = select(Moment).where(
        Moment.site_id == site.id, Moment.ends_at > (start or runtime.clock())
    )
    if end is not None:
        query = query.where(Moment.starts_at < end)
    if not include_cancelled:
        query = query.where(Moment.cancelled_at.is_(None))
    with runtime.sessions() as session:
        rows = session.scalars(query.order_by(Moment.starts_at, Moment.id).limit(500)).all()
        return [_out(session, site, row) for row in rows]


@api.post("/sites/{site_id}/moments", status_code=201, dependencies=[STAFF_OR_TOKEN])
def create_moment(site_id: str, body: MomentIn, runtime: RuntimeDep) -> MomentOut:
    """Create a moment."""
    site = _site(runtime, site_id)
    with runtime.sessions.begin() as session:
        try:
            values = body.model_dump()
            values["kind"] = body.kind.value
            moment = add_moment(session, site, **values, now=runtime.clock())
        except MomentError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return _out(session, site, moment)


@api.get("/moments/{moment_id}", dependencies=[STAFF_OR_TOKEN])
def get_moment(moment_id: RowId, runtime: RuntimeDep) -> MomentOut:
    """One moment."""
    with runtime.sessions() as session:
        site, moment = _moment(runtime, session, moment_id)
        return _out(session, site, moment)


@api.patch("/moments/{moment_id}", dependencies=[STAFF_OR_TOKEN])
def patch_moment(moment_id: RowId, body: MomentPatch, runtime: RuntimeDep) -> MomentOut:
    """Change the given fields of a moment."""
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name not in ("capacity", "host"):
            raise HTTPException(status_code=422, detail=f"{name} cannot be null")
        changes[name] = value.value if isinstance(value, MomentKind) else value
    with runtime.sessions.begin() as session:
        site, moment = _moment(runtime, session, moment_id)
        try:
            edited = edit_moment(session, site, moment.id, now=runtime.clock(), **changes)
        except MomentError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return _out(session, site, edited)


@api.post("/moments/{moment_id}/cancel", dependencies=[STAFF_OR_TOKEN])
def cancel(moment_id: RowId, runtime: RuntimeDep) -> MomentOut:
    """Cancel a moment (it stays listed as cancelled; attendance and insights keep it)."""
    with runtime.sessions.begin() as session:
        site, moment = _moment(runtime, session, moment_id)
        return _out(session, site, cancel_moment(session, site, moment.id, now=runtime.clock()))


@api.post("/moments/{moment_id}/restore", dependencies=[STAFF_OR_TOKEN])
def restore(moment_id: RowId, runtime: RuntimeDep) -> MomentOut:
    """Undo a cancellation."""
    with runtime.sessions.begin() as session:
        site, moment = _moment(runtime, session, moment_id)
        return _out(session, site, restore_moment(session, site, moment.id, now=runtime.clock()))
