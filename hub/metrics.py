"""What the hub counts, exposed at ``/metrics`` in Prometheus text format.

Each hub instance has its own registry (no global state), so several hubs can live in one
process (the tests, the demo) without their counters mixing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:  # hub.timeseries logs through LogLimiter below: no import cycle at run time
    from hub.timeseries import TimeSeriesStats

from vivant.wire.errors import RejectReason


class HubMetrics:
    """The hub's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter(
            "vivant_messages_received", "MQTT messages received.", registry=self.registry
        )
        self.accepted = Counter(
            "vivant_messages_accepted",
            "Messages applied, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "vivant_messages_rejected",
            "Messages rejected, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.failures = Counter(
            "vivant_ingest_failures",
            "Messages dropped because applying them raised an unexpected error (a bug).",
            registry=self.registry,
        )
        self.duplicates = Counter(
            "vivant_messages_duplicate", "Redelivered messages dropped.", registry=self.registry
        )
        self.queue_depth = Gauge(
            "vivant_ingest_queue_depth", "Messages waiting to be applied.", registry=self.registry
        )
        self.lag = Gauge(
            "vivant_ingest_lag_seconds",
            "Age of the newest observation applied (observation time to commit).",
            registry=self.registry,
        )
        self.apply_latency = Histogram(
            "vivant_ingest_latency_seconds",
            "From reception to commit.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.greetings = Counter(
            "vivant_greetings", "Greetings pushed to lobby screens.", registry=self.registry
        )
        self.sites_served = Gauge(
            "vivant_sites_served",
            "Sites this hub process serves (all, unless several processes share them).",
            registry=self.registry,
        )
        self.screen_clients = Gauge(
            "vivant_screen_clients", "Lobby screens connected.", registry=self.registry
        )
        for reason in RejectReason:
            self.rejected.labels(reason=reason.value)


def totals(metrics: HubMetrics) -> dict[str, int]:
    """Every sample name with the sum of its labelled values (one pass over the registry)."""
    sums: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return {name: int(value) for name, value in sums.items()}


class TimeSeriesCollector(Collector):
    """Exposes the time-series writer's counters, read when Prometheus scrapes."""

    def __init__(self, stats: Callable[[], TimeSeriesStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        """One family per figure of :class:`~hub.timeseries.TimeSeriesStats`."""
        stats = self._stats()
        for name, help_text in (
            ("written", "Points accepted by the time-series server."),
            ("spooled", "Points put in the disk spool while the server was unreachable."),
            ("dropped", "Points dropped because a bound was reached (oldest first)."),
            ("rejected", "Points the server refused as invalid."),
            ("failed_batches", "Batches that failed and were spooled for a retry."),
        ):
            yield CounterMetricFamily(f"vivant_timeseries_{name}", help_text, getattr(stats, name))
        yield GaugeMetricFamily(
            "vivant_timeseries_spool_depth", "Points waiting in the disk spool.", stats.spool_depth
        )
        yield GaugeMetricFamily(
            "vivant_timeseries_buffered", "Points waiting in memory.", stats.buffered
        )


class LogLimiter:
    """Logs the first few events of a kind per period, then one summary: no flooding."""

    def __init__(self, logger: logging.Logger, per_period: int = 5, period_s: float = 60.0) -> None:
        self._clock = time.monotonic
        self._log = logger
        self._per_period = per_period
        self._period_s = period_s
        self._window: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, message: str, *args: object) -> None:
        """Log a warning unless *key* already logged its share in this period."""
        now = self._clock()
        start, count = self._window.get(key, (now, 0))
        if now - start >= self._period_s:
            if count > self._per_period:
                self._log.warning(
                    "%d more %s messages in the last %.0f s",
                    count - self._per_period,
                    key,
                    now - start,
                )
            start, count = now, 0
        count += 1
        self._window[key] = (start, count)
        if count <= self._per_period:
            self._log.warning(message, *args)
