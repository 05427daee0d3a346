"""The catalogue of what the hub writes to the time series, and the only way to build a point.

Dashboards are written against measurement, tag and field names, so those names are a contract:
:data:`CATALOGUE` states them with their types and units in a machine-readable form, each
builder below makes points of one measurement, a test checks every builder's output against the
catalogue, ``dashboards/MEASUREMENTS.md`` is generated from it (:func:`render_markdown`), and the
dashboards' test checks every Grafana query against it.

Choices made for the dashboards:

* Sensor readings use **one field per sensor kind** (``sensor.co2``, ``sensor.temperature``)
  rather than a ``kind`` tag and a ``value`` field: each field then has one unit and one type
  that the catalogue states, a query names what it shows (``r._field == "co2"`` in Flux,
  ``sensor_co2`` in MetricsQL), and the dashboards' test can check it. With a ``kind`` tag the
  unit would hide in a tag value.
* No string fields: VictoriaMetrics stores only numbers, so occupancy flags are boolean fields,
  one per :class:`hub.occupancy.OccupancyFlag` (``flag_sensor_offline``), all written in every
  point so a graph shows false rather than a gap; a flag outside that set is counted
  (``flags_other``), never lost silently.
* Counters (``ingest``) are totals since the hub started: a lost point loses no count; graph
  them with ``non_negative_derivative`` (Flux) or ``rate`` / ``increase`` (MetricsQL).

Privacy: the time series hold aggregates and device health only. No tag or field identifies a
person (no member, credential, badge or BLE tag id), so erasing a member has nothing to delete
here; :func:`hub.timeseries.delete_by_tag` serves to remove a site, room or node.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from hub.occupancy import OccupancyFlag
from hub.timeseries import FieldValue, Point, epoch_ms
from vivant.wire.payloads import SensorKind, Telemetry


class FieldType(StrEnum):
    """The line-protocol type of a field; VictoriaMetrics stores booleans as 0 and 1."""

    FLOAT = "float"
    INTEGER = "integer"
    BOOLEAN = "boolean"

    def accepts(self, value: FieldValue) -> bool:
        """Whether *value* has this type (``True`` is not an integer here)."""
        if self is FieldType.BOOLEAN:
            return isinstance(value, bool)
        if self is FieldType.INTEGER:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, float)


@dataclass(frozen=True)
class TagSpec:
    """A tag: indexed, identifies a series."""

    name: str
    description: str


@dataclass(frozen=True)
class FieldSpec:
    """A field: a value of a point."""

    name: str
    type: FieldType
    unit: str
    description: str
    always: bool = False
    """Present in every point of the measurement (otherwise only when known)."""


@dataclass(frozen=True)
class MeasurementSpec:
    """A measurement: its tags (all present in every point) and its fields."""

    name: str
    description: str
    tags: tuple[TagSpec, ...]
    fields: tuple[FieldSpec, ...]

    def field(self, name: str) -> FieldSpec | None:
        """The field with this name, if any."""
        return next((f for f in self.fields if f.name == name), None)

    def problems(self, point: Point) -> list[str]:
        """How *point* departs from this spec (empty when it conforms)."""
        found = []
        if point.measurement != self.name:
            found.append(f"measurement {point.measurement!r} is not {self.name!r}")
        expected_tags = {t.name for t in self.tags}
        if set(point.tags) != expected_tags:
            found.append(f"tags {sorted(point.tags)} are not {sorted(expected_tags)}")
        for name, value in point.fields.items():
            spec = self.field(name)
            if spec is None:
                found.append(f"unknown field {name!r}")
            elif not spec.type.accepts(value):
                found.append(f"field {name!r}={value!r} is not {spec.type.value}")
        found.extend(
            f"field {f.name!r} missing"
            for f in self.fields
            if f.always and f.name not in point.fields
        )
        return found

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for tools and tests)."""
        return {
            "description": self.description,
            "tags": {t.name: t.description for t in self.tags},
            "fields": {
                f.name: {
                    "type": f.type.value,
                    "unit": f.unit,
                    "always": f.always,
                    "description": f.description,
                }
                for f in self.fields
            },
        }


_SITE = TagSpec("site", "Site id, as in hub.yaml.")
_ROOM = TagSpec("room", "Room id within the site.")
_NODE = TagSpec("node", "Edge node id.")

# Unit, type and meaning of each sensor kind; the field is named after the kind.
_SENSOR_FIELDS: Mapping[SensorKind, tuple[FieldType, str, str]] = {
    SensorKind.MOTION: (FieldType.INTEGER, "0/1", "Motion seen (1) or not (0)."),
    SensorKind.DOOR: (FieldType.INTEGER, "0/1", "Door open (1) or closed (0)."),
    SensorKind.PEOPLE_IN: (FieldType.INTEGER, "people", "Entries since the previous reading."),
    SensorKind.PEOPLE_OUT: (FieldType.INTEGER, "people", "Exits since the previous reading."),
    SensorKind.CO2: (FieldType.FLOAT, "ppm", "CO2 concentration."),
    SensorKind.TEMPERATURE: (FieldType.FLOAT, "°C", "Air temperature."),
    SensorKind.HUMIDITY: (FieldType.FLOAT, "%", "Relative humidity."),
    SensorKind.NOISE: (FieldType.FLOAT, "dBA", "Sound level."),
    SensorKind.ILLUMINANCE: (FieldType.FLOAT, "lx", "Illuminance."),
    SensorKind.PRESSURE: (FieldType.FLOAT, "hPa", "Air pressure."),
}

OCCUPANCY_FLAGS: tuple[str, ...] = tuple(flag.value for flag in OccupancyFlag)
"""Occupancy data-quality flags, each written as a ``flag_<name>`` boolean (the estimator's set)."""

_FLAG_MEANINGS = {
    "sensor_offline": "A source of this room stopped reporting.",
    "counter_corrected": "The people counter was clamped at zero or reset recently.",
    "counter_drift": "The counter disagrees with motion, or went negative recently.",
    "estimate_capped": "The count was cut at the room's capacity limit.",
    "no_data": "No live occupancy source: the count is identified members only.",
}

SENSOR = MeasurementSpec(
    name="sensor",
    description=(
        "One environment or counting reading from a node, at the time it was observed. "
        "A point carries exactly one of the fields (the kind of the reading)."
    ),
    tags=(_SITE, _ROOM, _NODE),
    fields=tuple(
        FieldSpec(kind.value, type_, unit, description)
        for kind, (type_, unit, description) in _SENSOR_FIELDS.items()
    ),
)

OCCUPANCY = MeasurementSpec(
    name="occupancy",
    description="Live occupancy of a room, written when the hub's estimate changes.",
    tags=(_SITE, _ROOM),
    fields=(
        FieldSpec("count", FieldType.INTEGER, "people", "People in the room.", always=True),
        FieldSpec(
            "confidence", FieldType.FLOAT, "0..1", "0 (a guess) to 1 (counted).", always=True
        ),
        *(
            FieldSpec(
                f"flag_{flag}",
                FieldType.BOOLEAN,
                "",
                _FLAG_MEANINGS.get(flag, f"Data-quality flag {flag}."),
                always=True,
            )
            for flag in OCCUPANCY_FLAGS
        ),
        FieldSpec(
            "flags_other",
            FieldType.INTEGER,
            "flags",
            "How many flags outside the estimator's set the estimate carried (0 normally).",
            always=True,
        ),
    ),
)

NODE_HEALTH = MeasurementSpec(
    name="node_health",
    description=(
        "Health of an edge node: availability, and its last telemetry when the hub has one."
    ),
    tags=(_SITE, _NODE),
    fields=(
        FieldSpec("online", FieldType.BOOLEAN, "", "The node's status is online.", always=True),
        FieldSpec("uptime_s", FieldType.INTEGER, "s", "Seconds since the agent started."),
        FieldSpec("outbox_depth", FieldType.INTEGER, "messages", "Waiting in the node's outbox."),
        FieldSpec("dropped", FieldType.INTEGER, "messages", "Dropped by the node since start."),
        FieldSpec("cpu_temp_c", FieldType.FLOAT, "°C", "SoC temperature."),
        FieldSpec("undervoltage", FieldType.BOOLEAN, "", "Power supply under-voltage seen."),
        FieldSpec("clock_synced", FieldType.BOOLEAN, "", "System clock synchronised (NTP)."),
        FieldSpec(
            "telemetry_age_s",
            FieldType.FLOAT,
            "s",
            "Age of the telemetry at the point's time (large: the node stopped reporting).",
        ),
    ),
)

INGEST = MeasurementSpec(
    name="ingest",
    description="The hub's ingest pipeline, written periodically. Counters are totals since start.",
    tags=(TagSpec("hub", "Hub instance name."),),
    fields=(
        *(
            FieldSpec(name, FieldType.INTEGER, "messages", description, always=True)
            for name, description in (
                ("received", "MQTT messages received."),
                ("accepted", "Messages applied."),
                ("rejected", "Messages rejected (invalid, unauthorised, …)."),
                ("duplicates", "Redelivered messages dropped."),
                ("failures", "Messages dropped because applying them raised (a bug)."),
                ("queue_depth", "Messages waiting to be applied (a gauge, not a total)."),
            )
        ),
        FieldSpec(
            "lag_s",
            FieldType.FLOAT,
            "s",
            "Mean time from reception to commit since the previous point (absent if none).",
        ),
    ),
)

CATALOGUE: Mapping[str, MeasurementSpec] = MappingProxyType(
    {spec.name: spec for spec in (SENSOR, OCCUPANCY, NODE_HEALTH, INGEST)}
)
"""Every measurement the hub writes, by name."""


def catalogue_as_dict() -> dict[str, Any]:
    """The whole catalogue, JSON-ready: ``{measurement: {description, tags, fields}}``."""
    return {name: spec.as_dict() for name, spec in CATALOGUE.items()}


# -- builders ------------------------------------------------------------------------------


def sensor_point(
    site: str, node: str, room: str, kind: SensorKind, value: float, ts: datetime
) -> Point:
    """A ``sensor`` point for one reading (counts and 0/1 kinds as integers)."""
    type_ = _SENSOR_FIELDS[kind][0]
    field: FieldValue
    if type_ is FieldType.INTEGER:
        if not float(value).is_integer():
            raise ValueError(f"{kind.value} must be a whole number, not {value!r}")
        field = int(value)
    else:
        field = float(value)
    return Point("sensor", {"site": site, "room": room, "node": node}, {kind.value: field}, ts)


def occupancy_point(
    site: str, room: str, count: int, confidence: float, flags: Iterable[str], ts: datetime
) -> Point:
    """An ``occupancy`` point; every known flag is written, true or false."""
    present = set(flags)
    fields: dict[str, FieldValue] = {"count": int(count), "confidence": float(confidence)}
    fields.update({f"flag_{flag}": flag in present for flag in OCCUPANCY_FLAGS})
    fields["flags_other"] = len(present - set(OCCUPANCY_FLAGS))
    return Point("occupancy", {"site": site, "room": room}, fields, ts)


def node_health_point(
    site: str, node: str, telemetry: Telemetry | None, online: bool, ts: datetime
) -> Point:
    """A ``node_health`` point: availability, plus the last telemetry's values if any."""
    fields: dict[str, FieldValue] = {"online": online}
    if telemetry is not None:
        fields["uptime_s"] = telemetry.uptime_s
        fields["outbox_depth"] = telemetry.outbox_depth
        fields["dropped"] = telemetry.dropped
        if telemetry.cpu_temp_c is not None:
            fields["cpu_temp_c"] = float(telemetry.cpu_temp_c)
        if telemetry.undervoltage is not None:
            fields["undervoltage"] = telemetry.undervoltage
        if telemetry.clock_synced is not None:
            fields["clock_synced"] = telemetry.clock_synced
        # Whole milliseconds, so the age is an exact decimal.
        fields["telemetry_age_s"] = (epoch_ms(ts) - telemetry.ts) / 1000
    return Point("node_health", {"site": site, "node": node}, fields, ts)


def ingest_point(
    hub: str,
    ts: datetime,
    *,
    received: int,
    accepted: int,
    rejected: int,
    duplicates: int,
    failures: int,
    queue_depth: int,
    lag_s: float | None,
) -> Point:
    """An ``ingest`` point from the hub's counters (totals since start) and gauges."""
    fields: dict[str, FieldValue] = {
        "received": received,
        "accepted": accepted,
        "rejected": rejected,
        "duplicates": duplicates,
        "failures": failures,
        "queue_depth": queue_depth,
    }
    if lag_s is not None:
        fields["lag_s"] = float(lag_s)
    return Point("ingest", {"hub": hub}, fields, ts)


# -- documentation -------------------------------------------------------------------------

_DOC_HEAD = """\
# Time-series measurements

Generated from `hub/measurements.py` (`CATALOGUE`); do not edit by hand. Regenerate with
`.venv/bin/python -m hub.measurements > dashboards/MEASUREMENTS.md` (a test checks it is current).

The hub writes these points to InfluxDB 2 (or VictoriaMetrics) in batches, off the ingest path;
when the server is down they wait in a disk spool (`hub/timeseries.py`). Times are the time of the
observation, millisecond precision. Delivery is at least once: after a crash a batch may be sent
again, which InfluxDB absorbs (an identical point overwrites itself) and VictoriaMetrics absorbs
when run with `-dedup.minScrapeInterval=1ms`. Tools read the same catalogue as data:
`hub.measurements.catalogue_as_dict()`.

## Names in each server

- **InfluxDB 2 / Flux**: `_measurement`, `_field` and tags as listed, e.g.
  `r._measurement == "sensor" and r._field == "co2" and r.site == "ekilibre"`.
- **VictoriaMetrics / MetricsQL** (InfluxDB line protocol on `/api/v2/write`): one metric per
  field named `<measurement>_<field>`, tags become labels, booleans become 0 and 1, e.g.
  `sensor_co2{site="ekilibre"}`.

## Privacy and erasure

No tag or field identifies a person: there is no `member` tag, and no credential, badge or BLE
tag id is ever written. Occupancy is a count per room. Erasing a member therefore has nothing to
delete here. `hub.timeseries.delete_by_tag` deletes series by tag (a site, room or node that is
removed): InfluxDB through `/api/v2/delete` with a predicate, VictoriaMetrics through
`/api/v1/admin/tsdb/delete_series` (whole series, all times).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or "-"


def render_markdown() -> str:
    """``dashboards/MEASUREMENTS.md``, generated from :data:`CATALOGUE`."""
    out = [_DOC_HEAD]
    for spec in CATALOGUE.values():
        out.append(f"\n## `{spec.name}`\n\n{spec.description}\n\n")
        out.append("| tag | description |\n|---|---|\n")
        out.extend(f"| `{t.name}` | {_cell(t.description)} |\n" for t in spec.tags)
        out.append(
            "\n| field | type | unit | always | VictoriaMetrics | description |\n"
            "|---|---|---|---|---|---|\n"
        )
        out.extend(
            f"| `{f.name}` | {f.type.value} | {_cell(f.unit)} | {'yes' if f.always else 'no'} "
            f"| `{spec.name}_{f.name}` | {_cell(f.description)} |\n"
            for f in spec.fields
        )
    return "".join(out)


def _check_names() -> None:
    # Names are line-protocol and MetricsQL identifiers, so queries need no quoting.
    pattern = re.compile(r"^[a-z][a-z0-9_]*$")
    for spec in CATALOGUE.values():
        for name in (spec.name, *(t.name for t in spec.tags), *(f.name for f in spec.fields)):
            if not pattern.match(name):
                raise ValueError(f"catalogue name {name!r} is not a plain identifier")


_check_names()

if __name__ == "__main__":
    sys.stdout.write(render_markdown())
