"""TLS to a real Mosquitto: the site's CA, then a password or a client certificate."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import ipaddress
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.agent import EdgeAgent
from edge.config import EdgeConfig
from edge.sources.badge import FakeBadgeReader
from tests.edge.conftest import edge_config_data, running, subscribed
from tests.support.mosquitto import free_port, mosquitto_binary, wait_for_port

pytestmark = pytest.mark.mosquitto

NOW = dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    common_name: str,
    *,
    server: bool,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


@dataclass
class TlsBroker:
    """A Mosquitto with a plain listener (for the test's subscriber) and two TLS ones."""

    plain: int
    with_password: int
    with_certificate: int
    ca: Path
    client_cert: Path
    client_key: Path


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TlsBroker]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Vivant test site CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(tmp_path / "ca", ca_key, ca_cert)
    _write(tmp_path / "server", *_issue(ca_key, ca_name, "127.0.0.1", server=True))
    _write(tmp_path / "client", *_issue(ca_key, ca_name, "viry-entrance-pi", server=False))
    passwords = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "viry-entrance-pi", "s3cret-password"],
        check=True,
        capture_output=True,
    )
    broker = TlsBroker(
        free_port(),
        free_port(),
        free_port(),
        tmp_path / "ca.pem",
        tmp_path / "client.pem",
        tmp_path / "client.key",
    )
    tls = (
        f"cafile {tmp_path / 'ca.pem'}\ncertfile {tmp_path / 'server.pem'}\n"
        f"keyfile {tmp_path / 'server.key'}\n"
    )
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        "per_listener_settings true\n"
        f"user {getpass.getuser()}\n"
        f"listener {broker.plain} 127.0.0.1\nallow_anonymous true\n"
        f"listener {broker.with_password} 127.0.0.1\n{tls}"
        f"allow_anonymous false\npassword_file {passwords}\n"
        f"listener {broker.with_certificate} 127.0.0.1\n{tls}"
        "require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for port in (broker.plain, broker.with_password, broker.with_certificate):
            wait_for_port("127.0.0.1", port)
        yield broker
    finally:
        process.terminate()
        process.wait(10)


def tls_config(
    broker: TlsBroker, topic_root: str, tmp_path: Path, port: int, **mqtt: Any
) -> EdgeConfig:
    data = edge_config_data(f"mqtts://127.0.0.1:{port}", topic_root, tmp_path / "outbox.sqlite3")
    data["mqtt"].update(ca_file=str(broker.ca), **mqtt)
    return EdgeConfig.model_validate(data)


async def tap_arrives(agent: EdgeAgent, broker: TlsBroker, topic_root: str) -> None:
    with subscribed(f"mqtt://127.0.0.1:{broker.plain}", f"{topic_root}/#") as sub:
        async with running(agent):
            reader = agent.readers["entrance"]
            assert isinstance(reader, FakeBadgeReader)
            reader.tap("04A1B2C3D4E5F6")
            await asyncio.to_thread(sub.wait_for, "/badge", lambda m: len(m) == 1)


async def test_tls_with_the_site_ca_and_a_password(
    tls_broker: TlsBroker, topic_root: str, tmp_path: Path
) -> None:
    config = tls_config(
        tls_broker,
        topic_root,
        tmp_path,
        tls_broker.with_password,
        username="viry-entrance-pi",
        password="s3cret-password",
    )
    await tap_arrives(EdgeAgent(config), tls_broker, topic_root)


async def test_tls_with_a_client_certificate(
    tls_broker: TlsBroker, topic_root: str, tmp_path: Path
) -> None:
    config = tls_config(
        tls_broker,
        topic_root,
        tmp_path,
        tls_broker.with_certificate,
        cert_file=str(tls_broker.client_cert),
        key_file=str(tls_broker.client_key),
    )
    await tap_arrives(EdgeAgent(config), tls_broker, topic_root)


async def test_a_wrong_password_is_refused_and_the_taps_wait(
    tls_broker: TlsBroker, topic_root: str, tmp_path: Path
) -> None:
    config = tls_config(
        tls_broker,
        topic_root,
        tmp_path,
        tls_broker.with_password,
        username="viry-entrance-pi",
        password="not-the-password",
    )
    agent = EdgeAgent(config)
    reader = agent.readers["entrance"]
    assert isinstance(reader, FakeBadgeReader)
    reader.tap("04A1B2C3D4E5F6")
    task = asyncio.create_task(agent.run())
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await agent.wait_connected()
        assert agent.outbox.depth() == 1, "kept for when the password is fixed"
    finally:
        agent.stop()
        await task
