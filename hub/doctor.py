"""``vivant doctor``: check a hub installation and explain each problem with its fix.

An installer's first question after ``docker compose up`` is "does it work?", and the answer is
spread over five components. The doctor asks each one what the hub would need from it, with the
hub's own configuration, and reports one line per check:

* the broker: reachable, TLS accepted, the hub's account accepted (a throwaway client id with a
  clean session, so the hub's persistent session is never taken over), and the broker's
  certificate expiry when the link is TLS;
* the database: reachable, schema at the latest Alembic revision (never creates a SQLite file);
* the time-series server: ``/health`` answers; for InfluxDB, the token sees the bucket; points
  waiting in the hub's spool;
* the nodes of each site, from the database: never seen, offline, silent, clock ahead of the
  hub's (a node's telemetry time later than its reception) or not synchronised (its own report);
* certificate files named in the configuration: readable, not expired, not expiring within
  :data:`EXPIRY_WARNING`.

Clock skew: the hub stores when it last received something from a node (``last_seen_at``) and
the node's own time in its last telemetry. A telemetry time later than the reception is certain
evidence of a clock ahead; a time earlier may be a clock behind *or* simply an older telemetry
(it is sent once a minute, other messages move ``last_seen_at``), so "behind" is left to the
node's own ``clock_synced`` report.

A failure (exit code 1) is something that stops the site working; a warning is something to fix
soon. Messages are for the installer, in English like the rest of the command line.
"""

from __future__ import annotations

import json
import secrets
import socket
import sqlite3
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import urllib3
from cryptography import x509
from paho.mqtt.client import Client, ConnectFlags
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import Engine, create_engine, make_url, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.db.migrate import current_revision, head_revision, upgrade_path
from hub.db.models import Node
from hub.timeseries import TimeSeriesServer, TimeSeriesSettings
from vivant.config_file import ConfigError, load_yaml
from vivant.mqtt import MqttSettings, new_client

EXPIRY_WARNING = timedelta(days=30)
"""A certificate expiring sooner than this is a warning."""
NODE_SILENT = timedelta(minutes=10)
"""A node that sent nothing for this long is silent (telemetry comes every minute by default)."""
CLOCK_AHEAD_MAX = timedelta(seconds=30)
"""A node clock further ahead than this makes badge times and moment attendance wrong."""


class Outcome(StrEnum):
    """How a check went."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    """The result of one check: what was checked, how it went, and what to do."""

    check: str
    outcome: Outcome
    summary: str
    fix: str = ""


def _ok(check: str, summary: str) -> Finding:
    return Finding(check, Outcome.OK, summary)


def _fail(check: str, summary: str, fix: str) -> Finding:
    return Finding(check, Outcome.FAIL, summary, fix)


def _warn(check: str, summary: str, fix: str) -> Finding:
    return Finding(check, Outcome.WARN, summary, fix)


# -- broker ---------------------------------------------------------------------------------

_BAD_CREDENTIALS = {4, 5, 134, 135}  # MQTT 3.1.1 CONNACK 4, 5 and their MQTT 5 codes


def check_broker(settings: MqttSettings, timeout_s: float = 5.0) -> list[Finding]:
    """Connect to the broker as the hub would (credentials, TLS), under a throwaway client id."""
    where = f"{'mqtts' if settings.tls else 'mqtt'}://{settings.host}:{settings.port}"
    who = f" as {settings.username}" if settings.username else " anonymously"
    try:
        client = new_client(
            settings.model_copy(update={"client_id": None}),
            f"vivant-doctor-{secrets.token_hex(4)}",
            clean_session=True,
        )
    except (OSError, ssl.SSLError) as error:
        return [
            _fail(
                "broker",
                f"cannot set up TLS for {where}: {error}",
                "check mqtt.ca_file, mqtt.cert_file and mqtt.key_file: the files must exist, "
                "be readable by the hub's user and hold PEM certificates and keys",
            )
        ]
    answered = threading.Event()
    codes: list[ReasonCode] = []

    def on_connect(
        _client: Client,
        _userdata: Any,
        _flags: ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        codes.append(reason_code)
        answered.set()

    client.on_connect = on_connect
    peer: x509.Certificate | None = None
    try:
        if settings.tls:
            peer = _tls_probe(settings, timeout_s)
        client.connect(settings.host, settings.port, keepalive=settings.keepalive_s)
    except ssl.SSLError as error:
        return [
            _fail(
                "broker",
                f"TLS handshake with {where} failed: {error.reason or error}",
                "the broker's certificate must be signed by mqtt.ca_file and name the host of "
                "mqtt.url (subjectAltName); see deploy/README.md for the openssl commands",
            )
        ]
    except OSError as error:
        return [
            _fail(
                "broker",
                f"cannot reach the broker at {where}: {error.strerror or error}",
                "start Mosquitto (docker compose up -d mosquitto, or systemctl start "
                "mosquitto), then check mqtt.url (host and port) and any firewall between "
                "the hub and the broker",
            )
        ]
    findings: list[Finding] = []
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            return [
                _fail(
                    "broker",
                    f"{where} accepted the connection but did not answer within {timeout_s:g} s",
                    "check that the port is Mosquitto's (mqtts:// for a TLS listener, mqtt:// "
                    "for a plain one) and look at the broker's log",
                )
            ]
        code = codes[0]
        if code.is_failure:
            if code.value in _BAD_CREDENTIALS:
                return [
                    _fail(
                        "broker",
                        f"{where} refused the hub's account{who}: {code}",
                        "check mqtt.username and the password it reads (mqtt.password: "
                        "{env: …} or {file: …}); regenerate the broker's password file with "
                        "`vivant mqtt gen-passwd` and restart Mosquitto",
                    )
                ]
            return [
                _fail(
                    "broker",
                    f"{where} refused the connection: {code}",
                    "read the broker's log",
                )
            ]
        findings.append(_ok("broker", f"connected to {where}{who}"))
        if peer is not None:
            findings.append(_expiry("certificates", f"broker certificate of {where}", peer))
    finally:
        client.disconnect()
        client.loop_stop()
    return findings


def _tls_probe(settings: MqttSettings, timeout_s: float) -> x509.Certificate:
    """Handshake with the broker as :func:`vivant.mqtt.new_client` would; its certificate.

    Done apart from paho, whose connect leaves the socket open when the handshake fails
    (paho-mqtt 2.1), and which does not expose the peer's certificate.
    """
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.cert_file is not None:
        context.load_cert_chain(
            str(settings.cert_file), str(settings.key_file) if settings.key_file else None
        )
    with (
        socket.create_connection((settings.host, settings.port), timeout=timeout_s) as raw,
        context.wrap_socket(raw, server_hostname=settings.host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:  # pragma: no cover - a verified handshake always has a certificate
        raise ssl.SSLError("the broker sent no certificate")
    return x509.load_der_x509_certificate(der)


# -- database -------------------------------------------------------------------------------


def _engine(url: str, timeout_s: float) -> Engine:
    if url.startswith("sqlite"):
        return create_engine(url)
    return create_engine(url, connect_args={"connect_timeout": max(1, int(timeout_s))})


def _first_line(error: SQLAlchemyError) -> str:
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def check_database(config: HubConfig, config_path: str, timeout_s: float = 5.0) -> list[Finding]:
    """The database answers and its schema is the one this version of Vivant needs."""
    url = make_url(config.database.url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        file = Path(url.database or "")
        if not file.exists():
            return [
                _fail(
                    "database",
                    f"no database file at {file.resolve()}",
                    f"check database.url; a new installation creates it with "
                    f"`vivant hub --config {config_path} migrate`",
                )
            ]
    engine = _engine(config.database.url, timeout_s)
    try:
        current = current_revision(engine)
        head = head_revision(engine)
    except SQLAlchemyError as error:
        return [
            _fail(
                "database",
                f"cannot open {shown}: {_first_line(error)}",
                "check database.url (host, port, database name, user), that PostgreSQL runs "
                "(docker compose ps postgres) and the password (PGPASSWORD or ~/.pgpass)",
            )
        ]
    finally:
        engine.dispose()
    migrate = (
        "back up the database (docs/install.md), then run "
        f"`vivant hub --config {config_path} migrate`"
    )
    if current is None:
        return [
            _fail(
                "database",
                f"{shown} has no Vivant schema",
                f"run `vivant hub --config {config_path} migrate`",
            )
        ]
    if current == head:
        return [_ok("database", f"{shown} reachable, schema at the latest revision {head}")]
    path = upgrade_path(engine, current)
    if path is None:
        return [
            _fail(
                "database",
                f"{shown} is at revision {current}, which this version of Vivant does not know "
                f"(its latest is {head})",
                "the database was upgraded by a newer Vivant: install that version again, or "
                "restore the backup taken before the upgrade",
            )
        ]
    return [
        _fail(
            "database",
            f"{shown} schema is at revision {current}; this Vivant needs {head} "
            f"({len(path)} migration(s) to apply: {', '.join(path)})",
            migrate,
        )
    ]


def check_nodes(config: HubConfig, engine: Engine, now: datetime) -> list[Finding]:
    """Every configured node: seen, online, recent, and with a clock the hub can trust."""
    findings: list[Finding] = []
    with Session(engine) as session:
        rows = {(n.site_id, n.id): n for n in session.scalars(select(Node))}
    for site in config.sites:
        for node_settings in site.nodes:
            name = f"node {site.id}/{node_settings.id}"
            row = rows.get((site.id, node_settings.id))
            if row is None or row.last_seen_at is None:
                findings.append(
                    _warn(
                        name,
                        "never seen by the hub",
                        "install the edge agent on it (deploy/edge/install.sh), check its "
                        "mqtt settings and account, then `journalctl -u vivant-edge` on the node",
                    )
                )
                continue
            findings.extend(_node_findings(name, row, now))
    return findings


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


def _node_findings(name: str, row: Node, now: datetime) -> list[Finding]:
    assert row.last_seen_at is not None
    found: list[Finding] = []
    quiet = now - row.last_seen_at
    if row.status == "offline":
        since = row.status_changed_at or row.last_seen_at
        found.append(
            _fail(
                name,
                f"offline for {_ago(now - since)}",
                "check the node's power and network, then `systemctl status vivant-edge` and "
                "`journalctl -u vivant-edge` on it",
            )
        )
    elif quiet > NODE_SILENT:
        found.append(
            _fail(
                name,
                f"silent for {_ago(quiet)} (last message {row.last_seen_at:%Y-%m-%d %H:%M} UTC)",
                "the node lost its network or its agent hangs: check it, and the broker's log "
                "for its client id",
            )
        )
    telemetry = row.telemetry or {}
    ts = telemetry.get("ts")
    if isinstance(ts, int):
        ahead = datetime.fromtimestamp(ts / 1000, UTC) - row.last_seen_at
        if ahead > CLOCK_AHEAD_MAX:
            found.append(
                _fail(
                    name,
                    f"clock {ahead.total_seconds():.0f} s ahead of the hub's",
                    "enable time synchronisation on the node (timedatectl set-ntp true; "
                    "systemd-timesyncd with a reachable NTP server)",
                )
            )
    if telemetry.get("clock_synced") is False:
        found.append(
            _warn(
                name,
                "reports that its clock is not synchronised (NTP)",
                "check `timedatectl` on the node: NTP server reachable, systemd-timesyncd on",
            )
        )
    if not found:
        found.append(_ok(name, f"online, last message {_ago(quiet)} ago"))
    return found


# -- time series ----------------------------------------------------------------------------


def check_timeseries(settings: TimeSeriesSettings | None, timeout_s: float = 5.0) -> list[Finding]:
    """The time-series server answers, the token reaches the bucket, the spool is empty."""
    if settings is None or not settings.enabled:
        return [Finding("time series", Outcome.SKIP, "not configured (timeseries: in hub.yaml)")]
    token = settings.token.get_secret_value() if settings.token is not None else None
    headers = {"Authorization": f"Token {token}"} if token else {}
    findings: list[Finding] = []
    try:
        with urllib3.PoolManager(timeout=timeout_s, retries=False, headers=headers) as http:
            health = http.request("GET", f"{settings.url}/health")
            if health.status != 200:
                return [
                    _fail(
                        "time series",
                        f"{settings.url}/health answered HTTP {health.status}",
                        f"read the {settings.server.value} server's log",
                    )
                ]
            if settings.server is TimeSeriesServer.INFLUXDB:
                findings.extend(_influx_bucket(http, settings))
            else:
                findings.append(_ok("time series", f"VictoriaMetrics at {settings.url} healthy"))
    except urllib3.exceptions.HTTPError as error:
        return [
            _fail(
                "time series",
                f"cannot reach {settings.url}: {error}",
                f"start the {settings.server.value} server (docker compose up -d influxdb) and "
                "check timeseries.url; meanwhile the hub keeps points in its spool",
            )
        ]
    findings.extend(_spool(settings))
    return findings


def _influx_bucket(http: urllib3.PoolManager, settings: TimeSeriesSettings) -> list[Finding]:
    answer = http.request(
        "GET",
        f"{settings.url}/api/v2/buckets",
        fields={"org": settings.org, "name": settings.bucket},
    )
    if answer.status in (401, 403):
        return [
            _fail(
                "time series",
                f"InfluxDB refused the token (HTTP {answer.status})",
                "timeseries.token must be an API token with write access to the bucket "
                "(INFLUXDB_TOKEN in deploy/.env)",
            )
        ]
    buckets: list[dict[str, Any]] = []
    if answer.status == 200:
        try:
            buckets = list(json.loads(answer.data).get("buckets", []))
        except (ValueError, AttributeError):
            buckets = []
    if not any(isinstance(b, dict) and b.get("name") == settings.bucket for b in buckets):
        return [
            _fail(
                "time series",
                f"InfluxDB has no bucket {settings.bucket!r} in organisation {settings.org!r} "
                f"(HTTP {answer.status})",
                "set timeseries.org and timeseries.bucket to those of DOCKER_INFLUXDB_INIT_ORG "
                "and DOCKER_INFLUXDB_INIT_BUCKET, or create the bucket with `influx bucket create`",
            )
        ]
    return [_ok("time series", f"InfluxDB at {settings.url}, bucket {settings.bucket} reachable")]


def _spool(settings: TimeSeriesSettings) -> list[Finding]:
    if not settings.spool_path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{settings.spool_path}?mode=ro", uri=True) as db:
            waiting = int(db.execute("SELECT count(*) FROM points").fetchone()[0])
    except sqlite3.Error:
        return []
    if not waiting:
        return []
    return [
        _warn(
            "time series",
            f"{waiting} point(s) wait in the spool {settings.spool_path}",
            "normal just after an outage; if it stays, the server refuses the hub's writes: "
            "read the hub's log for 'time-series'",
        )
    ]


# -- certificate files ----------------------------------------------------------------------


def _expiry(check: str, what: str, cert: x509.Certificate, now: datetime | None = None) -> Finding:
    now = now or datetime.now(UTC)
    until = cert.not_valid_after_utc
    subject = cert.subject.rfc4514_string() or "(no subject)"
    fix = (
        "issue a new certificate (deploy/README.md, 'The broker's files'), install it and "
        "restart the service that uses it"
    )
    if until <= now:
        return _fail(check, f"{what} ({subject}) expired on {until:%Y-%m-%d}", fix)
    if until - now < EXPIRY_WARNING:
        return _warn(check, f"{what} ({subject}) expires in {(until - now).days} days", fix)
    return _ok(check, f"{what} ({subject}) valid until {until:%Y-%m-%d}")


def check_certificate_files(paths: Sequence[Path], now: datetime | None = None) -> list[Finding]:
    """Each PEM file: readable, and every certificate in it not expired nor expiring soon."""
    if not paths:
        return [Finding("certificates", Outcome.SKIP, "no certificate file configured")]
    findings = []
    for path in paths:
        try:
            certs = x509.load_pem_x509_certificates(path.read_bytes())
        except OSError as error:
            findings.append(
                _fail(
                    "certificates",
                    f"cannot read {path}: {error.strerror or error}",
                    "check the path in hub.yaml and that the hub's user may read it",
                )
            )
            continue
        except ValueError:
            findings.append(
                _fail(
                    "certificates",
                    f"{path} holds no PEM certificate",
                    "point to the .crt/.pem file",
                )
            )
            continue
        findings.extend(_expiry("certificates", str(path), cert, now) for cert in certs)
    return findings


# -- all together ---------------------------------------------------------------------------


def run_checks(
    config: HubConfig,
    config_path: str = "hub.yaml",
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    timeout_s: float = 5.0,
) -> list[Finding]:
    """Every check, in the order an installer fixes things."""
    findings = check_broker(config.mqtt, timeout_s)
    database = check_database(config, config_path, timeout_s)
    findings += database
    if all(f.outcome is Outcome.OK for f in database):
        engine = _engine(config.database.url, timeout_s)
        try:
            findings += check_nodes(config, engine, now())
        except SQLAlchemyError as error:
            findings.append(
                _fail("nodes", f"cannot read the nodes: {error}", "see the database check")
            )
        finally:
            engine.dispose()
    else:
        findings.append(Finding("nodes", Outcome.SKIP, "needs the database"))
    findings += check_timeseries(config.timeseries, timeout_s)
    files = [p for p in (config.mqtt.ca_file, config.mqtt.cert_file) if p is not None]
    findings += check_certificate_files(files, now())
    return findings


_MARKS = {Outcome.OK: " ok ", Outcome.WARN: "warn", Outcome.FAIL: "FAIL", Outcome.SKIP: "skip"}


def render(findings: Sequence[Finding]) -> str:
    """The report, one line per finding and its fix indented below."""
    lines = []
    for finding in findings:
        lines.append(f"[{_MARKS[finding.outcome]}] {finding.check}: {finding.summary}")
        if finding.fix:
            lines.append(f"       fix: {finding.fix}")
    failures = sum(f.outcome is Outcome.FAIL for f in findings)
    warnings = sum(f.outcome is Outcome.WARN for f in findings)
    lines.append(
        "all good"
        if not failures and not warnings
        else f"{failures} failure(s), {warnings} warning(s)"
    )
    return "\n".join(lines) + "\n"


def exit_code(findings: Sequence[Finding]) -> int:
    """1 when any check failed, else 0 (warnings do not fail)."""
    return 1 if any(f.outcome is Outcome.FAIL for f in findings) else 0


def run(config_path: Path) -> int:
    """``vivant doctor --config FILE``: print the report; 2 for an unusable configuration."""
    try:
        config = load_yaml(config_path, HubConfig)
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    findings = run_checks(config, str(config_path))
    sys.stdout.write(render(findings))
    return exit_code(findings)
