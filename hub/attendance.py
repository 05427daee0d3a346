"""Attendance of community moments: inferred from presence, from a tap, or marked by staff.

Attendance is what the insights and the nudge log measure everything against ("did the nudge
bring the member to the moment?"), so each row says what showed it (``source``) and how sure the
hub is (``confidence``), and no weaker evidence ever overwrites a stronger one:

* **tap** — the member badged at the moment's room reader while it was on. A tap is ground truth
  (the badge was physically there): confidence 1.0.
* **dwell** — the member's room dwell (kept only for members who allowed room-level location, so
  no consent check is needed here: without it there are no rows) overlapped the moment for at
  least ``min(min_minutes, min_share × duration)``. Room placement from BLE is a soft signal
  (signals bleed through walls), so confidence grows with the share of the moment covered but
  stays below a tap: ``0.5 + 0.4 × share``, i.e. between 0.5 and 0.9.
* **staff** — a community manager said so: confidence 1.0, and it is never downgraded.

Ranks: staff > tap > dwell. Inference can run as often as wanted (during the moment for the
live dashboard, after it for the final count): it upserts one row per (moment, member), only
upgrades, and leaves a row untouched when nothing new is known. It never deletes a row whose
evidence later disappears (dwells erased when room-location consent is withdrawn): removing what
was derived from erased data belongs to the erasure, and a deleted member takes their rows along
(cascade). A cancelled moment gets no attendance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db.models import Attendance, BadgeTap, Moment, RoomDwell, TapOutcome
from vivant.config_file import StrictModel

DWELL_BASE_CONFIDENCE = 0.5
"""Confidence of a dwell covering (almost) none of the moment: the threshold alone says little."""
DWELL_SHARE_WEIGHT = 0.4
"""What covering the whole moment adds; a dwell tops out at 0.9, below a tap's certainty."""


class AttendanceSource(StrEnum):
    """What showed that a member took part, weakest first."""

    DWELL = "dwell"
    TAP = "tap"
    STAFF = "staff"


_RANK = {AttendanceSource.DWELL: 1, AttendanceSource.TAP: 2, AttendanceSource.STAFF: 3}


class AttendanceError(ValueError):
    """Attendance cannot be recorded as asked; the message is meant for the staff member."""


class AttendanceSettings(StrictModel):
    """How much presence in the room counts as taking part.

    The threshold is the shorter of ``min_minutes`` and ``min_share`` of the moment: 15 minutes
    for a two-hour workshop (nobody stays for all of it), 10 minutes for a 20-minute breakfast.
    """

    min_minutes: float = Field(default=15.0, gt=0)
    min_share: float = Field(default=0.5, gt=0, le=1)

    def threshold(self, moment: Moment) -> timedelta:
        """The presence needed in *moment*'s room during it."""
        duration = moment.ends_at - moment.starts_at
        return min(timedelta(minutes=self.min_minutes), duration * self.min_share)


@dataclass(frozen=True, slots=True)
class _Evidence:
    source: AttendanceSource
    confidence: float
    first_seen_at: datetime | None
    minutes_present: float


def dwell_confidence(overlap: timedelta, duration: timedelta) -> float:
    """Confidence of dwell-based attendance: ``0.5 + 0.4 × share`` of the moment covered."""
    share = min(1.0, overlap / duration) if duration > timedelta(0) else 1.0
    return round(DWELL_BASE_CONFIDENCE + DWELL_SHARE_WEIGHT * share, 4)


def infer_attendance(
    session: Session, moment: Moment, settings: AttendanceSettings, now: datetime
) -> list[Attendance]:
    """Infer attendance of *moment* from dwells and taps up to *now*; return all its rows.

    Only evidence inside ``[starts_at, min(ends_at, now))`` counts; a dwell still open counts
    until *now*. Running it again with the same evidence changes nothing (not even
    ``recorded_at``). A cancelled moment gets nothing inferred.
    """
    if moment.cancelled_at is None:
        until = min(moment.ends_at, now)
        if until > moment.starts_at:
            overlaps = _dwell_overlaps(session, moment, until)
            threshold = settings.threshold(moment)
            duration = moment.ends_at - moment.starts_at
            found = {
                member_id: _Evidence(
                    AttendanceSource.DWELL,
                    dwell_confidence(present, duration),
                    first,
                    _minutes(present),
                )
                for member_id, (present, first) in overlaps.items()
                if present >= threshold
            }
            for member_id, tapped_at in _first_taps(session, moment, until).items():
                # A tap wins the source; the dwell, even a short one, still tells how long.
                present, first = overlaps.get(member_id, (timedelta(0), tapped_at))
                found[member_id] = _Evidence(
                    AttendanceSource.TAP, 1.0, min(first, tapped_at), _minutes(present)
                )
            for member_id, evidence in found.items():
                _upsert(session, moment.id, member_id, evidence, now)
    return attendees(session, moment.id)


def mark_attendance(session: Session, moment: Moment, member_id: int, now: datetime) -> Attendance:
    """Staff say *member_id* took part in *moment*: the strongest source, never downgraded."""
    if moment.cancelled_at is not None:
        raise AttendanceError(f"moment {moment.id} is cancelled: nobody can attend it")
    evidence = _Evidence(AttendanceSource.STAFF, 1.0, None, 0.0)
    return _upsert(session, moment.id, member_id, evidence, now)


def attendees(session: Session, moment_id: int) -> list[Attendance]:
    """The attendance rows of a moment, by member id."""
    session.flush()
    return list(
        session.scalars(
            select(Attendance)
            .where(Attendance.moment_id == moment_id)
            .order_by(Attendance.member_id)
        )
    )


def _dwell_overlaps(
    session: Session, moment: Moment, until: datetime
) -> dict[int, tuple[timedelta, datetime]]:
    """Per member: summed time in the moment's room within the moment, and when it began."""
    dwells: Iterable[RoomDwell] = session.scalars(
        select(RoomDwell).where(
            RoomDwell.site_id == moment.site_id,
            RoomDwell.room_id == moment.room_id,
            RoomDwell.entered_at < until,
            (RoomDwell.left_at.is_(None)) | (RoomDwell.left_at > moment.starts_at),
        )
    )
    found: dict[int, tuple[timedelta, datetime]] = {}
    for dwell in dwells:
        start = max(dwell.entered_at, moment.starts_at)
        end = min(dwell.left_at or until, until)
        if end <= start:
            continue
        present, first = found.get(dwell.member_id, (timedelta(0), start))
        found[dwell.member_id] = (present + (end - start), min(first, start))
    return found


def _first_taps(session: Session, moment: Moment, until: datetime) -> dict[int, datetime]:
    """Members who badged at the moment's room reader while it was on, with their first tap."""
    taps = session.execute(
        select(BadgeTap.member_id, BadgeTap.observed_at)
        .where(
            BadgeTap.site_id == moment.site_id,
            BadgeTap.room_id == moment.room_id,
            BadgeTap.outcome == TapOutcome.ACCEPTED.value,
            BadgeTap.member_id.is_not(None),
            BadgeTap.observed_at >= moment.starts_at,
            BadgeTap.observed_at < until,
        )
        .order_by(BadgeTap.observed_at)
    )
    found: dict[int, datetime] = {}
    for member_id, observed_at in taps:
        if member_id is not None:
            found.setdefault(member_id, observed_at)
    return found


def _upsert(
    session: Session, moment_id: int, member_id: int, evidence: _Evidence, now: datetime
) -> Attendance:
    """Create the row or improve it: a better source or confidence, earlier or longer evidence.

    ``recorded_at`` moves only when something changed, so repeated inference is a no-op.
    """
    row = session.scalar(
        select(Attendance).where(
            Attendance.moment_id == moment_id, Attendance.member_id == member_id
        )
    )
    if row is None:
        row = Attendance(
            moment_id=moment_id,
            member_id=member_id,
            source=evidence.source.value,
            confidence=evidence.confidence,
            first_seen_at=evidence.first_seen_at,
            minutes_present=evidence.minutes_present,
            recorded_at=now,
        )
        session.add(row)
        return row
    changed = False
    current = AttendanceSource(row.source)
    if _RANK[evidence.source] > _RANK[current] or (
        evidence.source == current and evidence.confidence > row.confidence
    ):
        row.source = evidence.source.value
        row.confidence = evidence.confidence
        changed = True
    if evidence.first_seen_at is not None and (
        row.first_seen_at is None or evidence.first_seen_at < row.first_seen_at
    ):
        row.first_seen_at = evidence.first_seen_at
        changed = True
    if evidence.minutes_present > row.minutes_present:
        row.minutes_present = evidence.minutes_present
        changed = True
    if changed:
        row.recorded_at = now
    return row


def _minutes(duration: timedelta) -> float:
    return round(duration.total_seconds() / 60, 2)
