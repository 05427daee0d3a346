"""The nudge switches for the staff page: pause, resume, and the dry-run explanation.

``POST /api/nudges/pause`` stops every nudge at once (for every hub process sharing the
database), ``POST /api/nudges/resume`` lifts it, ``POST /api/nudges/dry-run-mode`` with
``{"on": true}`` keeps deciding and logging but delivers nothing, and ``GET /api/nudges/dry-run``
returns the lines a community manager reads: what the rules would send now (or at ``?at=``), to
whom, and why not.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import AwareDatetime, BaseModel, ConfigDict

from hub.accounts import Role
from hub.config import Language
from hub.nudge_control import effective_rules, is_paused, pause, resume, set_dry_run
from hub.nudge_scheduler import explain_planned
from hub.web.auth import require
from hub.web.deps import RuntimeDep

STAFF_OR_TOKEN = require(Role.STAFF, tokens=True)
MANAGER_OR_TOKEN = require(Role.MANAGER, tokens=True)

router = APIRouter(prefix="/api/nudges", tags=["nudges"])


def _state(runtime: RuntimeDep) -> dict[str, Any]:
    with runtime.sessions() as session:
        rules = effective_rules(session, runtime.rules)
        return {
            "paused": rules.paused,
            "staff_paused": is_paused(session),
            "dry_run": rules.dry_run,
        }


@router.get("", dependencies=[STAFF_OR_TOKEN])
def state(runtime: RuntimeDep) -> dict[str, Any]:
    """Whether nudges are paused (by staff or by the rules file) and in dry-run mode."""
    return _state(runtime)


@router.post("/pause", dependencies=[STAFF_OR_TOKEN])
def pause_nudges(runtime: RuntimeDep) -> dict[str, Any]:
    """Stop every nudge now, on every hub process."""
    with runtime.sessions.begin() as session:
        pause(session, runtime.clock())
    return _state(runtime)


@router.post("/resume", dependencies=[STAFF_OR_TOKEN])
def resume_nudges(runtime: RuntimeDep) -> dict[str, Any]:
    """Lift the staff pause."""
    with runtime.sessions.begin() as session:
        resume(session, runtime.clock())
    return _state(runtime)


class DryRunMode(BaseModel):
    """The dry-run switch."""

    model_config = ConfigDict(extra="forbid")

    on: bool


@router.post("/dry-run-mode", dependencies=[MANAGER_OR_TOKEN])
def dry_run_mode(body: DryRunMode, runtime: RuntimeDep) -> dict[str, Any]:
    """Turn the dry-run mode on (decide and log, deliver nothing) or off, on every hub process."""
    with runtime.sessions.begin() as session:
        set_dry_run(session, body.on, runtime.clock())
    return _state(runtime)


@router.get("/dry-run", dependencies=[STAFF_OR_TOKEN])
def dry_run(
    runtime: RuntimeDep, at: AwareDatetime | None = None, lang: Language = Language.FR
) -> dict[str, Any]:
    """What the rules would decide at *at* (default now), explained line by line."""
    scheduler = runtime.scheduler
    if scheduler is None:
        raise HTTPException(status_code=503, detail="the nudge scheduler is not running")
    when = at or runtime.clock()
    text = explain_planned(runtime.config, scheduler.preview(when), when, lang)
    return {"at": when.isoformat(), **_state(runtime), "lines": text.splitlines() if text else []}
