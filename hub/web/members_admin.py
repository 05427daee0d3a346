"""Admin pages for members (``/admin/members``, with the CSV import) and a read-only view of the
configured sites, rooms, nodes and screens (``/admin/sites``: they change in the YAML file)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from hub.dashboard import NODE_STATUS_LABELS
from hub.db.models import Consent, Credential, Member, Node
from hub.i18n import gettext, local_time
from hub.member_import import MAX_BYTES, ImportConflict, LineError, apply_import, parse_members
from hub.web.auth import AdminUser, language_of, page
from hub.web.deps import get_runtime

router = APIRouter(prefix="/admin", tags=["admin"])


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is used."""
    return message


CONSENT_LABELS = {
    Consent.STAFF_VISIBLE.value: N_("visible to staff"),
    Consent.SCREEN_DISPLAY.value: N_("first name on screens"),
    Consent.ROOM_LOCATION.value: N_("room location"),
    Consent.MESSAGES.value: N_("messages"),
    Consent.INSIGHTS.value: N_("individual insights"),
}


def _members_page(
    request: Request, who: AdminUser, *, report: dict[str, object] | None = None, status: int = 200
) -> HTMLResponse:
    language = language_of(request, who)
    with get_runtime(request).sessions() as session:
        members = session.scalars(
            select(Member).order_by(Member.first_name, Member.last_name, Member.id)
        ).all()
        badges = dict(
            session.execute(
                select(Credential.member_id, func.count(Credential.id)).group_by(
                    Credential.member_id
                )
            ).all()
        )
        rows = [
            {
                "name": f"{m.first_name} {m.last_name or ''}".strip(),
                "email": m.email or "",
                "ref": m.external_ref or "",
                "language": m.language,
                "consents": sorted(
                    gettext(language, CONSENT_LABELS.get(c.scope, c.scope)) for c in m.consents
                ),
                "credentials": int(badges.get(m.id, 0)),
            }
            for m in members
        ]
    html = page(request, "admin_members.html", who, members=rows, report=report)
    return HTMLResponse(html, status_code=status)


@router.get("/members", response_class=HTMLResponse)
def members(request: Request, who: AdminUser) -> HTMLResponse:
    """Members, their consents and credentials; the CSV import form."""
    return _members_page(request, who)


@router.post("/members/import", response_class=HTMLResponse)
async def import_members(
    request: Request,
    who: AdminUser,
    file: Annotated[UploadFile, File()],
    check_only: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Check a CSV export line by line, then import it in one transaction (or nothing)."""
    language = language_of(request, who)
    data = await file.read(MAX_BYTES + 1)
    parsed = parse_members(data)

    def texts(errors: list[LineError]) -> list[tuple[int, str]]:
        return [(e.line, gettext(language, e.msgid) % e.params) for e in errors]

    report: dict[str, object] = {
        "filename": file.filename or "",
        "lines": len(parsed.rows) + len(parsed.errors),
        "valid": len(parsed.rows),
        "errors": texts(parsed.errors),
        "columns": parsed.columns,
        "ignored": parsed.ignored,
        "check_only": check_only,
        "created": 0,
        "updated": 0,
        "imported": False,
    }
    if parsed.errors:
        return _members_page(request, who, report=report, status=400)
    if check_only:
        return _members_page(request, who, report=report)
    runtime = get_runtime(request)
    try:
        with runtime.sessions.begin() as session:
            result = apply_import(session, parsed.rows, datetime.now(UTC))
    except ImportConflict as conflict:
        report["errors"] = texts([conflict.error])
        return _members_page(request, who, report=report, status=400)
    report.update(created=result.created, updated=result.updated, imported=True)
    return _members_page(request, who, report=report)


@router.get("/sites", response_class=HTMLResponse)
def sites(request: Request, who: AdminUser) -> HTMLResponse:
    """The configured sites with their rooms, nodes (and their last state) and screens."""
    runtime = get_runtime(request)
    language = language_of(request, who)
    with runtime.sessions() as session:
        nodes = {(n.site_id, n.id): n for n in session.scalars(select(Node))}
    states = {}
    for site in runtime.config.sites:
        for node in site.nodes:
            row = nodes.get((site.id, node.id))
            seen = (
                local_time(row.last_seen_at, site.timezone, language)
                if row is not None and row.last_seen_at is not None
                else "–"
            )
            status = row.status if row is not None else "unknown"
            label = gettext(language, NODE_STATUS_LABELS.get(status, status))
            states[(site.id, node.id)] = (status, label, seen)
    html = page(
        request,
        "admin_sites.html",
        who,
        sites=runtime.config.sites,
        states=states,
        base_url=runtime.config.http.base_url,
    )
    return HTMLResponse(html)
