"""Room location from BLE sightings: smoothing per receiver, a room decision with hysteresis.

One :class:`RoomLocator` per site turns the tag readings of the nodes' BLE windows
(:class:`Sighting`) into room changes (:class:`RoomChange`). Pure logic: no I/O, no clock (time is
the sightings' ``ts_ms`` and the ``now_ms`` given to :meth:`RoomLocator.tick`), no database.

Why it is built this way
------------------------
RSSI is a soft signal. Indoors a fixed tag's readings scatter with a shadowing of about 6 dB, a
fifth of the advertisements are lost, and a wall costs only a few dB, so the strongest reading of
one window names the wrong room far too often: users of ESPresense and Bermuda mostly complain
about people *flapping* between two rooms (ESPresense issue #123, "Device location keeps bouncing
between other rooms"). Three layers answer that:

1. **Per receiver smoothing.** A receiver is a ``(node, room)`` pair: a node serving two rooms
   reports one room per window, and each is scored on its own. Each window's value goes through
   an optional median of the last few windows, then a 1€ filter (Casiez et al. 2012): the chain
   ESPresense's firmware uses on distances (median of three readings, then ``one_euro_filter``).
   The 1€ filter smooths hard while the signal is still and follows faster when it moves
   (``beta``; with ``beta = 0`` it is a time-aware EMA). The median is off by default: a 5 s
   window is already a mean over about four advertisements, and in the presence benchmark a
   median of three windows only added a window of lag (accuracy −0.3 to −0.4 points, no fewer
   false changes); it is there for nodes that report single advertisements. The count ``n`` is
   not weighted in: near a node it is 4 or 5 in every window, and far away, where it drops, the
   receiver does not decide the room anyway. A receiver that stops hearing a tag does not keep
   its last value forever: after ``stale_after_s`` its score sinks by ``stale_decay_db_per_s``,
   and after ``receiver_expiry_s`` it is forgotten, so a person who walked away from a node is
   not held in its room by a frozen number.
2. **Room score.** A room's score is the best of its receivers' scores (a large room may have
   several nodes; the nearest one is the one that tells). ``node_offsets_db`` corrects a node
   that hears everything louder or softer (ESPresense's ``rx_adj_rssi``).
3. **Decision with hysteresis.** The incumbent room stays until a challenger room beats it by
   ``margin_db`` at every evaluation for ``switch_after_s``. This is Bermuda's incumbent and
   challenger contest (there a challenger must be 30 % closer outright, or 15 % closer over its
   recent history, and its RSSI fallback asks for a 3 dB lead), made continuous in time. The
   challenger's clock restarts whenever it stops winning, so one stray stronger window never
   moves anyone (the bug fixed in renfield PR #777, where a counter shared by all rooms let the
   first stray sighting switch). The first placement is quicker: the best room once the tag has
   ``place_min_samples`` sightings. The defaults were tuned on benchmarks/presence_accuracy.py
   (seeds 1 and 2); a "patient" second rule (a 2-3 dB lead on an 80 s average, held a minute or
   two) was tried there and dropped: it won nothing, since the rooms it would fix are the ones
   two nodes hear alike, where only calibrating the nodes (``node_offsets_db``) helps.

Time and order
--------------
Decisions are dated by the newest sighting of the tag, so time never goes backward. Nodes are not
synchronised and an outbox may deliver late, hence these rules for a sighting of a tag:

* older than the tag's newest sighting by more than ``late_tolerance_s``: dropped (it could
  only move the person back in time); within the tolerance it is smoothed in (another node's
  window that ended a little earlier is normal);
* not newer than the last window of the same receiver: dropped (a repeat or a reordering);
* older than the hub's time (the latest :meth:`RoomLocator.tick`) by more than ``absence_s``:
  dropped (whoever it describes has left by now); newer than it by more than
  ``future_tolerance_s``: dropped too (a node whose clock runs ahead). The hub's time comes from
  the ticks only, so one node's wrong clock cannot make everyone else's sightings look stale;
* for a tag that departed, older than the departure decision (by absence) or within
  ``leave_quiet_s`` after an exit (:meth:`RoomLocator.leave`): dropped, so a late window or the
  walk out past the entrance node does not bring the person back.

Departure
---------
A tag unseen for ``absence_s`` leaves (room ``None``) at the next :meth:`RoomLocator.tick`. BLE
absence is weak evidence (a tag's battery, a phone in a bag), so that change carries a low
confidence; an exit tap or the site's daily cut-off is told with :meth:`RoomLocator.leave`.

Cost: a sighting costs O(receivers hearing that tag) (a handful); :meth:`RoomLocator.tick` costs
O(tracked tags).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from vivant.config_file import StrictModel

SNAPSHOT_VERSION = 1
# Confidence of a departure inferred from BLE silence: weak evidence (see the module docstring).
ABSENCE_CONFIDENCE = 0.5
# Confidence of a departure told by an exit tap or the daily cut-off.
LEAVE_CONFIDENCE = 1.0
_NO_SCORE = -math.inf


class LocationSettings(StrictModel):
    """How BLE sightings become rooms (per hub; the defaults suit 5 s windows)."""

    median_windows: int = Field(
        default=1,
        ge=1,
        le=15,
        description=(
            "Windows in the median taken per receiver before the 1€ filter (1 = none; 3 for "
            "nodes that report single advertisements rather than means over a window)."
        ),
    )
    min_cutoff_hz: float = Field(
        default=0.02,
        gt=0,
        le=10,
        description=(
            "1€ filter cutoff for a still signal, Hz; lower is smoother and slower "
            "(0.02 Hz is a time constant of about 8 s)."
        ),
    )
    beta: float = Field(
        default=0.05,
        ge=0,
        le=10,
        description="1€ filter speed coefficient, Hz per dB/s; 0 makes it a time-aware EMA.",
    )
    d_cutoff_hz: float = Field(
        default=0.1, gt=0, le=10, description="1€ filter cutoff of the slope estimate, Hz."
    )
    stale_after_s: float = Field(
        default=12,
        ge=0,
        le=3600,
        description="A receiver not hearing the tag for this long starts losing score.",
    )
    stale_decay_db_per_s: float = Field(
        default=1.0, ge=0, le=100, description="How fast a silent receiver's score sinks, dB/s."
    )
    receiver_expiry_s: float = Field(
        default=45,
        gt=0,
        le=3600,
        description="A receiver not hearing the tag for this long is forgotten for that tag.",
    )
    margin_db: float = Field(
        default=5,
        ge=0,
        le=40,
        description="How much a challenger room must beat the current room by, dB.",
    )
    switch_after_s: float = Field(
        default=15,
        ge=0,
        le=3600,
        description="How long the challenger must keep that margin, without a break, to win.",
    )
    place_min_samples: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Sightings of a new tag (any receiver) before its first placement.",
    )
    absence_s: float = Field(
        default=300,
        ge=10,
        le=86_400,
        description="A tag unseen for this long has left the site (room None).",
    )
    late_tolerance_s: float = Field(
        default=10,
        ge=0,
        le=3600,
        description=(
            "A sighting older than the tag's newest one by more than this is dropped; within it, "
            "it is still smoothed in (nodes' windows are not synchronised)."
        ),
    )
    future_tolerance_s: float = Field(
        default=60,
        ge=0,
        le=86_400,
        description=(
            "A sighting dated more than this after the hub's time (the last tick) is dropped: "
            "a node whose clock runs ahead must not keep a tag on site."
        ),
    )
    leave_quiet_s: float = Field(
        default=120,
        ge=0,
        le=86_400,
        description="After an exit tap or the cut-off, the tag's sightings are ignored this long.",
    )
    node_offsets_db: dict[str, float] = Field(
        default_factory=dict,
        description="Per node correction added to its RSSI, dB (a node that hears loud: < 0).",
    )


@dataclass(frozen=True, slots=True)
class Sighting:
    """One tag in one BLE window of one node: ``(node, room)`` is the receiver."""

    tag: str
    node: str
    room: str
    rssi: float  # smoothed RSSI over the window, dBm
    n: int  # advertisements heard in the window
    ts_ms: int  # end of the window, epoch milliseconds UTC


@dataclass(frozen=True, slots=True)
class RoomChange:
    """A tag entered *room* (``None``: it left the site), coming from *previous*."""

    tag: str
    room: str | None
    previous: str | None
    ts_ms: int  # when it happened; for a departure by absence, the last sighting
    confidence: float  # 0.5 (a coin toss, or BLE silence) to 1 (clear lead, or an exit tap)


class _Receiver:
    """Smoothing state of one tag at one ``(node, room)``."""

    __slots__ = ("history", "last_ms", "slope", "value")

    def __init__(self, last_ms: int, history: list[float], value: float, slope: float) -> None:
        self.last_ms = last_ms
        self.history = history
        self.value = value
        self.slope = slope


class _Track:
    """What the locator knows about one tag on site."""

    __slots__ = ("challenger", "challenger_ms", "last_ms", "receivers", "room", "samples")

    def __init__(self, last_ms: int) -> None:
        self.room: str | None = None
        self.last_ms = last_ms
        self.samples = 0
        self.challenger: str | None = None
        self.challenger_ms = 0
        self.receivers: dict[tuple[str, str], _Receiver] = {}


def _alpha(cutoff_hz: float, dt_s: float) -> float:
    """Smoothing factor of a first-order low-pass filter for a step of *dt_s* seconds."""
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


def _confidence(lead_db: float, margin_db: float) -> float:
    """0.5 when two rooms tie, towards 1 as the winner's lead grows past the margin."""
    scale = max(margin_db, 1.0)
    return round(1.0 - 0.5 * math.exp(-max(lead_db, 0.0) / scale), 3)


class RoomLocator:
    """The room of every tag at one site, from its nodes' BLE windows."""

    def __init__(self, settings: LocationSettings | None = None) -> None:
        self.settings = settings or LocationSettings()
        self._tracks: dict[str, _Track] = {}
        self._ignore_before: dict[str, int] = {}  # tag -> sightings older than this are dropped
        self._clock_ms = 0  # the hub's time: the latest tick (0 before the first)
        self.dropped = 0  # sightings dropped by the time and order rules
        s = self.settings
        self._late_ms = round(s.late_tolerance_s * 1000)
        self._future_ms = round(s.future_tolerance_s * 1000)
        self._absence_ms = round(s.absence_s * 1000)
        self._stale_ms = s.stale_after_s * 1000
        self._expiry_ms = s.receiver_expiry_s * 1000
        self._switch_ms = s.switch_after_s * 1000
        self._decay_per_ms = s.stale_decay_db_per_s / 1000

    # -- queries -------------------------------------------------------------------------------

    def room_of(self, tag: str) -> str | None:
        """The tag's room, or None (not placed yet, or gone)."""
        track = self._tracks.get(tag)
        return track.room if track is not None else None

    def last_seen_ms(self, tag: str) -> int | None:
        """Time of the tag's newest sighting, if it is tracked."""
        track = self._tracks.get(tag)
        return track.last_ms if track is not None else None

    def tags(self) -> set[str]:
        """Tags on site: tracked, placed or about to be."""
        return set(self._tracks)

    # -- events --------------------------------------------------------------------------------

    def observe(self, sighting: Sighting) -> RoomChange | None:
        """Take one sighting; return the tag's room change, if it causes one."""
        ts = sighting.ts_ms
        clock = self._clock_ms
        if clock and not clock - self._absence_ms <= ts <= clock + self._future_ms:
            self.dropped += 1
            return None
        ignore_before = self._ignore_before.get(sighting.tag)
        if ignore_before is not None:
            if ts < ignore_before:
                self.dropped += 1
                return None
            del self._ignore_before[sighting.tag]
        track = self._tracks.get(sighting.tag)
        if track is None:
            track = self._tracks[sighting.tag] = _Track(ts)
        elif ts < track.last_ms - self._late_ms:
            self.dropped += 1
            return None
        if not self._smooth(track, sighting):
            self.dropped += 1
            return None
        track.last_ms = max(track.last_ms, ts)
        return self._decide(sighting.tag, track, track.last_ms)

    def tick(self, now_ms: int) -> list[RoomChange]:
        """Depart the tags unseen for ``absence_s`` (at exactly ``absence_s``, they leave)."""
        self._clock_ms = max(self._clock_ms, now_ms)
        changes = []
        gone = [tag for tag, t in self._tracks.items() if now_ms - t.last_ms >= self._absence_ms]
        for tag in gone:
            track = self._tracks.pop(tag)
            self._ignore_before[tag] = now_ms - self._late_ms
            if track.room is not None:
                changes.append(RoomChange(tag, None, track.room, track.last_ms, ABSENCE_CONFIDENCE))
        expired = [tag for tag, ms in self._ignore_before.items() if ms < now_ms - self._absence_ms]
        for tag in expired:  # the site-wide staleness rule covers them from now on
            del self._ignore_before[tag]
        return changes

    def leave(self, tag: str, ts_ms: int) -> RoomChange | None:
        """The tag left for sure (exit tap, daily cut-off); ignore it for ``leave_quiet_s``."""
        quiet_until = ts_ms + round(self.settings.leave_quiet_s * 1000)
        self._ignore_before[tag] = max(self._ignore_before.get(tag, 0), quiet_until)
        track = self._tracks.pop(tag, None)
        if track is None or track.room is None:
            return None
        return RoomChange(tag, None, track.room, max(ts_ms, track.last_ms), LEAVE_CONFIDENCE)

    def forget(self, tag: str) -> None:
        """Drop everything about *tag* (its owner was erased): no track, no quiet period."""
        self._tracks.pop(tag, None)
        self._ignore_before.pop(tag, None)

    # -- internals -----------------------------------------------------------------------------

    def _smooth(self, track: _Track, sighting: Sighting) -> bool:
        """Feed the sighting to its receiver's filters; False if the receiver has newer data."""
        s = self.settings
        ts = sighting.ts_ms
        rssi = sighting.rssi + s.node_offsets_db.get(sighting.node, 0.0)
        key = (sighting.node, sighting.room)
        receiver = track.receivers.get(key)
        if receiver is not None and ts - receiver.last_ms > self._expiry_ms:
            receiver = None  # heard again after a long silence: start afresh
        if receiver is None:
            track.receivers[key] = _Receiver(ts, [rssi], rssi, 0.0)
            return True
        if ts <= receiver.last_ms:
            return False
        history = receiver.history
        history.append(rssi)
        if len(history) > s.median_windows:
            del history[0]
        x = statistics.median(history) if len(history) > 1 else rssi
        dt_s = (ts - receiver.last_ms) / 1000
        slope = (x - receiver.value) / dt_s
        receiver.slope += _alpha(s.d_cutoff_hz, dt_s) * (slope - receiver.slope)
        cutoff = s.min_cutoff_hz + s.beta * abs(receiver.slope)
        receiver.value += _alpha(cutoff, dt_s) * (x - receiver.value)
        receiver.last_ms = ts
        return True

    def _scores(self, track: _Track, now_ms: int) -> dict[str, float]:
        """Each room's score now: its best receiver, less the staleness penalty."""
        scores: dict[str, float] = {}
        expired = []
        for key, receiver in track.receivers.items():
            age = now_ms - receiver.last_ms
            if age > self._expiry_ms:
                expired.append(key)
                continue
            score = receiver.value
            if age > self._stale_ms:
                score -= (age - self._stale_ms) * self._decay_per_ms
            if score > scores.get(key[1], _NO_SCORE):
                scores[key[1]] = score
        for key in expired:
            del track.receivers[key]
        return scores

    def _decide(self, tag: str, track: _Track, now_ms: int) -> RoomChange | None:
        scores = self._scores(track, now_ms)
        margin = self.settings.margin_db
        current = track.room
        best, best_score, second_score = None, _NO_SCORE, _NO_SCORE
        for room, score in scores.items():
            if room == current:
                continue
            if score > best_score:
                best, best_score, second_score = room, score, best_score
            elif score > second_score:
                second_score = score
        if current is None:
            track.samples += 1
            if best is None or track.samples < self.settings.place_min_samples:
                return None
            track.room = best
            track.challenger = None
            lead = best_score - second_score if second_score > _NO_SCORE else margin * 3
            return RoomChange(tag, best, None, now_ms, _confidence(lead, margin))
        current_score = scores.get(current, _NO_SCORE)
        if best is None or best_score < current_score + margin:
            track.challenger = None
            return None
        if track.challenger != best:
            track.challenger = best
            track.challenger_ms = now_ms
            if self._switch_ms > 0:
                return None
        elif now_ms - track.challenger_ms < self._switch_ms:
            return None
        track.room = best
        track.challenger = None
        runner_up = max(current_score, second_score)
        lead = best_score - runner_up if runner_up > _NO_SCORE else margin * 3
        return RoomChange(tag, best, current, now_ms, _confidence(lead, margin))

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to resume after a restart, as JSON-serialisable data."""
        return {
            "version": SNAPSHOT_VERSION,
            "clock_ms": self._clock_ms,
            "dropped": self.dropped,
            "ignore_before": dict(self._ignore_before),
            "tracks": {
                tag: {
                    "room": t.room,
                    "last_ms": t.last_ms,
                    "samples": t.samples,
                    "challenger": t.challenger,
                    "challenger_ms": t.challenger_ms,
                    "receivers": [
                        [node, room, r.last_ms, list(r.history), r.value, r.slope]
                        for (node, room), r in t.receivers.items()
                    ],
                }
                for tag, t in self._tracks.items()
            },
        }

    @classmethod
    def restore(cls, settings: LocationSettings, snapshot: dict[str, Any]) -> RoomLocator:
        """A locator that resumes from :meth:`snapshot` (with possibly new settings)."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown location snapshot version {snapshot.get('version')!r}")
        locator = cls(settings)
        locator._clock_ms = int(snapshot["clock_ms"])
        locator.dropped = int(snapshot.get("dropped", 0))
        locator._ignore_before = {str(k): int(v) for k, v in snapshot["ignore_before"].items()}
        for tag, data in snapshot["tracks"].items():
            track = _Track(int(data["last_ms"]))
            track.room = data["room"]
            track.samples = int(data["samples"])
            track.challenger = data["challenger"]
            track.challenger_ms = int(data["challenger_ms"])
            for node, room, last_ms, history, value, slope in data["receivers"]:
                kept = [float(v) for v in history][-settings.median_windows :]
                track.receivers[(node, room)] = _Receiver(
                    int(last_ms), kept, float(value), float(slope)
                )
            locator._tracks[str(tag)] = track
        return locator
