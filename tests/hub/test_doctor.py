"""``vivant doctor`` against real components: private brokers (stopped, with a password file,
with TLS), SQLite and PostgreSQL schemas, a real VictoriaMetrics, generated certificates."""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine

from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import head_revision, upgrade
from hub.db.models import Node
from hub.doctor import (
    Finding,
    Outcome,
    check_broker,
    check_certificate_files,
    check_database,
    check_nodes,
    check_timeseries,
    exit_code,
    render,
)
from hub.sites import sync_sites
from hub.timeseries import TimeSeriesSettings
from tests.support.mosquitto import PrivateBroker, free_port, mosquitto_binary, wait_for_port
from tests.support.victoria import victoria_metrics
from vivant.cli import main
from vivant.mqtt import MqttSettings

NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)
PASSWORD = "correct-horse-battery"


def config_data(db_url: str, broker_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "mqtt": {"url": broker_url, "client_id": "vivant-hub"},
        "database": {"url": db_url},
        "sites": [
            {
                "id": "ekilibre",
                "name": "éKilibre",
                "rooms": [{"id": "accueil", "name": "Accueil", "kind": "lobby"}],
                "nodes": extra.pop("nodes", []),
            }
        ],
        **extra,
    }


def outcomes(findings: list[Finding]) -> list[tuple[str, Outcome]]:
    return [(f.check, f.outcome) for f in findings]


# -- broker ---------------------------------------------------------------------------------


@pytest.mark.mosquitto
def test_a_stopped_broker_is_unreachable_with_the_fix(broker: PrivateBroker) -> None:
    broker.stop()
    [finding] = check_broker(MqttSettings(url=broker.url), timeout_s=3)
    assert finding.outcome is Outcome.FAIL
    assert f"cannot reach the broker at {broker.url}" in finding.summary
    assert "start Mosquitto" in finding.fix


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    passwords = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "hub", PASSWORD],
        check=True,
        capture_output=True,
    )
    broker = PrivateBroker(
        workdir=tmp_path / "broker",
        extra_config=f"allow_anonymous false\npassword_file {passwords}\n",
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.mosquitto
def test_a_wrong_password_is_refused_with_the_fix(password_broker: PrivateBroker) -> None:
    wrong = MqttSettings(url=password_broker.url, username="hub", password="not-it")
    [finding] = check_broker(wrong, timeout_s=5)
    assert finding.outcome is Outcome.FAIL
    assert "refused the hub's account as hub" in finding.summary
    assert "vivant mqtt gen-passwd" in finding.fix
    anonymous = check_broker(MqttSettings(url=password_broker.url), timeout_s=5)
    assert outcomes(anonymous) == [("broker", Outcome.FAIL)]


@pytest.mark.mosquitto
def test_the_right_password_is_accepted_without_taking_the_hubs_session(
    password_broker: PrivateBroker,
) -> None:
    right = MqttSettings(
        url=password_broker.url, username="hub", password=PASSWORD, client_id="vivant-hub"
    )
    [finding] = check_broker(right, timeout_s=5)
    assert finding == Finding("broker", Outcome.OK, f"connected to {password_broker.url} as hub")
    log = (password_broker.workdir / "mosquitto.log").read_text(encoding="utf-8")
    assert "vivant-doctor-" in log
    assert "as vivant-hub" not in log


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    not_after: dt.datetime,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(not_after, dt.datetime.now(dt.UTC)) - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return path


@pytest.mark.mosquitto
def test_tls_broker_certificate_expiring_soon_is_a_warning(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca = _pem(
        tmp_path / "ca.pem", _certificate("Site CA", ca_key, None, now + dt.timedelta(days=3650))
    )
    server_key = _key()
    server = _certificate("broker", server_key, ("Site CA", ca_key), now + dt.timedelta(days=10))
    _pem(tmp_path / "server.pem", server, server_key)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
        f"cafile {tmp_path / 'ca.pem'}\ncertfile {tmp_path / 'server.pem'}\n"
        f"keyfile {tmp_path / 'server.key'}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port("127.0.0.1", port)
        url = f"mqtts://127.0.0.1:{port}"
        findings = check_broker(MqttSettings(url=url, ca_file=ca), timeout_s=5)
        assert outcomes(findings) == [("broker", Outcome.OK), ("certificates", Outcome.WARN)]
        assert "CN=broker" in findings[1].summary
        assert "expires in 9 days" in findings[1].summary
        # Without the site CA the handshake fails, and the fix says why.
        [untrusted] = check_broker(MqttSettings(url=url), timeout_s=5)
        assert untrusted.outcome is Outcome.FAIL
        assert "TLS handshake" in untrusted.summary
        assert "mqtt.ca_file" in untrusted.fix
    finally:
        process.terminate()
        process.wait(10)


# -- database -------------------------------------------------------------------------------


def test_an_out_of_date_schema_fails_with_the_migrate_command(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0003")
        head = head_revision(engine)
    finally:
        engine.dispose()
    config = HubConfig.model_validate(config_data(db_url, "mqtt://127.0.0.1:1883"))
    [finding] = check_database(config, "/etc/vivant/hub.yaml")
    assert finding.outcome is Outcome.FAIL
    assert f"schema is at revision 0003; this Vivant needs {head}" in finding.summary
    assert "`vivant hub --config /etc/vivant/hub.yaml migrate`" in finding.fix
    engine = make_engine(db_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    [finding] = check_database(config, "hub.yaml")
    assert finding.outcome is Outcome.OK


def test_a_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    config = HubConfig.model_validate(config_data(f"sqlite:///{path}", "mqtt://127.0.0.1:1883"))
    [finding] = check_database(config, "hub.yaml")
    assert finding.outcome is Outcome.FAIL
    assert "no database file" in finding.summary
    assert not path.exists()


def test_a_database_from_a_newer_vivant_is_explained(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999')")
    engine.dispose()
    config = HubConfig.model_validate(config_data(url, "mqtt://127.0.0.1:1883"))
    [finding] = check_database(config, "hub.yaml")
    assert finding.outcome is Outcome.FAIL
    assert "9999, which this version of Vivant does not know" in finding.summary


@pytest.mark.postgres
def test_an_unreachable_postgresql_is_explained() -> None:
    url = f"postgresql+psycopg://vivant@127.0.0.1:{free_port()}/vivant"
    config = HubConfig.model_validate(config_data(url, "mqtt://127.0.0.1:1883"))
    [finding] = check_database(config, "hub.yaml", timeout_s=2)
    assert finding.outcome is Outcome.FAIL
    assert finding.summary.startswith("cannot open postgresql+psycopg://vivant@127.0.0.1")
    assert "PostgreSQL runs" in finding.fix


# -- nodes ----------------------------------------------------------------------------------


def test_nodes_never_seen_offline_silent_and_with_a_clock_ahead(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    names = ["entree", "cuisine", "salle", "rooftop", "bureau", "neuf"]
    config = HubConfig.model_validate(
        config_data(
            url, "mqtt://127.0.0.1:1883", nodes=[{"id": n, "rooms": ["accueil"]} for n in names]
        )
    )
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    ms = int(NOW.timestamp() * 1000)
    minute = dt.timedelta(minutes=1)
    with sessions.begin() as session:
        sync_sites(session, config)
        for node in (
            Node(
                site_id="ekilibre",
                id="entree",
                status="online",
                last_seen_at=NOW - minute,
                telemetry={"ts": ms - 60_000, "clock_synced": True},
            ),
            Node(
                site_id="ekilibre",
                id="cuisine",
                status="offline",
                status_changed_at=NOW - 3 * 60 * minute,
                last_seen_at=NOW - 3 * 60 * minute,
            ),
            Node(site_id="ekilibre", id="salle", status="online", last_seen_at=NOW - 25 * minute),
            Node(
                site_id="ekilibre",
                id="rooftop",
                status="online",
                last_seen_at=NOW - minute,
                telemetry={"ts": ms - 60_000 + 95_000},
            ),
            Node(
                site_id="ekilibre",
                id="bureau",
                status="online",
                last_seen_at=NOW - minute,
                telemetry={"ts": ms - 60_000, "clock_synced": False},
            ),
        ):
            session.merge(node)
    try:
        findings = check_nodes(config, engine, NOW)
    finally:
        engine.dispose()
    assert outcomes(findings) == [
        ("node ekilibre/entree", Outcome.OK),
        ("node ekilibre/cuisine", Outcome.FAIL),
        ("node ekilibre/salle", Outcome.FAIL),
        ("node ekilibre/rooftop", Outcome.FAIL),
        ("node ekilibre/bureau", Outcome.WARN),
        ("node ekilibre/neuf", Outcome.WARN),
    ]
    by_node = {f.check.rsplit("/", 1)[1]: f for f in findings}
    assert by_node["cuisine"].summary == "offline for 3 h"
    assert by_node["salle"].summary.startswith("silent for 25 min")
    assert by_node["rooftop"].summary == "clock 95 s ahead of the hub's"
    assert "timedatectl" in by_node["rooftop"].fix
    assert by_node["neuf"].summary == "never seen by the hub"


# -- time series ----------------------------------------------------------------------------


def test_victoria_metrics_up_then_down(tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    with victoria_metrics(tmp_path / "vm") as server:
        settings = TimeSeriesSettings(url=server.url, server="victoriametrics", spool_path=spool)
        assert outcomes(check_timeseries(settings)) == [("time series", Outcome.OK)]
        with sqlite3.connect(spool) as db:
            db.execute("CREATE TABLE points (id INTEGER PRIMARY KEY, line TEXT)")
            db.executemany("INSERT INTO points (line) VALUES (?)", [("a",), ("b",)])
        findings = check_timeseries(settings)
        assert outcomes(findings) == [("time series", Outcome.OK), ("time series", Outcome.WARN)]
        assert "2 point(s) wait in the spool" in findings[1].summary
        server.stop()
        [down] = check_timeseries(settings, timeout_s=2)
    assert down.outcome is Outcome.FAIL
    assert down.summary.startswith(f"cannot reach {server.url}")
    assert "spool" in down.fix


def test_time_series_not_configured_is_skipped() -> None:
    assert outcomes(check_timeseries(None)) == [("time series", Outcome.SKIP)]


# -- certificate files ----------------------------------------------------------------------


def test_certificate_files_expired_soon_fine_missing(tmp_path: Path) -> None:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    expired = _pem(tmp_path / "old.pem", _certificate("old", key, None, now - dt.timedelta(days=2)))
    soon = _pem(tmp_path / "soon.pem", _certificate("soon", key, None, now + dt.timedelta(days=12)))
    fine = _pem(
        tmp_path / "fine.pem", _certificate("fine", key, None, now + dt.timedelta(days=400))
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate", encoding="utf-8")
    findings = check_certificate_files(
        [expired, soon, fine, tmp_path / "missing.pem", garbage], now
    )
    assert [f.outcome for f in findings] == [
        Outcome.FAIL,
        Outcome.WARN,
        Outcome.OK,
        Outcome.FAIL,
        Outcome.FAIL,
    ]
    assert "expired on" in findings[0].summary
    assert (
        "expires in 11 days" in findings[1].summary or "expires in 12 days" in findings[1].summary
    )
    assert exit_code(findings) == 1
    assert exit_code(findings[1:3]) == 0
    assert "1 failure(s)" not in render(findings)
    assert "3 failure(s), 1 warning(s)" in render(findings)


# -- the command ----------------------------------------------------------------------------


@pytest.mark.mosquitto
def test_vivant_doctor_exit_codes(
    tmp_path: Path, system_broker_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(config_data(url, system_broker_url)), encoding="utf-8")
    assert main(["doctor", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "[ ok ] broker: connected to" in out
    assert "[ ok ] database:" in out
    assert out.endswith("all good\n")

    stopped = free_port()
    config.write_text(
        yaml.safe_dump(config_data(url, f"mqtt://127.0.0.1:{stopped}")), encoding="utf-8"
    )
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] broker: cannot reach the broker" in out
    assert "       fix: start Mosquitto" in out

    config.write_text("mqtt: {url: ftp://nowhere}\nsites: []\n", encoding="utf-8")
    assert main(["doctor", "--config", str(config)]) == 2
    assert "hub.yaml:1: mqtt.url" in capsys.readouterr().err
