"""A real VictoriaMetrics server for tests, on a free port with its own data directory.

VictoriaMetrics (Debian package ``victoria-metrics``) accepts InfluxDB line protocol on
``/api/v2/write`` and stores each field as a metric named ``<measurement>_<field>``, tags as
labels, booleans as 0 and 1, times in milliseconds. Reading back uses ``/api/v1/export`` (raw
samples, every duplicate included, which is what "nothing twice" needs).

Flags that make a test fast and exact: no query cache, no latency offset, no deduplication, and
a long retention so any timestamp is kept. VictoriaMetrics 1.79 buffers new samples in memory
for up to about ten seconds before a search sees them; :meth:`VictoriaMetrics.export` first calls
``/internal/force_flush`` (meant for tests) so reads see every sample the server accepted.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.mosquitto import free_port

INSTALL_HINT = (
    "victoria-metrics is not installed: run ./run test (it installs the Debian package) or "
    "apt-get install victoria-metrics"
)


def victoria_binary() -> str:
    """Path of the victoria-metrics executable, or a clear failure."""
    for candidate in (shutil.which("victoria-metrics"), "/usr/bin/victoria-metrics"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(INSTALL_HINT)


@dataclass(frozen=True)
class Series:
    """One exported series: its labels (``__name__`` included) and its samples."""

    labels: dict[str, str]
    timestamps_ms: list[int]
    values: list[float]

    @property
    def name(self) -> str:
        """The metric name, ``<measurement>_<field>``."""
        return self.labels["__name__"]


@dataclass
class VictoriaMetrics:
    """A victoria-metrics process the test may stop and restart (same port, same data)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server's own log goes (read it when a test fails)."""
        return self.workdir / "victoria-metrics.log"

    def start(self, timeout: float = 15.0) -> None:
        """Start (or start again) and wait until ``/health`` answers OK."""
        assert self.process is None, "victoria-metrics already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    victoria_binary(),
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    f"-storageDataPath={self.workdir / 'data'}",
                    "-retentionPeriod=100y",
                    "-search.latencyOffset=0s",
                    "-search.disableCache",
                    "-loggerLevel=WARN",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"victoria-metrics exited ({code}): {self._log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"victoria-metrics not ready after {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop cleanly (SIGTERM): VictoriaMetrics writes its buffers to disk on the way out."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def export(self, selector: str) -> list[Series]:
        """Every raw sample of the series matching *selector* (e.g. ``{site="a"}``)."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()
        response = httpx.post(f"{self.url}/api/v1/export", data={"match[]": selector}, timeout=10)
        response.raise_for_status()
        series = []
        for line in response.text.splitlines():
            if line.strip():
                item: dict[str, Any] = json.loads(line)
                series.append(
                    Series(
                        labels=dict(item["metric"]),
                        timestamps_ms=[int(t) for t in item["timestamps"]],
                        values=[float(v) for v in item["values"]],
                    )
                )
        return sorted(series, key=lambda s: sorted(s.labels.items()))

    def wait_for_samples(self, selector: str, count: int, within: float = 10.0) -> list[Series]:
        """Poll until *selector* has at least *count* samples in all; return the series."""
        deadline = time.monotonic() + within
        while True:
            series = self.export(selector)
            if sum(len(s.values) for s in series) >= count:
                return series
            if time.monotonic() > deadline:
                found = sum(len(s.values) for s in series)
                raise AssertionError(
                    f"{selector}: {found} sample(s) after {within}s, expected {count}"
                )
            time.sleep(0.1)


@contextlib.contextmanager
def victoria_metrics(workdir: Path, *, started: bool = True) -> Iterator[VictoriaMetrics]:
    """A :class:`VictoriaMetrics` in *workdir*, started unless *started* is false."""
    server = VictoriaMetrics(workdir=workdir)
    victoria_binary()  # fail loudly, even for a test that starts the server later
    if started:
        server.start()
    try:
        yield server
    finally:
        server.stop()
