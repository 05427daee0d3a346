"""The staff page of community moments (``/staff/moments``): list, create, edit, cancel, feeds.

Server-rendered like the dashboard (forms that post and redirect back, no script). Every change
goes through :mod:`hub.moments`, the same checks as the JSON API and the calendar import; a
refused form is shown again with the staff member's values and the reason beside it, in their
language, and nothing is saved. Times are typed and shown in the site's time zone (a
``datetime-local`` field has none of its own), including on the night the clocks change.

Each site's calendar feeds are listed with their last sync and, when the last one failed, what
went wrong in plain words (:func:`hub.calendar.staff_problem`) above the technical reason; the
moments already imported stay as they were. "Sync now" calls
:meth:`hub.runtime.HubRuntime.sync_calendar`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypedDict

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.accounts import Principal
from hub.calendar import shown_source, staff_problem
from hub.config import Language, SiteSettings
from hub.db.models import CalendarFeed, Moment, MomentKind
from hub.i18n import gettext, local_date, local_time
from hub.moments import (
    MomentError,
    add_moment,
    cancel_moment,
    day_bounds,
    edit_moment,
    restore_moment,
)
from hub.rsvp import counts
from hub.screen_view import KIND_LABELS
from hub.web.auth import StaffUser, language_of, page
from hub.web.deps import RowId, get_runtime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/staff", tags=["staff"])

HORIZON = timedelta(days=60)
LIST_LIMIT = 300
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


MESSAGES = {
    "created": N_("Moment created."),
    "edited": N_("Moment saved."),
    "cancelled": N_("Moment cancelled: the lobby screens no longer show it."),
    "restored": N_("Moment restored: the lobby screens show it again."),
    "synced": N_("Calendar synchronised."),
    "sync_failed": N_(
        "The calendar could not be synchronised: the moments already imported stay as they are."
    ),
    "unknown_moment": N_("Unknown moment."),
    "unknown_feed": N_("Unknown calendar."),
}
ERRORS = frozenset({"sync_failed", "unknown_moment", "unknown_feed"})


class FormError(Exception):
    """A form field cannot be read; *msgid* % *params* is shown beside the form."""

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params


@dataclass(frozen=True, slots=True)
class MomentRow:
    """One line of the list, already in the viewer's language and the site's time."""

    id: int
    day: str
    hours: str
    title: str
    kind: str
    room: str
    capacity: int | None
    going: int
    waiting: int
    source: str | None  # None: created by staff; else the feed's name
    cancelled: bool
    in_progress: bool


@dataclass(frozen=True, slots=True)
class FeedRow:
    """A calendar feed and its sync health, in words for a community manager."""

    id: int
    name: str
    address: str
    last_sync: str | None
    last_ok: str | None
    problem: str | None
    detail: str | None


@dataclass(slots=True)
class MomentForm:
    """The create or edit form of a site: its values (as typed) and the reason it was refused."""

    site_id: str
    moment_id: int | None = None
    values: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    imported: bool = False


def _when(at: datetime, site: SiteSettings, language: Language) -> str:
    return f"{local_date(at, site.timezone, language)} {local_time(at, site.timezone, language)}"


def site_moments(
    session: Session, site: SiteSettings, language: Language, now: datetime
) -> list[MomentRow]:
    """Today's moments (also those over) and the next ones, cancelled ones included."""
    start, _ = day_bounds(site, now)
    moments = session.scalars(
        select(Moment)
        .where(Moment.site_id == site.id, Moment.ends_at > start, Moment.starts_at < now + HORIZON)
        .order_by(Moment.starts_at, Moment.id)
        .limit(LIST_LIMIT)
    ).all()
    feeds = {
        feed.id: feed.name or shown_source(feed.url_or_path)
        for feed in session.scalars(select(CalendarFeed).where(CalendarFeed.site_id == site.id))
    }
    rsvps = counts(session, [m.id for m in moments])
    rows = []
    for moment in moments:
        room = site.room(moment.room_id)
        going, waiting = rsvps[moment.id]
        hours = (
            f"{local_time(moment.starts_at, site.timezone, language)} – "
            f"{local_time(moment.ends_at, site.timezone, language)}"
        )
        rows.append(
            MomentRow(
                id=moment.id,
                day=local_date(moment.starts_at, site.timezone, language),
                hours=hours,
                title=moment.title,
                kind=gettext(language, KIND_LABELS.get(moment.kind, KIND_LABELS["other"])),
                room=room.name if room else moment.room_id,
                capacity=moment.capacity,
                going=going,
                waiting=waiting,
                source=(
                    feeds.get(moment.feed_id, str(moment.feed_id))
                    if moment.feed_id is not None
                    else None
                ),
                cancelled=moment.cancelled_at is not None,
                in_progress=moment.starts_at <= now < moment.ends_at,
            )
        )
    return rows


def site_feeds(session: Session, site: SiteSettings, language: Language) -> list[FeedRow]:
    """The calendar feeds of *site* with their last sync and, if it failed, why."""
    rows = []
    for feed in session.scalars(
        select(CalendarFeed).where(CalendarFeed.site_id == site.id).order_by(CalendarFeed.id)
    ):
        rows.append(
            FeedRow(
                id=feed.id,
                name=feed.name or shown_source(feed.url_or_path),
                address=shown_source(feed.url_or_path),
                last_sync=_when(feed.last_sync_at, site, language) if feed.last_sync_at else None,
                last_ok=_when(feed.last_ok_at, site, language) if feed.last_ok_at else None,
                problem=gettext(language, staff_problem(feed.last_error))
                if feed.last_error
                else None,
                detail=feed.last_error,
            )
        )
    return rows


def _local_input(at: datetime, site: SiteSettings) -> str:
    return at.astimezone(site.zone).strftime("%Y-%m-%dT%H:%M")


def form_of(moment: Moment, site: SiteSettings) -> MomentForm:
    """The edit form of *moment*, filled in."""
    return MomentForm(
        site_id=site.id,
        moment_id=moment.id,
        imported=moment.feed_id is not None,
        values={
            "title": moment.title,
            "kind": moment.kind,
            "room": moment.room_id,
            "starts_at": _local_input(moment.starts_at, site),
            "ends_at": _local_input(moment.ends_at, site),
            "description": moment.description or "",
            "tags": ", ".join(moment.tags or []),
            "capacity": "" if moment.capacity is None else str(moment.capacity),
            "host": moment.host or "",
        },
    )


def parse_local(value: str, site: SiteSettings, what: str) -> datetime:
    """A ``datetime-local`` value read in the site's time zone, or :class:`FormError`."""
    naive = None
    for pattern in LOCAL_FORMATS:
        try:
            naive = datetime.strptime(value.strip(), pattern)
            break
        except ValueError:
            continue
    if naive is None:
        raise FormError(N_("%(field)s: give a date and a time."), field=what)
    local = naive.replace(tzinfo=site.zone)
    if local.astimezone(UTC).astimezone(site.zone).replace(tzinfo=None) != naive:
        raise FormError(
            N_("%(field)s: this time does not exist at this site (the clocks change that night)."),
            field=what,
        )
    return local


class MomentFields(TypedDict):
    """What the form gives :func:`hub.moments.add_moment` and :func:`hub.moments.edit_moment`."""

    title: str
    kind: str
    room_id: str
    starts_at: datetime
    ends_at: datetime
    description: str
    tags: list[str]
    capacity: int | None
    host: str


def parse_form(values: Mapping[str, str], site: SiteSettings) -> MomentFields:
    """The fields of :func:`hub.moments.add_moment` from the form, or :class:`FormError`."""
    capacity_text = values["capacity"].strip()
    capacity: int | None = None
    if capacity_text:
        if not capacity_text.isdigit():
            raise FormError(N_("Capacity: give a whole number of people, or leave it empty."))
        capacity = int(capacity_text)
    return MomentFields(
        title=values["title"],
        kind=values["kind"],
        room_id=values["room"],
        starts_at=parse_local(values["starts_at"], site, "start"),
        ends_at=parse_local(values["ends_at"], site, "end"),
        description=values["description"].strip(),
        tags=[t for t in values["tags"].split(",") if t.strip()],
        capacity=capacity,
        host=values["host"],
    )


def _error_text(language: Language, error: FormError | MomentError) -> str:
    params = dict(error.params)
    if isinstance(error, FormError) and "field" in params:
        label = FIELD_LABELS.get(str(params["field"]), str(params["field"]))
        params["field"] = gettext(language, label)
    text = gettext(language, error.msgid)
    text = text % params if params else text
    return text[:1].upper() + text[1:]  # the messages of hub.moments start lower-case


FIELD_LABELS = {"start": N_("Start"), "end": N_("End")}


def render_page(
    request: Request,
    who: Principal,
    *,
    form: MomentForm | None = None,
    status: int = 200,
    code: str | None = None,
) -> HTMLResponse:
    """The page; *form* replaces the empty create form of its site (an edit, or a refusal)."""
    runtime = get_runtime(request)
    language = language_of(request, who)
    now = datetime.now(UTC)
    code = code or request.query_params.get("msg", "")
    sites = []
    with runtime.sessions() as session:
        for site in runtime.config.sites:
            site_form = form if form is not None and form.site_id == site.id else None
            sites.append(
                {
                    "settings": site,
                    "moments": site_moments(session, site, language, now),
                    "feeds": site_feeds(session, site, language),
                    "form": site_form or MomentForm(site_id=site.id, values=_blank(site, now)),
                }
            )
    html = page(
        request,
        "staff_moments.html",
        who,
        sites=sites,
        kinds=[(k.value, gettext(language, KIND_LABELS[k.value])) for k in MomentKind],
        message=gettext(language, MESSAGES[code]) if code in MESSAGES else None,
        message_is_error=code in ERRORS,
    )
    return HTMLResponse(html, status_code=status)


def _blank(site: SiteSettings, now: datetime) -> dict[str, str]:
    start = (now.astimezone(site.zone) + timedelta(hours=1)).replace(
        minute=0, second=0, microsecond=0
    )
    return {
        "title": "",
        "kind": MomentKind.OTHER.value,
        "room": site.rooms[0].id if site.rooms else "",
        "starts_at": _local_input(start, site),
        "ends_at": _local_input(start + timedelta(hours=1), site),
        "description": "",
        "tags": "",
        "capacity": "",
        "host": "",
    }


def _back(site_id: str, code: str) -> RedirectResponse:
    anchor = f"#site-{site_id}" if site_id else ""
    return RedirectResponse(f"/staff/moments?msg={code}{anchor}", status_code=303)


@router.get("/moments", response_class=HTMLResponse)
def moments_page(request: Request, who: StaffUser, edit: int | None = None) -> HTMLResponse:
    """Today's and upcoming moments of every site, the forms, and the calendar feeds."""
    if edit is None:
        return render_page(request, who)
    runtime = get_runtime(request)
    with runtime.sessions() as session:
        moment = session.get(Moment, edit)
        site = runtime.config.site(moment.site_id) if moment is not None else None
        if moment is None or site is None:
            return render_page(request, who, status=404, code="unknown_moment")
        form = form_of(moment, site)
    return render_page(request, who, form=form)


Text = Annotated[str, Form(max_length=200)]
LongText = Annotated[str, Form(max_length=5000)]
SiteField = Annotated[str, Form(min_length=1, max_length=64)]


def _save(
    request: Request,
    who: Principal,
    site_id: str,
    moment_id: int | None,
    values: dict[str, str],
) -> HTMLResponse | RedirectResponse:
    runtime = get_runtime(request)
    language = language_of(request, who)
    site = runtime.config.site(site_id)
    if site is None:
        return _back("", "unknown_moment")
    form = MomentForm(site_id=site.id, moment_id=moment_id, values=values)
    try:
        fields = parse_form(values, site)
        with runtime.sessions.begin() as session:
            if moment_id is None:
                add_moment(session, site, **fields, now=runtime.clock())
            else:
                moment = session.get(Moment, moment_id)
                if moment is None or moment.site_id != site.id:
                    return _back(site.id, "unknown_moment")
                form.imported = moment.feed_id is not None
                edit_moment(session, site, moment_id, now=runtime.clock(), **fields)
    except (FormError, MomentError) as error:
        form.error = _error_text(language, error)
        return render_page(request, who, form=form, status=400)
    return _back(site.id, "created" if moment_id is None else "edited")


class PostedMoment(BaseModel):
    """The fields of the create and edit forms, as typed (checked by :func:`_save`)."""

    model_config = ConfigDict(extra="ignore")

    site: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=200)
    kind: str = Field(default="", max_length=200)
    room: str = Field(default="", max_length=200)
    starts_at: str = Field(default="", max_length=200)
    ends_at: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=5000)
    tags: str = Field(default="", max_length=200)
    capacity: str = Field(default="", max_length=200)
    host: str = Field(default="", max_length=200)

    def values(self) -> dict[str, str]:
        """The form's values but the site, as the page shows them back."""
        return self.model_dump(exclude={"site"})


PostedForm = Annotated[PostedMoment, Form()]


@router.post("/moments", response_class=HTMLResponse, response_model=None)
def create(request: Request, who: StaffUser, form: PostedForm) -> HTMLResponse | RedirectResponse:
    """Create a moment; a refused form comes back with the reason and nothing saved."""
    return _save(request, who, form.site, None, form.values())


@router.post("/moments/{moment_id}/edit", response_class=HTMLResponse, response_model=None)
def edit(
    request: Request, who: StaffUser, moment_id: RowId, form: PostedForm
) -> HTMLResponse | RedirectResponse:
    """Save every field of a moment; a refused form comes back with the reason, unchanged."""
    return _save(request, who, form.site, moment_id, form.values())


def _switch(request: Request, moment_id: int, cancel: bool) -> RedirectResponse:
    runtime = get_runtime(request)
    with runtime.sessions.begin() as session:
        moment = session.get(Moment, moment_id)
        site = runtime.config.site(moment.site_id) if moment is not None else None
        if moment is None or site is None:
            return _back("", "unknown_moment")
        action = cancel_moment if cancel else restore_moment
        action(session, site, moment_id, now=runtime.clock())
    return _back(site.id, "cancelled" if cancel else "restored")


@router.post("/moments/{moment_id}/cancel")
def cancel(request: Request, _who: StaffUser, moment_id: RowId) -> RedirectResponse:
    """Cancel a moment: the screens drop it; its row, RSVPs and attendance stay."""
    return _switch(request, moment_id, cancel=True)


@router.post("/moments/{moment_id}/restore")
def restore(request: Request, _who: StaffUser, moment_id: RowId) -> RedirectResponse:
    """Undo a cancellation."""
    return _switch(request, moment_id, cancel=False)


@router.post("/feeds/{feed_id}/sync")
def sync_now(request: Request, _who: StaffUser, feed_id: RowId) -> RedirectResponse:
    """Sync one calendar feed now; a failure leaves its moments as they were."""
    runtime = get_runtime(request)
    try:
        report = runtime.sync_calendar(feed_id)
    except SQLAlchemyError:  # e.g. the periodic sync of the same feed committed first
        log.exception("calendar feed %s: sync requested by staff failed", feed_id)
        return _back("", "sync_failed")
    if report is None:
        return _back("", "unknown_feed")
    with runtime.sessions() as session:
        feed = session.get(CalendarFeed, feed_id)
        site_id = feed.site_id if feed is not None else ""
    return _back(site_id, "sync_failed" if report.error else "synced")
