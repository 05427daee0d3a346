"""The Grafana dashboards query only what the hub writes.

The truth is :data:`hub.measurements.CATALOGUE` (what the builders are tested to produce), not
a list copied here: every Flux query is parsed for the measurements, fields and tags it names,
and each must be in the catalogue. A Prometheus metric named anywhere in a dashboard must be one
that :class:`hub.metrics.HubMetrics` registers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.measurements import CATALOGUE, MeasurementSpec
from hub.metrics import HubMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
DATASOURCE_UID = "vivant-influxdb"

# Columns every Flux table has, whatever the measurement.
FLUX_COLUMNS = {"_time", "_value", "_field", "_measurement", "_start", "_stop"}
MEASUREMENT = re.compile(r'r\._measurement\s*==\s*"([^"]*)"')
# schema.measurementTagValues(measurement: "name", …) in template variables.
MEASUREMENT_ARGUMENT = re.compile(r'\bmeasurement:\s*"([^"]*)"')
FIELD = re.compile(r'r\._field\s*==\s*"([^"]*)"')
RECORD_COLUMN = re.compile(r"\br\.([A-Za-z_][A-Za-z0-9_]*)")
COLUMN_LISTS = re.compile(r"columns:\s*\[([^\]]*)\]")
NAMED_COLUMN = re.compile(r'\b(?:tag|column|columnKey|rowKey):\s*"([^"]*)"')
PROMETHEUS_NAME = re.compile(r"\bvivant_[a-z0-9_]+\b")


@dataclass(frozen=True)
class Query:
    """One Flux query of a dashboard, and where it is."""

    where: str
    text: str


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(path: Path) -> list[Query]:
    dashboard = load(path)
    found = [
        Query(f"{path.name}: panel {panel['title']!r}", target["query"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
    found += [
        Query(f"{path.name}: variable {variable['name']}", variable["query"])
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    return found


ALL_QUERIES = [query for path in DASHBOARDS for query in queries(path)]


def references(text: str) -> tuple[set[str], set[str], set[str]]:
    """(measurements, fields, other columns) a Flux query names."""
    measurements = set(MEASUREMENT.findall(text)) | set(MEASUREMENT_ARGUMENT.findall(text))
    fields = set(FIELD.findall(text))
    columns = {name for name in RECORD_COLUMN.findall(text)} - {"_measurement", "_field"}
    for listed in COLUMN_LISTS.findall(text):
        columns |= set(re.findall(r'"([^"]*)"', listed))
    columns |= set(NAMED_COLUMN.findall(text))
    return measurements, fields, columns - FLUX_COLUMNS


def problems(text: str) -> list[str]:
    """What in *text* the hub does not write (empty: the query is sound)."""
    measurements, fields, columns = references(text)
    found = []
    # Every mention of _measurement / r._field must be a comparison the parser understood.
    if text.count("r._measurement") != len(MEASUREMENT.findall(text)):
        found.append('_measurement used other than as r._measurement == "name"')
    if text.count("r._field") != len(FIELD.findall(text)):
        found.append('r._field used other than as r._field == "name"')
    if not measurements:
        found.append("names no measurement")
    specs: list[MeasurementSpec] = []
    for name in sorted(measurements):
        spec = CATALOGUE.get(name)
        if spec is None:
            found.append(f"unknown measurement {name!r}")
        else:
            specs.append(spec)
    known_fields = {f.name for spec in specs for f in spec.fields}
    known_tags = {t.name for spec in specs for t in spec.tags}
    found += [f"unknown field {f!r}" for f in sorted(fields - known_fields)]
    found += [f"unknown tag {c!r}" for c in sorted(columns - known_tags)]
    return found


def test_there_are_dashboards_for_each_subject() -> None:
    names = {path.stem for path in DASHBOARDS}
    assert names == {"occupancy", "environment", "nodes", "ingest"}
    written = {name for query in ALL_QUERIES for name in MEASUREMENT.findall(query.text)}
    assert written == set(CATALOGUE), "a measurement the hub writes has no dashboard"


@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.where)
def test_query_names_only_what_the_hub_writes(query: Query) -> None:
    assert problems(query.text) == []


def test_environment_shows_co2_temperature_humidity() -> None:
    fields = {
        f for q in queries(ROOT / "dashboards" / "environment.json") for f in FIELD.findall(q.text)
    }
    assert fields == {"co2", "temperature", "humidity"}


def test_the_checker_catches_what_the_hub_does_not_write() -> None:
    sound = (
        "from(bucket: v.defaultBucket)"
        ' |> filter(fn: (r) => r._measurement == "sensor" and r._field == "co2" and r.room == "x")'
        ' |> group(columns: ["site"])'
    )
    assert problems(sound) == []
    assert problems(sound.replace('"co2"', '"co2_ppm"')) == ["unknown field 'co2_ppm'"]
    assert problems(sound.replace("r.room", "r.member")) == ["unknown tag 'member'"]
    assert problems(sound.replace('"sensor"', '"sensors"')) == [
        "unknown measurement 'sensors'",
        "unknown field 'co2'",
        "unknown tag 'room'",
        "unknown tag 'site'",
    ]
    assert problems(sound.replace('columns: ["site"]', 'columns: ["node", "kind"]')) == [
        "unknown tag 'kind'"
    ]
    # A field of another measurement is not a field of this one.
    assert problems(sound.replace('"co2"', '"count"')) == ["unknown field 'count'"]
    assert "names no measurement" in problems("from(bucket: v.defaultBucket)")
    variable = (
        'schema.measurementTagValues(bucket: v.defaultBucket, measurement: "ingest", tag: "hub")'
    )
    assert problems(variable) == []
    assert problems(variable.replace('"hub"', '"site"')) == ["unknown tag 'site'"]
    assert problems(sound.replace('r._field == "co2"', "r._field =~ /co/")) == [
        'r._field used other than as r._field == "name"'
    ]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_uses_the_provisioned_datasource(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["uid"].startswith("vivant-")
    for panel in panels(dashboard):
        assert panel["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
    provisioned = (ROOT / "deploy/grafana/provisioning/datasources/influxdb.yaml").read_text(
        encoding="utf-8"
    )
    assert f"uid: {DATASOURCE_UID}" in provisioned


def test_prometheus_names_exist_in_hub_metrics() -> None:
    registered = {
        sample.name for family in HubMetrics().registry.collect() for sample in family.samples
    } | {family.name for family in HubMetrics().registry.collect()}
    named = {
        name
        for path in DASHBOARDS
        for name in PROMETHEUS_NAME.findall(path.read_text(encoding="utf-8"))
    }
    assert named <= registered, sorted(named - registered)
    assert "vivant_messages_rejected_total" in named  # the ingest dashboard points to /metrics
    assert "vivant_messages_rejected_totals" not in registered
