"""The catalogue is the contract: builders follow it, the documentation is it, nobody is named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.measurements import (
    CATALOGUE,
    OCCUPANCY_FLAGS,
    FieldType,
    catalogue_as_dict,
    ingest_point,
    node_health_point,
    occupancy_point,
    render_markdown,
    sensor_point,
)
from hub.occupancy import OccupancyFlag
from hub.timeseries import Point, epoch_ms
from vivant.wire.payloads import SensorKind, Telemetry

ROOT = Path(__file__).resolve().parents[2]
TS = datetime(2026, 3, 4, 9, 30, 0, 250_000, tzinfo=UTC)


def full_telemetry() -> Telemetry:
    return Telemetry(
        ts=epoch_ms(TS) - 12_345,
        version="1.0.0",
        uptime_s=86_400,
        outbox_depth=3,
        dropped=0,
        cpu_temp_c=48.0,
        undervoltage=True,
        clock_synced=False,
    )


def sample_points() -> list[Point]:
    """At least one point per builder, with every optional value both present and absent."""
    return [
        *(sensor_point("ekilibre", "pi-1", "cuisine", kind, 1, TS) for kind in SensorKind),
        occupancy_point("ekilibre", "cuisine", 0, 0.0, [], TS),
        occupancy_point("ekilibre", "cuisine", 7, 0.9, [*OCCUPANCY_FLAGS, "new_flag"], TS),
        node_health_point("ekilibre", "pi-1", None, False, TS),
        node_health_point("ekilibre", "pi-1", full_telemetry(), True, TS),
        node_health_point(
            "ekilibre",
            "pi-1",
            Telemetry(ts=epoch_ms(TS), version="1", uptime_s=1, outbox_depth=0, dropped=0),
            True,
            TS,
        ),
        ingest_point(
            "hub-1",
            TS,
            received=10,
            accepted=8,
            rejected=1,
            duplicates=1,
            failures=0,
            queue_depth=2,
            lag_s=0.004,
        ),
        ingest_point(
            "hub-1",
            TS,
            received=0,
            accepted=0,
            rejected=0,
            duplicates=0,
            failures=0,
            queue_depth=0,
            lag_s=None,
        ),
    ]


@pytest.mark.parametrize("point", sample_points(), ids=lambda p: p.measurement)
def test_every_builder_follows_the_catalogue(point: Point) -> None:
    assert point.measurement in CATALOGUE
    assert CATALOGUE[point.measurement].problems(point) == []


def test_every_field_of_the_catalogue_is_written_by_some_builder() -> None:
    written = {(p.measurement, name) for p in sample_points() for name in p.fields}
    declared = {(m.name, f.name) for m in CATALOGUE.values() for f in m.fields}
    assert written == declared


def test_problems_are_reported() -> None:
    spec = CATALOGUE["occupancy"]
    point = Point("occupancy", {"site": "a"}, {"count": 1.5, "colour": 1}, TS)
    assert spec.problems(point) == [
        "tags ['site'] are not ['room', 'site']",
        "field 'count'=1.5 is not integer",
        "unknown field 'colour'",
        "field 'confidence' missing",
        *(f"field 'flag_{flag.value}' missing" for flag in OccupancyFlag),
        "field 'flags_other' missing",
    ]


def test_sensor_readings_use_one_field_per_kind_with_its_type() -> None:
    co2 = sensor_point("s", "n", "r", SensorKind.CO2, 812, TS)
    motion = sensor_point("s", "n", "r", SensorKind.MOTION, 1.0, TS)
    assert co2.fields == {"co2": 812.0}
    assert isinstance(co2.fields["co2"], float)
    assert motion.fields == {"motion": 1}
    assert type(motion.fields["motion"]) is int
    assert co2.tags == {"site": "s", "room": "r", "node": "n"}
    with pytest.raises(ValueError, match="whole number"):
        sensor_point("s", "n", "r", SensorKind.PEOPLE_IN, 1.5, TS)


def test_occupancy_flags_are_booleans_and_unknown_ones_are_counted() -> None:
    point = occupancy_point("s", "r", 3, 0.5, ["counter_corrected", "brand_new", "other"], TS)
    assert point.fields == {
        "count": 3,
        "confidence": 0.5,
        "flag_sensor_offline": False,
        "flag_counter_corrected": True,
        "flag_counter_drift": False,
        "flag_estimate_capped": False,
        "flag_no_data": False,
        "flags_other": 2,
    }


def test_every_occupancy_flag_has_a_field() -> None:
    fields = {f.name for f in CATALOGUE["occupancy"].fields}
    assert {f"flag_{flag.value}" for flag in OccupancyFlag} <= fields


def test_node_health_carries_the_telemetry_and_its_age() -> None:
    point = node_health_point("s", "pi-1", full_telemetry(), True, TS + timedelta(seconds=1))
    assert point.fields == {
        "online": True,
        "uptime_s": 86_400,
        "outbox_depth": 3,
        "dropped": 0,
        "cpu_temp_c": 48.0,
        "undervoltage": True,
        "clock_synced": False,
        "telemetry_age_s": 13.345,
    }
    assert node_health_point("s", "pi-1", None, False, TS).fields == {"online": False}


def test_no_tag_or_field_can_name_a_person() -> None:
    tags = {t.name for m in CATALOGUE.values() for t in m.tags}
    assert tags == {"site", "room", "node", "hub"}
    names = tags | {f.name for m in CATALOGUE.values() for f in m.fields}
    personal = ("member", "person", "user", "credential", "badge", "tag_id", "mac", "irk", "name")
    assert [n for n in names if any(word in n for word in personal)] == []


def test_no_field_is_a_string_victoria_metrics_would_drop() -> None:
    assert [p for p in sample_points() if any(isinstance(v, str) for v in p.fields.values())] == []
    assert {f.type for m in CATALOGUE.values() for f in m.fields} == set(FieldType)


def test_the_catalogue_is_machine_readable() -> None:
    data = json.loads(json.dumps(catalogue_as_dict()))
    assert set(data) == {"sensor", "occupancy", "node_health", "ingest"}
    assert data["sensor"]["fields"]["co2"] == {
        "type": "float",
        "unit": "ppm",
        "always": False,
        "description": "CO2 concentration.",
    }
    assert list(data["node_health"]["tags"]) == ["site", "node"]


def test_measurements_md_is_the_catalogue() -> None:
    path = ROOT / "dashboards" / "MEASUREMENTS.md"
    assert path.read_text(encoding="utf-8") == render_markdown(), (
        "dashboards/MEASUREMENTS.md is out of date: run "
        ".venv/bin/python -m hub.measurements > dashboards/MEASUREMENTS.md"
    )


def test_measurements_md_lists_exactly_the_catalogue() -> None:
    # Independent of the renderer: every documented `measurement` and field row is in the
    # catalogue and the other way round.
    text = (ROOT / "dashboards" / "MEASUREMENTS.md").read_text(encoding="utf-8")
    documented: set[tuple[str, str]] = set()
    measurement = ""
    for line in text.splitlines():
        if line.startswith("## `"):
            measurement = line.split("`")[1]
        elif line.startswith("| `"):
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if len(cells) == 6:
                documented.add((measurement, cells[0]))
    declared = {(m.name, f.name) for m in CATALOGUE.values() for f in m.fields}
    assert documented == declared
