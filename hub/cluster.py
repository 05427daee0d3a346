"""Several hub processes sharing one database, each serving a group of sites.

The configuration assigns every site to one *instance* (``cluster.instances``); a process is
started as one of them (``vivant hub --instance NAME``). Ownership is a lease per group in the
database (:class:`~hub.db.models.HubLease`), renewed every third of its length:

1. a process always holds a heartbeat lease ``@<its instance>`` and claims its own group;
2. it takes over another instance's group only when that lease ran out (the process died or
   lost the database) and that instance shows no heartbeat (and never in its first lease
   length, so that instances starting together each get their own group);
3. it hands a group back as soon as the instance it belongs to shows a heartbeat again.

Each group has its own persistent MQTT session (client id ``<client id>-<group>``): while nobody
serves a group the broker keeps its messages, and the process that takes the group over
resumes the same session, so nothing published meanwhile is lost; the (node, id) deduplication
shared through the database drops what the previous holder had applied but not acknowledged.
A process that cannot renew its leases for a whole lease length stops serving every group
(fencing), so two processes never serve one group for longer than that.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field, field_validator
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.db.models import HubLease
from vivant.config_file import StrictModel
from vivant.wire.topics import SiteId

log = logging.getLogger(__name__)

INSTANCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
HEARTBEAT = "@"


class ClusterSettings(StrictModel):
    """Which instance serves which sites, when several hub processes share one database."""

    instances: dict[str, list[SiteId]] = Field(
        min_length=1,
        description="Instance name -> the sites it serves (every site exactly once).",
    )
    lease_s: float = Field(
        default=15,
        ge=3,
        le=300,
        description="How long a process's claim on its sites lasts without renewal (seconds).",
    )

    @field_validator("instances")
    @classmethod
    def _names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, sites in value.items():
            if not INSTANCE_RE.fullmatch(name):
                raise ValueError(f"instance name {name!r}: use a-z, 0-9, _ and - (32 at most)")
            if not sites:
                raise ValueError(f"instance {name!r} serves no site")
        return value

    def group_of(self, site_id: str) -> str | None:
        """The instance a site is assigned to."""
        return next((name for name, sites in self.instances.items() if site_id in sites), None)

    @property
    def lease(self) -> timedelta:
        """The lease length."""
        return timedelta(seconds=self.lease_s)


def holder_id(instance: str) -> str:
    """Who holds a lease: the instance, the host and this very process (unique per start)."""
    return f"{instance}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(session: Session, group: str, holder: str, now: datetime, lease: timedelta) -> bool:
    """Take or renew the lease of *group* if it is free, ours, or ran out; True if ours now."""
    renewed = session.execute(
        update(HubLease)
        .where(
            HubLease.group_id == group,
            or_(HubLease.holder == holder, HubLease.expires_at < now),
        )
        .values(
            holder=holder,
            expires_at=now + lease,
            acquired_at=case((HubLease.holder == holder, HubLease.acquired_at), else_=now),
        )
        .returning(HubLease.acquired_at, HubLease.holder)
    ).first()
    if renewed is not None:
        return True
    if session.get(HubLease, group) is not None:
        return False  # someone else's, still valid
    try:
        with session.begin_nested():
            session.add(HubLease(group_id=group, holder=holder, expires_at=now + lease,
                                 acquired_at=now))  # fmt: skip
    except IntegrityError:
        return False  # another process inserted it first
    return True


def release(session: Session, group: str, holder: str) -> None:
    """Give a lease up at once (clean stop, or handing a group back)."""
    session.execute(delete(HubLease).where(HubLease.group_id == group, HubLease.holder == holder))


def held_by_other(session: Session, group: str, holder: str, now: datetime) -> bool:
    """Whether someone else holds a valid lease on *group*."""
    row = session.get(HubLease, group)
    return row is not None and row.holder != holder and row.expires_at >= now


@dataclass
class Round:
    """The outcome of one lease round: the groups this process serves now."""

    held: set[str]
    taken_over: set[str]
    handed_back: set[str]


def lease_round(
    session: Session,
    settings: ClusterSettings,
    instance: str,
    holder: str,
    held: set[str],
    now: datetime,
    *,
    may_take_over: bool = True,
) -> Round:
    """Heartbeat, own group, hand back and take over, as the module docstring says.

    A process that has just started passes ``may_take_over=False`` for one lease length, so
    that instances starting together each get their own group instead of the first one up
    taking everything and handing it back a moment later.
    """
    session.expire_all()
    claim(session, HEARTBEAT + instance, holder, now, settings.lease)
    result = Round(held=set(), taken_over=set(), handed_back=set())
    for group in settings.instances:
        if group == instance:
            if claim(session, group, holder, now, settings.lease):
                result.held.add(group)
            continue
        owner_back = held_by_other(session, HEARTBEAT + group, holder, now)
        if group in held:
            if owner_back:
                release(session, group, holder)
                result.handed_back.add(group)
            elif claim(session, group, holder, now, settings.lease):
                result.held.add(group)
            continue
        if may_take_over and not owner_back and claim(session, group, holder, now, settings.lease):
            result.held.add(group)
            result.taken_over.add(group)
    return result


def holders(session: Session) -> dict[str, tuple[str, datetime]]:
    """Every lease: group -> (holder, expiry), for pages and ``vivant doctor``."""
    rows = session.execute(select(HubLease.group_id, HubLease.holder, HubLease.expires_at))
    return {group: (holder, expires) for group, holder, expires in rows}
