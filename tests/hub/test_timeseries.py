"""The time-series writer against a real VictoriaMetrics: points arrive, outages spool, nothing
is lost or sent twice, and the ingest path never waits.

VictoriaMetrics accepts every line it can parse, so the refusals that InfluxDB answers (400 for a
bad point, 5xx, 401) are played by :class:`FakeInflux`, a small real HTTP server that speaks the
two InfluxDB 2 endpoints the hub uses.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.measurements import ingest_point, node_health_point, occupancy_point, sensor_point
from hub.timeseries import Point, TimeSeriesSettings, TimeSeriesWriter, delete_by_tag, epoch_ms
from tests.support.victoria import Series, VictoriaMetrics, victoria_metrics
from tests.support.waiting import wait_until
from vivant.config_file import parse_yaml
from vivant.wire.payloads import SensorKind, Telemetry

Sample = tuple[str, tuple[tuple[str, str], ...], int, float]


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A running VictoriaMetrics of this test's own."""
    with victoria_metrics(tmp_path / "vm") as server:
        yield server


@pytest.fixture
def stopped_victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics the test starts when it wants (its port is reserved, nothing listens)."""
    with victoria_metrics(tmp_path / "vm", started=False) as server:
        yield server


def settings_for(url: str, tmp_path: Path, **changes: Any) -> TimeSeriesSettings:
    """Settings for a test: short intervals, small batches, a spool in *tmp_path*."""
    values: dict[str, Any] = {
        "url": url,
        "server": "victoriametrics",
        "batch_size": 50,
        "flush_interval_s": 0.1,
        "retry_min_s": 0.05,
        "retry_max_s": 0.2,
        "timeout_s": 2,
        "spool_path": tmp_path / "spool.db",
    }
    values.update(changes)
    return TimeSeriesSettings.model_validate(values)


def start_ms() -> datetime:
    """Now, at a whole millisecond (what the wire contract carries)."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def readings(n: int, site: str = "ekilibre", start: datetime | None = None) -> list[Point]:
    """*n* CO2 readings one second apart, values 400, 401, …"""
    t0 = start or start_ms()
    return [
        sensor_point(site, "pi-1", "cuisine", SensorKind.CO2, 400 + i, t0 + timedelta(seconds=i))
        for i in range(n)
    ]


def expected(points: Iterable[Point]) -> Counter[Sample]:
    """The samples VictoriaMetrics should hold for *points*: one per field."""
    return Counter(
        (
            f"{p.measurement}_{name}",
            tuple(sorted(p.tags.items())),
            p.epoch_ms,
            float(value),
        )
        for p in points
        for name, value in p.fields.items()
    )


def stored(series: Iterable[Series]) -> Counter[Sample]:
    """The samples VictoriaMetrics holds, duplicates included."""
    return Counter(
        (
            s.name,
            tuple(sorted((k, v) for k, v in s.labels.items() if k != "__name__")),
            ts,
            value,
        )
        for s in series
        for ts, value in zip(s.timestamps_ms, s.values, strict=True)
    )


def wait_stored(server: VictoriaMetrics, selector: str, points: list[Point]) -> Counter[Sample]:
    """Wait until every expected sample is searchable, then return what is stored."""
    server.wait_for_samples(selector, sum(len(p.fields) for p in points))
    return stored(server.export(selector))


class FakeInflux:
    """InfluxDB 2's write and delete endpoints over real HTTP, with scripted refusals."""

    REFUSE = "refuse-me"
    """A batch containing this text is answered 400, as InfluxDB answers a bad line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.write_requests = 0
        self.fail_next: list[int] = []
        self.delay_s = 0.0
        self.deletes: list[tuple[dict[str, list[str]], dict[str, Any], str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                time.sleep(fake.delay_s)
                url = urlsplit(self.path)
                status = 204
                with lock:
                    if url.path == "/api/v2/write":
                        fake.write_requests += 1
                        if fake.fail_next:
                            status = fake.fail_next.pop(0)
                        elif fake.REFUSE in body:
                            status = 400
                        else:
                            fake.lines.extend(body.splitlines())
                    elif url.path == "/api/v2/delete":
                        fake.deletes.append(
                            (
                                parse_qs(url.query),
                                json.loads(body),
                                self.headers.get("Authorization"),
                            )
                        )
                    else:
                        status = 404
                self.send_response(status)
                if status == 204:
                    self.end_headers()
                    return
                reply = json.dumps({"code": "invalid", "message": f"status {status}"}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def influx() -> Iterator[FakeInflux]:
    """A fake InfluxDB 2 on a free port."""
    fake = FakeInflux()
    try:
        yield fake
    finally:
        fake.close()


# -- delivery ------------------------------------------------------------------------------


def test_points_arrive_with_their_values_tags_and_times(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    t0 = start_ms().replace(microsecond=123_000)
    telemetry = Telemetry(
        ts=epoch_ms(t0) - 30_000,
        version="1.2.0",
        uptime_s=3600,
        outbox_depth=2,
        dropped=1,
        cpu_temp_c=51.5,
        undervoltage=False,
        clock_synced=True,
    )
    points = [
        sensor_point("ekilibre", "pi-1", "cuisine", SensorKind.CO2, 812.5, t0),
        sensor_point("ekilibre", "pi-1", "cuisine", SensorKind.TEMPERATURE, 21.25, t0),
        sensor_point("ekilibre", "pi-1", "entree", SensorKind.PEOPLE_IN, 3, t0),
        occupancy_point(
            "ekilibre", "cuisine", 4, 0.75, ["sensor_offline"], t0 + timedelta(milliseconds=1)
        ),
        node_health_point("ekilibre", "pi-1", telemetry, True, t0 + timedelta(milliseconds=7)),
        node_health_point("ekilibre", "pi-2", None, False, t0 + timedelta(milliseconds=7)),
        ingest_point(
            "hub-1",
            t0 + timedelta(milliseconds=999),
            received=120,
            accepted=110,
            rejected=4,
            duplicates=5,
            failures=1,
            queue_depth=0,
            lag_s=0.0125,
        ),
    ]
    with TimeSeriesWriter(settings_for(victoria.url, tmp_path)) as writer:
        writer.write(points)
        wait_until(lambda: writer.stats.written == len(points), what="points written")

    site_points = [p for p in points if p.tags.get("site") == "ekilibre"]
    assert wait_stored(victoria, '{site="ekilibre"}', site_points) == expected(site_points)
    hub_points = [p for p in points if "hub" in p.tags]
    assert wait_stored(victoria, '{hub="hub-1"}', hub_points) == expected(hub_points)
    # Spot checks of the naming, for the reader: <measurement>_<field>, booleans as 0/1.
    names = {name for name, *_ in expected(points)}
    assert {"sensor_co2", "occupancy_flag_sensor_offline", "node_health_online"} <= names
    assert writer.stats.spool_depth == 0
    assert writer.stats.failed_batches == 0


def test_stop_sends_what_is_still_in_memory(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    points = readings(3)
    writer = TimeSeriesWriter(settings_for(victoria.url, tmp_path, flush_interval_s=60))
    writer.start()
    writer.write(points)
    writer.stop(timeout=5)
    assert writer.stats.written == 3
    assert wait_stored(victoria, '{__name__="sensor_co2"}', points) == expected(points)


# -- outages -------------------------------------------------------------------------------


def test_server_down_at_start_spools_then_delivers_everything_once(
    stopped_victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    points = readings(120)
    with TimeSeriesWriter(settings_for(stopped_victoria.url, tmp_path)) as writer:
        writer.write(points)
        wait_until(lambda: writer.stats.spool_depth == 120, what="points spooled")
        assert writer.stats.written == 0
        assert writer.stats.failed_batches >= 1

        stopped_victoria.start()
        wait_until(
            lambda: writer.stats.written == 120 and writer.stats.spool_depth == 0,
            within=10,
            what="spool drained",
        )
    assert wait_stored(stopped_victoria, '{__name__="sensor_co2"}', points) == expected(points)
    assert writer.stats.dropped == 0


def test_server_stopped_mid_run_loses_nothing_and_sends_nothing_twice(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    before, during, after = (
        readings(30, start=start_ms() + timedelta(minutes=m)) for m in (0, 1, 2)
    )
    with TimeSeriesWriter(settings_for(victoria.url, tmp_path)) as writer:
        writer.write(before)
        wait_until(lambda: writer.stats.written == 30, what="first points written")

        victoria.stop()
        writer.write(during)
        wait_until(lambda: writer.stats.spool_depth == 30, what="points spooled")

        victoria.start()
        wait_until(lambda: writer.stats.spool_depth == 0, within=10, what="spool drained")
        writer.write(after)
        wait_until(lambda: writer.stats.written == 90, what="all points written")

    everything = before + during + after
    assert wait_stored(victoria, '{__name__="sensor_co2"}', everything) == expected(everything)


def test_a_server_that_does_not_answer_counts_as_down(tmp_path: Path) -> None:
    with socket.socket() as silent:
        # Listens (the connection is accepted by the kernel) but never answers: a hung server.
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = settings_for(url, tmp_path, timeout_s=0.3)
        with TimeSeriesWriter(settings) as writer:
            writer.write(readings(5))
            wait_until(lambda: writer.stats.spool_depth == 5, what="points spooled")
            assert writer.stats.failed_batches >= 1


def test_the_spool_survives_a_writer_restart(
    stopped_victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    points = readings(40)
    settings = settings_for(stopped_victoria.url, tmp_path, flush_interval_s=60)
    first = TimeSeriesWriter(settings)
    first.start()
    first.write(points)
    first.stop(timeout=2)
    assert first.stats.spool_depth == 40
    assert first.stats.written == 0

    stopped_victoria.start()
    with TimeSeriesWriter(settings) as second:
        wait_until(
            lambda: second.stats.written == 40 and second.stats.spool_depth == 0,
            within=10,
            what="spooled points sent",
        )
    assert wait_stored(stopped_victoria, '{__name__="sensor_co2"}', points) == expected(points)


def test_a_full_spool_drops_its_oldest_points_and_counts_them(
    stopped_victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    points = readings(8)
    settings = settings_for(stopped_victoria.url, tmp_path, spool_max_points=5)
    with TimeSeriesWriter(settings) as writer:
        writer.write(points)
        wait_until(lambda: writer.stats.spooled == 8, what="points spooled")
        assert writer.stats.spool_depth == 5
        assert writer.stats.dropped == 3

        stopped_victoria.start()
        wait_until(lambda: writer.stats.written == 5, within=10, what="spool drained")
    assert wait_stored(stopped_victoria, '{__name__="sensor_co2"}', points[3:]) == expected(
        points[3:]
    )


def test_a_full_memory_buffer_drops_its_oldest_points_and_counts_them(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    points = readings(150)
    writer = TimeSeriesWriter(settings_for(victoria.url, tmp_path, buffer_max_points=100))
    writer.write(points)  # not started yet: everything waits in memory
    assert (writer.stats.buffered, writer.stats.dropped) == (100, 50)
    with writer:
        wait_until(lambda: writer.stats.written == 100, what="points written")
    assert wait_stored(victoria, '{__name__="sensor_co2"}', points[50:]) == expected(points[50:])


# -- the caller's side ---------------------------------------------------------------------


def test_write_never_blocks_nor_raises_with_the_server_down(
    stopped_victoria: VictoriaMetrics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Iterator[Point]:
        raise RuntimeError("a bug upstream")
        yield  # a generator

    points = readings(2000)
    slowest = 0.0
    with TimeSeriesWriter(settings_for(stopped_victoria.url, tmp_path)) as writer:
        for point in points:
            began = time.perf_counter()
            writer.write([point])
            slowest = max(slowest, time.perf_counter() - began)
        with caplog.at_level(logging.ERROR, logger="hub.timeseries"):
            writer.write(broken())
        wait_until(lambda: writer.stats.spool_depth == 2000, what="points spooled")
    assert slowest < 0.1
    assert "time-series write failed" in caplog.text


def test_live_points_are_not_starved_while_the_spool_drains(
    influx: FakeInflux, tmp_path: Path
) -> None:
    influx.fail_next = [503]
    influx.delay_s = 0.02  # 20 spooled batches take at least 0.4 s to drain
    spooled = readings(200)
    live = readings(1, site="rooftop")
    settings = settings_for(
        influx.url, tmp_path, server="influxdb", batch_size=10, flush_interval_s=0.05
    )
    with TimeSeriesWriter(settings) as writer:
        writer.write(spooled)
        wait_until(lambda: writer.stats.spooled == 200, what="points spooled")
        wait_until(lambda: writer.stats.written > 0, what="recovery")
        writer.write(live)
        wait_until(lambda: writer.stats.written == 201, what="all points written")
    assert len(influx.lines) == 201
    assert influx.lines.index(live[0].to_line_protocol()) < len(influx.lines) - 50


def test_stop_without_start_counts_the_buffer_as_dropped(tmp_path: Path) -> None:
    writer = TimeSeriesWriter(settings_for("http://127.0.0.1:9", tmp_path))
    writer.write(readings(3))
    writer.stop()
    assert (writer.stats.buffered, writer.stats.dropped) == (0, 3)


def test_write_after_stop_is_counted_as_dropped(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    writer = TimeSeriesWriter(settings_for(victoria.url, tmp_path))
    writer.start()
    writer.stop()
    writer.write(readings(3))
    assert writer.stats.dropped == 3


def test_a_disabled_writer_does_nothing(tmp_path: Path) -> None:
    settings = settings_for("http://127.0.0.1:9", tmp_path, enabled=False)
    with TimeSeriesWriter(settings) as writer:
        writer.write(readings(3))
        assert writer.stats.buffered == 0
    assert not settings.spool_path.exists()


# -- refusals (InfluxDB semantics, played by FakeInflux) -------------------------------------


def test_refused_points_are_isolated_counted_and_never_retried(
    influx: FakeInflux, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    points = readings(7)
    bad = sensor_point("ekilibre", "pi-1", FakeInflux.REFUSE, SensorKind.CO2, 1, start_ms())
    batch = [*points[:3], bad, *points[3:]]
    settings = settings_for(influx.url, tmp_path, server="influxdb")
    with (
        caplog.at_level(logging.WARNING, logger="hub.timeseries"),
        TimeSeriesWriter(settings) as writer,
    ):
        writer.write(batch)
        wait_until(
            lambda: (writer.stats.rejected, writer.stats.written) == (1, 7),
            what="batch settled",
        )
        requests = influx.write_requests
        time.sleep(0.3)  # several flush intervals: nothing is retried
        assert influx.write_requests == requests
    assert sorted(influx.lines) == sorted(p.to_line_protocol() for p in points)
    assert (writer.stats.failed_batches, writer.stats.spool_depth) == (0, 0)
    assert FakeInflux.REFUSE in caplog.text


@pytest.mark.parametrize("status", [500, 503, 429, 401, 404])
def test_server_errors_and_wrong_credentials_are_spooled_and_retried(
    influx: FakeInflux, tmp_path: Path, status: int
) -> None:
    influx.fail_next = [status, status]
    points = readings(10)
    with TimeSeriesWriter(settings_for(influx.url, tmp_path, server="influxdb")) as writer:
        writer.write(points)
        wait_until(lambda: writer.stats.written == 10, within=5, what="points written")
    assert writer.stats.failed_batches == 2
    assert writer.stats.rejected == 0
    assert sorted(influx.lines) == sorted(p.to_line_protocol() for p in points)


# -- deletion ------------------------------------------------------------------------------


def test_delete_by_tag_on_victoria_metrics(victoria: VictoriaMetrics, tmp_path: Path) -> None:
    t0 = start_ms()
    points = [
        *readings(3, site="ekilibre", start=t0),
        *readings(3, site="rooftop", start=t0),
        occupancy_point("ekilibre", "cuisine", 2, 1.0, [], t0),
    ]
    settings = settings_for(victoria.url, tmp_path)
    with TimeSeriesWriter(settings) as writer:
        writer.write(points)
        wait_until(lambda: writer.stats.written == len(points), what="points written")
    wait_stored(victoria, '{site=~"ekilibre|rooftop"}', points)

    delete_by_tag(settings, {"site": "ekilibre"}, measurement="sensor")
    occupancy = points[-1]
    assert {s.name for s in victoria.export('{site="ekilibre"}')} == {
        f"occupancy_{name}" for name in occupancy.fields
    }
    delete_by_tag(settings, {"site": "ekilibre"})
    assert victoria.export('{site="ekilibre"}') == []
    rooftop = [p for p in points if p.tags["site"] == "rooftop"]
    assert stored(victoria.export('{site="rooftop"}')) == expected(rooftop)


def test_delete_by_tag_on_influxdb_sends_a_predicate(influx: FakeInflux, tmp_path: Path) -> None:
    settings = settings_for(influx.url, tmp_path, server="influxdb", token="s3cret")
    delete_by_tag(settings, {"site": "ekilibre", "node": "pi-1"}, measurement="node_health")
    [(query, body, authorization)] = influx.deletes
    assert query == {"org": ["vivant"], "bucket": ["vivant"]}
    assert body["predicate"] == '_measurement="node_health" AND site="ekilibre" AND node="pi-1"'
    assert body["start"].startswith("1970-01-01T00:00:00")
    assert body["stop"].startswith("2100-01-01T00:00:00")
    assert authorization == "Token s3cret"


@pytest.mark.parametrize(
    ("tags", "measurement"),
    [({}, None), ({"site": 'a" OR site="b'}, None), ({"si te": "a"}, None), ({"site": "a"}, "x y")],
)
def test_delete_by_tag_refuses_what_it_cannot_match_exactly(
    tags: dict[str, str], measurement: str | None, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        delete_by_tag(settings_for("http://127.0.0.1:9", tmp_path), tags, measurement)


# -- points and settings -------------------------------------------------------------------


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5))]
        ),
    )
)
def test_line_protocol_times_are_exact_milliseconds(ts: datetime) -> None:
    ts = ts.replace(microsecond=ts.microsecond // 1000 * 1000)
    line = Point("sensor", {"site": "a"}, {"co2": 1.5}, ts).to_line_protocol()
    ms = int(line.rsplit(" ", 1)[1])
    assert datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000) == ts


def test_line_protocol_types() -> None:
    ts = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    point = Point("t", {"site": "a b"}, {"n": 3, "ok": True, "x": 2.5}, ts)
    assert point.to_line_protocol() == r"t,site=a\ b n=3i,ok=true,x=2.5 1767323045678"


@pytest.mark.parametrize(
    ("tags", "fields", "ts"),
    [
        ({"site": "a"}, {"x": 1.0}, datetime(2026, 1, 1)),  # naive
        ({"site": "a"}, {}, datetime(2026, 1, 1, tzinfo=UTC)),
        ({"site": ""}, {"x": 1.0}, datetime(2026, 1, 1, tzinfo=UTC)),
        ({"site": "a"}, {"x": float("nan")}, datetime(2026, 1, 1, tzinfo=UTC)),
        ({"site": "a"}, {"x": float("inf")}, datetime(2026, 1, 1, tzinfo=UTC)),
        ({"site": "a"}, {"bad name": 1.0}, datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_points_refuse_what_line_protocol_would_drop_silently(
    tags: dict[str, str], fields: dict[str, float], ts: datetime
) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        Point("sensor", tags, dict(fields), ts)


def test_settings_from_yaml_with_a_secret_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIVANT_TEST_INFLUX_TOKEN", "s3cr3t-value")
    settings = parse_yaml(
        "url: http://influx:8086/\ntoken: {env: VIVANT_TEST_INFLUX_TOKEN}\nbucket: b\n",
        TimeSeriesSettings,
    )
    assert settings.url == "http://influx:8086"
    assert settings.token is not None
    assert settings.token.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(settings)


@pytest.mark.parametrize(
    "values",
    [
        {"url": "influx:8086"},
        {"url": "ftp://influx"},
        {"url": "http://influx:99999"},
        {"batch_size": 0},
        {"retry_min_s": 10, "retry_max_s": 1},
        {"bukket": "typo"},
    ],
)
def test_settings_refuse_mistakes(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TimeSeriesSettings.model_validate(values)
