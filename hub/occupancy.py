"""How many people are in one room: the fusion of whatever sensors the room has.

No single sensor counts people well. A beam-break counter at the door counts exactly while it
works, but it misses two people walking side by side, counts a chair pushed through the beam, and
never notices that its error grows through the day. A PIR sees that *someone* moves, not how
many, and not the person reading still at a desk. Identified members (a badge tap, an enrolled
tag) are certain but are only the consenting part of the room. Anonymous BLE devices are
phones, watches and headphones, not people. CO2 rises with breathing but lags by many minutes.
So each room keeps the latest evidence of every kind and fuses it on demand, and the result says
how sure it is and why (the data-quality flags of commercial counters such as Density or Butlr).

Fusion rules, applied by :meth:`RoomOccupancy.estimate` at a time ``now`` given by the caller
(no clock is read here, so tests drive time):

1. **Beam counter** (``people_in`` / ``people_out``, counts since the previous message). Events
   are applied in event-time order, not arrival order, so a late message from a node's outbox
   lands where it belongs. The running count is clamped at zero; a clamp means crossings were
   missed or invented (``counter_corrected`` and ``counter_drift``). When motion says the room
   has been empty for ``empty_reset_s`` the counter is reset to zero at that instant (reset of
   a positive counter: ``counter_corrected``); events older than the reset are superseded, and
   counts arriving while the room stays empty restart the delay (ghost crossings are reset too).
   Events older than ``late_tolerance_s`` are folded into a base value; one arriving later than
   that is applied to the base as if it came in order. The counter is the *primary* source
   while it is online and not drifting (it says people while motion has said "empty" for
   ``drift_after_s``: ``counter_drift``, and the next source is used until the reset).
2. **Motion** only says 0 or at least 1. A ``1`` is motion; the room counts as occupied while
   the sensor's latest state is ``1`` and for ``motion_hold_s`` after it returned to ``0``, so a
   person sitting still is not declared gone. A known-vacant room overrides anonymous BLE
   (phones left on a desk are not people); an occupied room raises the count to at least 1.
3. **Identified members** located in the room are a floor: the count is never below them.
4. **Anonymous BLE devices** give a soft estimate, ``round(devices / devices_per_person)``,
   used when there is no healthy counter and motion does not say vacant.
5. **CO2 trend** (optional, ``co2`` settings): a rising level agrees with people present, a
   falling one with an emptying room; it only nudges the confidence, never the count.
6. **Cap**: the count never exceeds ``capacity × capacity_factor`` (``estimate_capped``).
7. A source that reported before and then stayed silent for ``offline_after_s`` is ignored and
   flagged ``sensor_offline``. Nodes are expected to send their counts periodically, zeros
   included, which is what makes silence meaningful. A room where no source is live is
   ``no_data``: its count is the identified members only.

Confidence starts from the primary source (counter 0.85, motion-vacant 0.7, anonymous 0.45,
motion-occupied 0.4, nothing 0.1 to 0.2), gains when the other live sources agree and loses when
they contradict or a flag is raised; it is clamped to [0, 1] and rounded to 0.01.

Door contacts are tracked for liveness only: a door moving says nothing about who went through.
Other sensor kinds (temperature, noise, …) are ignored.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

from pydantic import Field, model_validator

from vivant.config_file import StrictModel
from vivant.wire.payloads import Occupancy, SensorKind


class OccupancyFlag(StrEnum):
    """Data-quality flags of an estimate: a closed set, so dashboards can explain each one."""

    SENSOR_OFFLINE = "sensor_offline"  # a source of this room stopped reporting
    COUNTER_CORRECTED = "counter_corrected"  # clamped at zero or reset recently
    COUNTER_DRIFT = "counter_drift"  # counter disagrees with motion, or went negative recently
    ESTIMATE_CAPPED = "estimate_capped"  # the count was cut at capacity × factor
    NO_DATA = "no_data"  # no live occupancy source: the count is identified members only


FLAGS: frozenset[str] = frozenset(flag.value for flag in OccupancyFlag)
"""Every flag an estimate may carry."""

DEFAULT_CONFIDENCE_STEP = 0.1


class Co2TrendSettings(StrictModel):
    """How a CO2 trend is read (rising with people breathing, falling as the room empties)."""

    window_s: float = Field(
        default=900, ge=120, le=7200, description="Readings from this far back form the trend."
    )
    min_readings: int = Field(
        default=3, ge=2, le=1000, description="Fewer readings in the window: no trend."
    )
    slope_ppm_per_min: float = Field(
        default=3.0,
        gt=0,
        le=1000,
        description="Rising above this slope, falling below its opposite, steady in between.",
    )


class OccupancySettings(StrictModel):
    """Tuning of occupancy fusion; the defaults suit an office floor with 60 s sensor reports."""

    motion_hold_s: float = Field(
        default=300,
        ge=0,
        le=7200,
        description="The room stays occupied this long after the motion sensor returned to 0.",
    )
    empty_reset_s: float = Field(
        default=900,
        gt=0,
        le=86_400,
        description="Motion vacant this long resets the beam counter to zero.",
    )
    drift_after_s: float = Field(
        default=600,
        gt=0,
        le=86_400,
        description=(
            "Counter above zero while motion is vacant this long: counter_drift, and the counter "
            "stops being trusted until the reset. At most empty_reset_s."
        ),
    )
    offline_after_s: float = Field(
        default=900,
        gt=0,
        le=86_400,
        description="A source silent this long is offline (nodes report every minute or so).",
    )
    late_tolerance_s: float = Field(
        default=600,
        ge=0,
        le=86_400,
        description="Counts up to this late are re-ordered by event time; older ones are not.",
    )
    flag_hold_s: float = Field(
        default=900,
        ge=0,
        le=86_400,
        description="A counter correction stays flagged this long after it happened.",
    )
    devices_per_person: float = Field(
        default=1.3,
        ge=0.5,
        le=10,
        description="Anonymous BLE devices per person (a phone, often a watch or earbuds too).",
    )
    capacity_factor: float = Field(
        default=1.5,
        ge=1,
        le=10,
        description="The estimate is capped at room capacity × this factor.",
    )
    uncapped_limit: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Cap for rooms without a configured capacity.",
    )
    co2: Co2TrendSettings | None = Field(
        default=None, description="Read a CO2 trend to weigh confidence; unset: CO2 is ignored."
    )

    @model_validator(mode="after")
    def _drift_before_reset(self) -> OccupancySettings:
        if self.drift_after_s > self.empty_reset_s:
            raise ValueError("drift_after_s must not exceed empty_reset_s")
        return self


@dataclass(frozen=True, slots=True)
class OccupancyEstimate:
    """One room's occupancy at a moment."""

    count: int
    """People in the room, identified or not (0 or more, at most the cap)."""
    confidence: float
    """0 (a guess) to 1 (counted)."""
    flags: tuple[str, ...]
    """Data-quality flags from :data:`FLAGS`, sorted."""
    updated_ms: int
    """When the estimate was made, epoch milliseconds UTC."""

    def to_payload(self) -> Occupancy:
        """The wire payload for ``<root>/<site>/occupancy/<room>`` (publish retained)."""
        return Occupancy(
            count=self.count,
            confidence=self.confidence,
            updated=self.updated_ms,
            flags=list(self.flags),
        )


def changed(
    previous: OccupancyEstimate | None,
    current: OccupancyEstimate,
    *,
    confidence_step: float = DEFAULT_CONFIDENCE_STEP,
) -> bool:
    """Whether *current* is worth publishing after *previous* (retained on every window floods)."""
    if previous is None:
        return True
    if previous.count != current.count or previous.flags != current.flags:
        return True
    return abs(previous.confidence - current.confidence) > confidence_step + 1e-9


class _Primary(Enum):
    COUNTER = "counter"
    MOTION = "motion"
    ANONYMOUS = "anonymous"
    NONE = "none"


_IN, _OUT = 0, 1  # at the same instant, entries are applied before exits (no spurious clamp)


def _fold(start: int, events: Iterable[tuple[int, int, int]]) -> tuple[int, int | None]:
    """Apply ``(ts, order, delta)`` events to *start*, clamping at zero; return the last clamp."""
    value, clamped_at = start, None
    for ts, _order, delta in events:
        value += delta
        if value < 0:
            value, clamped_at = 0, ts
    return value, clamped_at


def _recent(ts: int | None, now_ms: int, hold_ms: int) -> bool:
    return ts is not None and now_ms - ts <= hold_ms


def _newest(current: int | None, ts: int) -> int:
    return ts if current is None else max(current, ts)


class RoomOccupancy:
    """The evidence about one room, fused into an :class:`OccupancyEstimate` on demand."""

    def __init__(
        self, room_id: str, capacity: int | None, settings: OccupancySettings | None = None
    ) -> None:
        self.room_id = room_id
        self.capacity = capacity
        self.settings = settings or OccupancySettings()
        s = self.settings
        if capacity is not None and capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.cap = (
            max(1, math.floor(capacity * s.capacity_factor))
            if capacity is not None
            else s.uncapped_limit
        )
        self._hold_ms = round(s.motion_hold_s * 1000)
        self._reset_ms = round(s.empty_reset_s * 1000)
        self._drift_ms = round(s.drift_after_s * 1000)
        self._offline_ms = round(s.offline_after_s * 1000)
        self._late_ms = round(s.late_tolerance_s * 1000)
        self._flag_ms = round(s.flag_hold_s * 1000)
        # Beam counter: value `_base` at `_base_ts`, then `_events` after it, in event time.
        self._counter_seen: int | None = None
        self._base = 0
        self._base_ts: int | None = None
        self._reset_ts: int | None = None
        self._events: list[tuple[int, int, int]] = []
        self._first_after_reset: int | None = None  # earliest count since the last reset
        self._clamped_at: int | None = None  # last clamp folded into the base
        self._reset_at: int | None = None  # last reset of a positive counter
        # Motion: newest 1, then the first 0 after it (None while the sensor is still on).
        self._motion_seen: int | None = None
        self._motion_first: int | None = None
        self._motion_on: int | None = None
        self._motion_off: int | None = None
        self._door_seen: int | None = None
        self._co2: list[tuple[int, float]] = []
        self._co2_seen: int | None = None
        self._identified: tuple[int, int] | None = None  # (ts, count)
        self._anonymous: tuple[int, int] | None = None

    # -- evidence ---------------------------------------------------------------------------

    def on_sensor(self, kind: SensorKind, value: float, ts_ms: int) -> None:
        """Take one sensor reading observed at *ts_ms* (arrival order does not matter)."""
        if kind in (SensorKind.PEOPLE_IN, SensorKind.PEOPLE_OUT):
            if value < 0 or not float(value).is_integer():
                raise ValueError(f"{kind.value} must be a whole number ≥ 0")
            self._on_count(int(value) if kind is SensorKind.PEOPLE_IN else -int(value), ts_ms)
        elif kind is SensorKind.MOTION:
            if value not in (0, 1):
                raise ValueError("motion must be 0 or 1")
            self._on_motion(value == 1, ts_ms)
        elif kind is SensorKind.DOOR:
            if value not in (0, 1):
                raise ValueError("door must be 0 or 1")
            self._door_seen = _newest(self._door_seen, ts_ms)
        elif kind is SensorKind.CO2 and self.settings.co2 is not None:
            if value < 0 or math.isnan(value):
                raise ValueError("co2 must be ≥ 0 ppm")
            self._co2_seen = _newest(self._co2_seen, ts_ms)
            insort(self._co2, (ts_ms, float(value)))
            horizon = self._co2_seen - round(self.settings.co2.window_s * 1000)
            while self._co2 and self._co2[0][0] < horizon:
                self._co2.pop(0)

    def set_identified(self, count: int, ts_ms: int) -> None:
        """Members located in the room as of *ts_ms* (a floor for the count)."""
        if count < 0:
            raise ValueError("identified count must be ≥ 0")
        if self._identified is None or ts_ms >= self._identified[0]:
            self._identified = (ts_ms, count)

    def set_anonymous(self, count: int, ts_ms: int) -> None:
        """Anonymous BLE devices heard in the room's latest window ending at *ts_ms*."""
        if count < 0:
            raise ValueError("anonymous count must be ≥ 0")
        if self._anonymous is None or ts_ms >= self._anonymous[0]:
            self._anonymous = (ts_ms, count)

    def _on_count(self, delta: int, ts: int) -> None:
        self._counter_seen = _newest(self._counter_seen, ts)
        if delta == 0 or (self._reset_ts is not None and ts <= self._reset_ts):
            return  # a heartbeat, or superseded by an empty reset
        first = self._first_after_reset
        self._first_after_reset = ts if first is None else min(first, ts)
        if self._base_ts is not None and ts <= self._base_ts:
            # Later than the tolerance: applied to the base as if it came in order.
            self._base += delta
            if self._base < 0:
                self._base = 0
                self._clamped_at = ts
            return
        insort(self._events, (ts, _IN if delta > 0 else _OUT, delta))

    def _on_motion(self, on: bool, ts: int) -> None:
        self._motion_seen = _newest(self._motion_seen, ts)
        self._motion_first = ts if self._motion_first is None else min(self._motion_first, ts)
        if on:
            if self._motion_on is None or ts > self._motion_on:
                self._motion_on = ts
                if self._motion_off is not None and self._motion_off <= ts:
                    self._motion_off = None
        elif self._motion_on is not None and ts > self._motion_on:
            self._motion_off = ts if self._motion_off is None else min(self._motion_off, ts)

    # -- fusion -----------------------------------------------------------------------------

    def _live(self, seen: int | None, now_ms: int) -> bool | None:
        """None: never reported; True: reporting; False: offline."""
        if seen is None:
            return None
        return now_ms - seen <= self._offline_ms

    def _motion(self, now_ms: int) -> tuple[bool | None, int | None]:
        """(occupied, vacant since): (None, None) when motion is unknown or offline."""
        if not self._live(self._motion_seen, now_ms):
            return None, None
        if self._motion_on is not None and self._motion_off is None:
            return True, None  # the sensor still sees someone
        end = self._motion_off if self._motion_off is not None else self._motion_first
        assert end is not None
        vacant_since = end + self._hold_ms
        if now_ms < vacant_since:
            return True, None
        return False, vacant_since

    def _due_reset(self, now_ms: int, vacant_since: int | None) -> int | None:
        """When the counter must be reset to zero, if that time has come."""
        if vacant_since is None or self._counter_seen is None:
            return None
        if self._reset_ts is None or self._reset_ts < vacant_since:
            due = vacant_since + self._reset_ms  # first reset of this vacancy
        elif self._first_after_reset is not None:
            # Already reset during this vacancy; counts since then (ghosts) restart the delay.
            due = max(vacant_since, self._first_after_reset) + self._reset_ms
        else:
            return None
        if due > now_ms or (self._reset_ts is not None and due <= self._reset_ts):
            return None
        return due

    def _commit(self, now_ms: int, vacant_since: int | None) -> None:
        """Apply an empty reset that is due, and fold events older than the late tolerance."""
        reset_ts = self._due_reset(now_ms, vacant_since)
        if reset_ts is not None:
            before = [e for e in self._events if e[0] <= reset_ts]
            value, clamped = _fold(self._base, before)
            if clamped is not None:
                self._clamped_at = clamped
            if value > 0:
                self._reset_at = reset_ts
            self._base, self._base_ts, self._reset_ts = 0, reset_ts, reset_ts
            self._events = self._events[len(before) :]
            self._first_after_reset = self._events[0][0] if self._events else None
        horizon = now_ms - self._late_ms
        if self._base_ts is None or horizon > self._base_ts:
            old = [e for e in self._events if e[0] <= horizon]
            if old:
                self._base, clamped = _fold(self._base, old)
                if clamped is not None:
                    self._clamped_at = clamped
                self._events = self._events[len(old) :]
            self._base_ts = horizon

    def _co2_trend(self, now_ms: int) -> int:
        """+1 rising, -1 falling, 0 steady or unknown."""
        co2 = self.settings.co2
        if co2 is None or not self._live(self._co2_seen, now_ms):
            return 0
        start = now_ms - round(co2.window_s * 1000)
        points = [(ts, ppm) for ts, ppm in self._co2 if start <= ts <= now_ms]
        if len(points) < co2.min_readings:
            return 0
        mean_t = sum(ts for ts, _ in points) / len(points)
        mean_v = sum(ppm for _, ppm in points) / len(points)
        var_t = sum((ts - mean_t) ** 2 for ts, _ in points)
        if var_t == 0:
            return 0
        slope_per_ms = sum((ts - mean_t) * (ppm - mean_v) for ts, ppm in points) / var_t
        slope = slope_per_ms * 60_000
        if slope >= co2.slope_ppm_per_min:
            return 1
        if slope <= -co2.slope_ppm_per_min:
            return -1
        return 0

    def estimate(self, now_ms: int) -> OccupancyEstimate:
        """Fuse the evidence as of *now_ms* (see the module docstring for the rules)."""
        s = self.settings
        occupied, vacant_since = self._motion(now_ms)
        self._commit(now_ms, vacant_since)
        flags: set[OccupancyFlag] = set()

        live = {
            "counter": self._live(self._counter_seen, now_ms),
            "motion": self._live(self._motion_seen, now_ms),
            "door": self._live(self._door_seen, now_ms),
            "co2": self._live(self._co2_seen, now_ms) if s.co2 is not None else None,
            "anonymous": self._live(self._anonymous[0] if self._anonymous else None, now_ms),
        }
        if any(state is False for state in live.values()):
            flags.add(OccupancyFlag.SENSOR_OFFLINE)

        counter, live_clamp = _fold(self._base, self._events)
        counter_live = live["counter"] is True
        if counter_live:
            if _recent(self._clamped_at, now_ms, self._flag_ms) or _recent(
                live_clamp, now_ms, self._flag_ms
            ):
                flags.add(OccupancyFlag.COUNTER_DRIFT)
            if any(
                _recent(ts, now_ms, self._flag_ms)
                for ts in (self._clamped_at, live_clamp, self._reset_at)
            ):
                flags.add(OccupancyFlag.COUNTER_CORRECTED)
        drifting = (
            counter_live
            and counter > 0
            and vacant_since is not None
            and now_ms - vacant_since >= self._drift_ms
        )
        if drifting:
            flags.add(OccupancyFlag.COUNTER_DRIFT)

        anonymous = self._anonymous[1] if self._anonymous and live["anonymous"] else None
        soft = math.floor(anonymous / s.devices_per_person + 0.5) if anonymous is not None else None

        # The primary source gives the base count and the starting confidence.
        if counter_live and not drifting:
            primary, base, confidence = _Primary.COUNTER, counter, 0.85
        elif occupied is False:
            primary, base, confidence = _Primary.MOTION, 0, 0.7
        elif soft is not None:
            primary, base, confidence = _Primary.ANONYMOUS, soft, 0.45
        elif occupied:
            primary, base, confidence = _Primary.MOTION, 1, 0.4
        else:
            primary, base = _Primary.NONE, 0
            flags.add(OccupancyFlag.NO_DATA)
            confidence = 0.2 if self._identified and self._identified[1] > 0 else 0.1

        # Corroboration by the other live sources.
        if occupied is not None and primary is not _Primary.MOTION:
            confidence += 0.1 if occupied == (base >= 1) else -0.25
        if soft is not None and primary is not _Primary.ANONYMOUS:
            confidence += 0.05 if abs(soft - base) <= max(1, 0.3 * base) else -0.1
        trend = self._co2_trend(now_ms)
        if trend > 0:
            confidence += 0.05 if base >= 1 else -0.1
        elif trend < 0 and base == 0:
            confidence += 0.05

        count = base
        identified = self._identified[1] if self._identified else 0
        if identified > count:
            count = identified
            if primary is not _Primary.NONE:
                confidence -= 0.15
        if occupied and count < 1:
            count = 1
        if count > self.cap:
            count = self.cap
            flags.add(OccupancyFlag.ESTIMATE_CAPPED)

        confidence -= 0.15 if OccupancyFlag.COUNTER_DRIFT in flags else 0
        confidence -= 0.1 if OccupancyFlag.COUNTER_CORRECTED in flags else 0
        confidence -= 0.1 if OccupancyFlag.SENSOR_OFFLINE in flags else 0
        confidence -= 0.2 if OccupancyFlag.ESTIMATE_CAPPED in flags else 0
        confidence = round(min(1.0, max(0.0, confidence)), 2)
        return OccupancyEstimate(
            count=count,
            confidence=confidence,
            flags=tuple(sorted(flag.value for flag in flags)),
            updated_ms=now_ms,
        )
