"""The hub's time-series output: points to InfluxDB (or VictoriaMetrics), off the ingest path.

The ingest path must never wait for, or fail because of, the time-series server: it calls
:meth:`TimeSeriesWriter.write`, which only appends to a bounded in-memory buffer and returns. A
background thread sends the buffer in batches with influxdb-client's *synchronous* write API. We
do not use the client's own batching API: it retries in a reactive pipeline and, once its retries
are spent, hands the batch to a callback with no back-pressure and no durable place to put it;
here every failure has a defined outcome.

* The server is down, times out, answers 5xx / 429, or refuses our credentials or bucket (401,
  403, 404: an operator fixes those): the batch goes to a disk spool (SQLite in WAL mode, one row
  per point, oldest first) and is retried with exponential backoff. While the server is down,
  newly buffered points join the spool at every flush tick, so a hub that dies meanwhile loses at
  most one flush interval of points.
* The server refuses a point (400, 413, 422): the batch is split in halves until the offending
  points are isolated; those are counted in ``rejected`` and logged, never retried. Resending the
  good half is safe on InfluxDB, where a point with the same series and time overwrites itself.
* On recovery the spool is drained one batch at a time, alternating with live batches, so
  live points wait at most one spooled batch and one flush interval.
* Each bound (memory buffer, spool) drops its *oldest* points when full and counts them in
  ``dropped``: the newest data is the most useful on a dashboard, and nothing is lost silently.

Delivery is at least once: a crash between the server's answer and the spool's delete resends a
batch. InfluxDB overwrites identical points; VictoriaMetrics keeps both unless run with
``-dedup.minScrapeInterval=1ms``.

Timestamps are sent with millisecond precision (the wire contract's). We pass influxdb-client an
integer epoch-millisecond time because its datetime conversion goes through a float and lands one
millisecond early for about one timestamp in eight (influxdb-client 1.50).

:func:`delete_by_tag` removes series for erasure or decommissioning; InfluxDB and VictoriaMetrics
have different deletion APIs, chosen by :attr:`TimeSeriesSettings.server`.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self, cast
from urllib.parse import urlsplit

import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point as InfluxPoint
from influxdb_client.client.write_api import SYNCHRONOUS, WriteApi
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from pydantic import Field, field_validator, model_validator

from hub.metrics import LogLimiter
from vivant.config_file import Secret, StrictModel

log = logging.getLogger(__name__)

FieldValue = float | int | bool | str
"""A field value as InfluxDB stores it (VictoriaMetrics keeps numbers and booleans only)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# The end of time for a deletion: the wire contract refuses timestamps after 2100.
_DELETE_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)
# Statuses that mean "this content is wrong": retrying the same bytes cannot succeed.
_REFUSED = frozenset({400, 413, 422})
# influxdb-client declares its precisions as plain strings but annotates parameters with the
# class; the cast states what the library means.
_PRECISION = cast(WritePrecision, WritePrecision.MS)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class TimeSeriesServer(StrEnum):
    """Which server answers at the URL: writes are the same, deletion is not."""

    INFLUXDB = "influxdb"
    VICTORIAMETRICS = "victoriametrics"


class TimeSeriesSettings(StrictModel):
    """Where and how the hub writes its time series."""

    enabled: bool = Field(default=True, description="Write time series at all.")
    url: str = Field(
        default="http://127.0.0.1:8086",
        description="Base URL of the server: http(s)://host:port (8086 InfluxDB, 8428 VM).",
    )
    server: TimeSeriesServer = Field(
        default=TimeSeriesServer.INFLUXDB,
        description="influxdb (InfluxDB 2) or victoriametrics; only deletion differs.",
    )
    org: str = Field(default="vivant", min_length=1, description="InfluxDB organisation.")
    bucket: str = Field(default="vivant", min_length=1, description="InfluxDB bucket.")
    token: Secret | None = Field(
        default=None, description="API token: {env: NAME} or {file: PATH}; none if unset."
    )
    batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Points per write request at most."
    )
    flush_interval_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Longest a point waits in memory before it is sent (or spooled).",
    )
    buffer_max_points: int = Field(
        default=50_000,
        ge=1,
        description="Points held in memory at most; the oldest are dropped (and counted) beyond.",
    )
    spool_path: Path = Field(
        default=Path("timeseries-spool.db"),
        description="SQLite file holding points the server could not take yet.",
    )
    spool_max_points: int = Field(
        default=500_000,
        ge=1,
        description="Points kept in the spool at most (about 150 bytes each); oldest dropped.",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=300, description="HTTP request timeout.")
    retry_min_s: float = Field(
        default=1.0, gt=0, description="First wait before retrying an unreachable server."
    )
    retry_max_s: float = Field(
        default=60.0, gt=0, description="Longest wait between retries (the backoff doubles)."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must look like http://host:8086 or https://host")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("port must be a number from 1 to 65535") from None
        return value.rstrip("/")

    @model_validator(mode="after")
    def _retry_bounds(self) -> TimeSeriesSettings:
        if self.retry_max_s < self.retry_min_s:
            raise ValueError("retry_max_s must be at least retry_min_s")
        return self


@dataclass(frozen=True)
class Point:
    """One time-series point: what was measured (fields), where (tags) and when (ts).

    Build points with the functions of :mod:`hub.measurements`, which follow the catalogue.
    Values the line protocol cannot carry (an empty tag, NaN) are refused here rather than
    silently dropped by the encoder.
    """

    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    ts: datetime

    def __post_init__(self) -> None:
        if not _is_name(self.measurement):
            raise ValueError(f"measurement {self.measurement!r}: use letters, digits and _")
        if self.ts.tzinfo is None or self.ts.utcoffset() is None:
            raise ValueError("ts must be timezone-aware")
        if not self.fields:
            raise ValueError(f"{self.measurement}: a point needs at least one field")
        for key, tag in self.tags.items():
            if not _is_name(key) or not isinstance(tag, str) or not tag:
                raise ValueError(f"{self.measurement}: bad tag {key!r}={tag!r}")
        for key, value in self.fields.items():
            if not _is_name(key) or not isinstance(value, float | int | bool | str):
                raise ValueError(f"{self.measurement}: bad field {key!r}={value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{self.measurement}: field {key} is not finite")

    @property
    def epoch_ms(self) -> int:
        """The time in whole epoch milliseconds."""
        return epoch_ms(self.ts)

    def to_line_protocol(self) -> str:
        """This point as one line of InfluxDB line protocol, millisecond precision."""
        # from_dict is the library's annotated entry point (Point's builder methods are not).
        point = InfluxPoint.from_dict(
            {
                "measurement": self.measurement,
                "tags": self.tags,
                "fields": self.fields,
                "time": self.epoch_ms,
            },
            write_precision=_PRECISION,
        )
        line: str = point.to_line_protocol()
        return line


def epoch_ms(ts: datetime) -> int:
    """An aware datetime in whole epoch milliseconds, by exact integer arithmetic."""
    return (ts - EPOCH) // _MS


def _is_name(name: object) -> bool:
    return isinstance(name, str) and _valid_name(name)


@functools.lru_cache(maxsize=1024)
def _valid_name(name: str) -> bool:
    """Measurement, tag and field names come from a short catalogue: checked once each."""
    return bool(name) and not name[0].isdigit() and set(name) <= _NAME_CHARS


@dataclass(frozen=True)
class TimeSeriesStats:
    """What the writer has done since it was created (the lead maps these to /metrics)."""

    written: int = 0
    """Points the server accepted."""
    spooled: int = 0
    """Points put in the disk spool (cumulative)."""
    spool_depth: int = 0
    """Points waiting in the disk spool now."""
    buffered: int = 0
    """Points waiting in memory now."""
    dropped: int = 0
    """Points lost because the memory buffer or the spool was full (oldest first)."""
    rejected: int = 0
    """Points the server refused as invalid (HTTP 400, 413, 422); never retried."""
    failed_batches: int = 0
    """Write requests that failed and will be retried (server down, timeout, 5xx, …)."""


class _Spool:
    """Points the server could not take yet, oldest first, in an SQLite file.

    One row per line of line protocol: the bound is counted in points, and a partly delivered
    batch is removed row by row. ``AUTOINCREMENT`` keeps ids growing, so id order is age order.
    Only the writer's thread uses it once the writer has started.
    """

    def __init__(self, path: Path, max_points: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._max = max_points
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the hub; a power cut may lose the
            # last commits, which is acceptable for dashboards.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS points ("
                "id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)"
            )
            self.depth: int = self._db.execute("SELECT count(*) FROM points").fetchone()[0]
        except sqlite3.Error:
            self._db.close()
            raise

    def append(self, lines: Sequence[str]) -> int:
        """Add *lines* at the end; return how many of the oldest were dropped to stay bounded."""
        excess = max(0, self.depth + len(lines) - self._max)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO points (line) VALUES (?)", ((x,) for x in lines))
            if excess:
                self._db.execute(
                    "DELETE FROM points WHERE id IN (SELECT id FROM points ORDER BY id LIMIT ?)",
                    (excess,),
                )
        self.depth += len(lines) - excess
        return excess

    def head(self, limit: int) -> list[tuple[int, str]]:
        """The *limit* oldest points, as (id, line)."""
        rows = self._db.execute("SELECT id, line FROM points ORDER BY id LIMIT ?", (limit,))
        return [(int(row[0]), str(row[1])) for row in rows]

    def remove_through(self, last_id: int) -> None:
        """Forget every point up to and including *last_id*."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            removed = self._db.execute("DELETE FROM points WHERE id <= ?", (last_id,)).rowcount
        self.depth -= removed

    def close(self) -> None:
        """Close the file (the points stay in it for the next writer)."""
        self._db.close()


class TimeSeriesWriter:
    """Sends points to the time-series server in batches from a background thread.

    ``write`` may be called from any thread (the event loop included) before, during or after
    ``start``; points written before ``start`` wait in memory, points written after ``stop``
    are counted as dropped. A writer starts once; one writer at a time uses a spool file.
    """

    def __init__(self, settings: TimeSeriesSettings) -> None:
        self.settings = settings
        self._cond = threading.Condition()
        self._buffer: deque[Point] = deque()
        self._stats = TimeSeriesStats()
        self._spool: _Spool | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._stopped = False
        self._stop_deadline = math.inf
        self._next_flush = 0.0
        self._retry_at: float | None = None
        self._backoff = settings.retry_min_s
        self._write_limiter = LogLimiter(log)
        self._limiter = LogLimiter(log)

    # -- the caller's side ---------------------------------------------------------------

    def write(self, points: Iterable[Point]) -> None:
        """Queue *points* for sending; never blocks on I/O and never raises."""
        if not self.settings.enabled:
            return
        try:
            items = list(points)
            with self._cond:
                if self._stopped:
                    self._count(dropped=len(items))
                    self._write_limiter.warning(
                        "stopped", "time-series writer stopped: %d point(s) dropped", len(items)
                    )
                    return
                self._buffer.extend(items)
                excess = len(self._buffer) - self.settings.buffer_max_points
                for _ in range(max(0, excess)):
                    self._buffer.popleft()
                if excess > 0:
                    self._count(dropped=excess)
                    self._write_limiter.warning(
                        "buffer_full",
                        "time-series buffer full: %d oldest point(s) dropped",
                        excess,
                    )
                if len(self._buffer) >= self.settings.batch_size:
                    self._cond.notify()
        except Exception:
            # The ingest path must not fail because of the time series; a bug here is logged.
            log.exception("time-series write failed; points dropped")

    @property
    def stats(self) -> TimeSeriesStats:
        """A snapshot of the counters."""
        with self._cond:
            spool = self._spool
            depth = spool.depth if spool is not None else self._stats.spool_depth
            return replace(self._stats, buffered=len(self._buffer), spool_depth=depth)

    def start(self) -> None:
        """Open the spool and start the sending thread; raises if the spool cannot be opened."""
        if not self.settings.enabled:
            log.info("time series disabled")
            return
        if self._thread is not None:
            raise RuntimeError("time-series writer already started")
        self._spool = _Spool(self.settings.spool_path, self.settings.spool_max_points)
        if self._spool.depth:
            log.info("time-series spool holds %d point(s) to send", self._spool.depth)
        self._next_flush = time.monotonic() + self.settings.flush_interval_s
        self._thread = threading.Thread(target=self._run, name="timeseries-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is in memory (spool what cannot be sent within *timeout*), then stop."""
        with self._cond:
            self._stopped = True
            self._stopping = True
            self._stop_deadline = time.monotonic() + timeout
            self._cond.notify()
            if self._thread is None and self._buffer:
                self._count(dropped=len(self._buffer))
                log.warning(
                    "time-series writer never started: %d point(s) dropped", len(self._buffer)
                )
                self._buffer.clear()
        if self._thread is None:
            return
        self._thread.join(timeout + 1)
        if self._thread.is_alive():
            log.warning("time-series writer still busy after %.1f s; leaving it", timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the worker's side ---------------------------------------------------------------

    def _count(self, **increments: int) -> None:
        # Called with self._cond held, or takes it.
        with self._cond:
            self._stats = replace(
                self._stats,
                **{name: getattr(self._stats, name) + n for name, n in increments.items()},
            )

    def _run(self) -> None:
        spool = self._spool
        assert spool is not None
        settings = self.settings
        token = settings.token.get_secret_value() if settings.token is not None else None
        try:
            with (
                InfluxDBClient(
                    url=settings.url,
                    token=token or "",
                    org=settings.org,
                    timeout=int(settings.timeout_s * 1000),
                ) as client,
                client.write_api(write_options=SYNCHRONOUS) as api,
            ):
                while not self._stopping:
                    try:
                        self._step(api, spool)
                    except Exception:
                        # A bug or a broken spool file: keep the thread alive, slow down.
                        log.exception("time-series writer step failed")
                        time.sleep(settings.retry_min_s)
                self._final_flush(api, spool)
        except Exception:
            log.exception("time-series writer stopped by an unexpected error")
        finally:
            with self._cond:
                self._spool = None
                # The stats keep the last known depth.
                self._stats = replace(self._stats, spool_depth=spool.depth)
            spool.close()

    def _wait(self, spool: _Spool) -> bool:
        """Wait until there is something to do; False when stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._retry_at is not None:
                    wake = min(self._retry_at, self._next_flush)
                elif spool.depth or len(self._buffer) >= self.settings.batch_size:
                    return True
                else:
                    wake = self._next_flush
                if now >= wake:
                    return True
                self._cond.wait(wake - now)
            return False

    def _step(self, api: WriteApi, spool: _Spool) -> None:
        if not self._wait(spool):
            return
        settings = self.settings
        now = time.monotonic()
        with self._cond:
            flush_due = now >= self._next_flush
            if flush_due:
                self._next_flush = now + settings.flush_interval_s
            down = self._retry_at is not None
            if down and flush_due:
                live = self._take(len(self._buffer))
            elif not down and (flush_due or len(self._buffer) >= settings.batch_size):
                live = self._take(settings.batch_size)
            else:
                live = []
        lines = self._encode(live)
        if self._retry_at is not None:
            self._to_spool(spool, lines)
            if now >= self._retry_at:
                if spool.depth:
                    self._send_spooled(api, spool, probing=True)
                else:
                    self._retry_at = None
            return
        if lines:
            sent = self._deliver(api, lines, 0, len(lines))
            self._to_spool(spool, lines[sent:])
        if self._retry_at is None and spool.depth:
            self._send_spooled(api, spool, probing=False)

    def _take(self, n: int) -> list[Point]:
        return [self._buffer.popleft() for _ in range(min(n, len(self._buffer)))]

    def _encode(self, points: list[Point]) -> list[str]:
        lines = []
        for point in points:
            try:
                lines.append(point.to_line_protocol())
            except Exception as error:
                self._count(rejected=1)
                self._limiter.warning(
                    "encode", "time-series point %s not encodable: %s", point.measurement, error
                )
        return lines

    def _to_spool(self, spool: _Spool, lines: Sequence[str]) -> None:
        if not lines:
            return
        try:
            dropped = spool.append(lines)
        except sqlite3.Error as error:
            self._count(dropped=len(lines))
            self._limiter.warning(
                "spool_error",
                "time-series spool unusable (%s): %d point(s) lost",
                error,
                len(lines),
            )
            return
        self._count(spooled=len(lines), dropped=dropped)
        if dropped:
            self._limiter.warning(
                "spool_full", "time-series spool full: %d oldest point(s) dropped", dropped
            )

    def _send_spooled(self, api: WriteApi, spool: _Spool, *, probing: bool) -> None:
        rows = spool.head(self.settings.batch_size)
        if not rows:
            spool.depth = 0
            return
        sent = self._deliver(api, [line for _, line in rows], 0, len(rows))
        if sent:
            spool.remove_through(rows[sent - 1][0])
        if probing and self._retry_at is None:
            log.info("time-series server reachable again; %d point(s) to catch up", spool.depth)

    def _deliver(self, api: WriteApi, lines: list[str], start: int, end: int) -> int:
        """Send ``lines[start:end]``; return the index of the first line still to send.

        Lines the server refuses are isolated by halving, counted and skipped. After a failure
        that a retry may fix, the rest of the range is left for later (returned index < end).
        """
        settings = self.settings
        try:
            api.write(
                bucket=settings.bucket,
                org=settings.org,
                record=lines[start:end],
                write_precision=_PRECISION,
            )
        except ApiException as error:
            if error.status not in _REFUSED:
                self._failed(f"HTTP {error.status} {error.reason}")
                return start
            if end - start > 1:
                middle = (start + end) // 2
                reached = self._deliver(api, lines, start, middle)
                return reached if reached < middle else self._deliver(api, lines, middle, end)
            self._count(rejected=1)
            self._limiter.warning(
                "refused",
                "time-series server refused a point (HTTP %s: %s): %s",
                error.status,
                str(error.body or "").strip()[:200],
                lines[start][:200],
            )
            return end
        except (urllib3.exceptions.HTTPError, OSError) as error:
            self._failed(str(error))
            return start
        self._count(written=end - start)
        if self._retry_at is not None:
            self._retry_at = None
            self._backoff = settings.retry_min_s
        return end

    def _failed(self, reason: str) -> None:
        self._count(failed_batches=1)
        if self._retry_at is None:
            self._backoff = self.settings.retry_min_s
        else:
            self._backoff = min(self._backoff * 2, self.settings.retry_max_s)
        self._retry_at = time.monotonic() + self._backoff
        self._limiter.warning(
            "unreachable",
            "time-series server unavailable (%s); spooling, retry in %.1f s",
            reason,
            self._backoff,
        )

    def _final_flush(self, api: WriteApi, spool: _Spool) -> None:
        with self._cond:
            lines = self._encode(self._take(len(self._buffer)))
        sent = 0
        while (
            sent < len(lines) and self._retry_at is None and time.monotonic() < self._stop_deadline
        ):
            end = min(sent + self.settings.batch_size, len(lines))
            reached = self._deliver(api, lines, sent, end)
            sent = reached
            if reached < end:
                break
        self._to_spool(spool, lines[sent:])


def _predicate_value(value: str) -> str:
    if not value or any(c in value for c in '"\\\n'):
        raise ValueError(f"tag value {value!r} cannot be used in a deletion")
    return value


def delete_by_tag(
    settings: TimeSeriesSettings, tags: Mapping[str, str], measurement: str | None = None
) -> None:
    """Delete every point (all times) whose tags equal *tags*, in one measurement or all.

    Blocking (call it from a worker thread); raises on failure, since erasure must know. Points
    still in a writer's spool are not affected: stop writing the series before deleting it.
    """
    if not tags:
        raise ValueError("refusing to delete without a tag to match")
    for name in (*tags, *([measurement] if measurement is not None else [])):
        if not _is_name(name):
            raise ValueError(f"{name!r} is not a measurement or tag name")
    values = {name: _predicate_value(value) for name, value in tags.items()}
    token = settings.token.get_secret_value() if settings.token is not None else None
    if settings.server is TimeSeriesServer.INFLUXDB:
        terms = [f'{name}="{value}"' for name, value in values.items()]
        if measurement is not None:
            terms.insert(0, f'_measurement="{measurement}"')
        with InfluxDBClient(
            url=settings.url,
            token=token or "",
            org=settings.org,
            timeout=int(settings.timeout_s * 1000),
        ) as client:
            client.delete_api().delete(
                start=EPOCH,
                stop=_DELETE_UNTIL,
                predicate=" AND ".join(terms),
                bucket=settings.bucket,
                org=settings.org,
            )
        return
    # VictoriaMetrics names a series <measurement>_<field> and deletes whole series, whatever
    # their times: /api/v1/admin/tsdb/delete_series with a series selector.
    labels = [f"{name}={json.dumps(value)}" for name, value in values.items()]
    if measurement is not None:
        labels.insert(0, f'__name__=~"{measurement}_.+"')
    headers = {"Authorization": f"Token {token}"} if token else {}
    with urllib3.PoolManager(timeout=settings.timeout_s, retries=False) as http:
        response = http.request(
            "POST",
            f"{settings.url}/api/v1/admin/tsdb/delete_series",
            fields={"match[]": "{" + ",".join(labels) + "}"},
            encode_multipart=False,
            headers=headers,
        )
    if response.status >= 300:
        raise RuntimeError(
            f"VictoriaMetrics refused the deletion: HTTP {response.status} "
            f"{response.data.decode(errors='replace')[:200]}"
        )
