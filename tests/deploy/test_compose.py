"""deploy/compose.yaml, checked without a container engine: services, ports, volumes, health
checks, environment, and that every file it (or what it mounts) refers to exists or is
documented as generated."""

from __future__ import annotations

import getpass
import ipaddress
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.config import HubConfig
from hub.doctor import Outcome, check_broker
from tests.support.mosquitto import free_port, mosquitto_binary, wait_for_port
from vivant.config_file import load_yaml
from vivant.mqtt import MqttSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"

# Files the installer generates (never committed); each is documented in deploy/README.md with
# the command that writes it and ignored by deploy/.gitignore.
GENERATED = {
    "mosquitto/passwd": "vivant mqtt gen-passwd",
    "mosquitto/acl": "vivant mqtt gen-acl",
    "mosquitto/certs": "openssl",
    "mosquitto/certs/ca.crt": "openssl",
}
REGISTRY_HOSTS = re.compile(
    r"\b(docker\.io|ghcr\.io|quay\.io|gcr\.io|registry\.[a-z0-9.-]+|[a-z0-9-]+\.azurecr\.io|"
    r"public\.ecr\.aws|pypi\.org|files\.pythonhosted\.org)\b"
)
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume of *service* (short syntax)."""
    found = []
    for item in service.get("volumes", []):
        assert isinstance(item, str), "use the short volume syntax: source:target[:ro]"
        source, target, *_ = item.split(":")
        found.append((source, target))
    return found


def names_registry_host(image: str) -> bool:
    """Whether *image* starts with a registry host (``host.tld/…``, ``host:port/…``)."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def uncommented(path: Path) -> str:
    """The lines of *path* that are not comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def is_bind(source: str) -> bool:
    return source.startswith((".", "/"))


def test_the_five_services_of_a_site(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"mosquitto", "postgres", "influxdb", "grafana", "hub"}


def test_every_service_has_a_health_check_and_restarts(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert len(check["test"]) > 1, name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck.{key}"
        assert service.get("restart") == "unless-stopped", name


def test_dependencies_wait_for_health(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    assert set(all_services["hub"]["depends_on"]) == {"mosquitto", "postgres", "influxdb"}
    for name, service in all_services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in all_services, f"{name} depends on unknown {dependency}"
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"


def test_published_ports(compose: dict[str, Any]) -> None:
    published = {
        name: sorted(int(p.rsplit(":", 1)[1]) for p in service.get("ports", []))
        for name, service in services(compose).items()
    }
    # Only what people and nodes reach; the database and InfluxDB stay on the internal network.
    assert published == {
        "mosquitto": [8883],
        "postgres": [],
        "influxdb": [],
        "grafana": [3000],
        "hub": [8080],
    }


def test_images_name_no_registry_host(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        image = service["image"]
        assert not names_registry_host(image), image
        assert ":" in image.split("/")[-1], f"{name}: pin a tag ({image})"
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.name != ".env":
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not REGISTRY_HOSTS.search(text), f"{path} names a registry host"


def test_named_volumes_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = {
        source
        for service in services(compose).values()
        for source, _ in mounts(service)
        if not is_bind(source)
    }
    assert used == declared
    for name in ("mosquitto", "postgres", "influxdb", "grafana", "hub"):
        assert any(not is_bind(s) for s, _ in mounts(services(compose)[name])), (
            f"{name} keeps its data in no named volume"
        )


def test_every_bind_mounted_file_exists_or_is_documented_as_generated(
    compose: dict[str, Any],
) -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    for name, service in services(compose).items():
        for source, _ in mounts(service):
            if not is_bind(source):
                continue
            relative = PurePosixPath(source).as_posix().removeprefix("./")
            if relative in GENERATED:
                assert f"deploy/{relative}" in readme, f"README does not explain {relative}"
                assert GENERATED[relative] in readme
                assert any(relative == i.rstrip("/") or relative.startswith(i) for i in ignored)
            else:
                assert (DEPLOY / source).resolve().exists(), f"{name}: {source} does not exist"


def test_hub_image_builds_from_this_tree(compose: dict[str, Any]) -> None:
    build = services(compose)["hub"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    dockerfile = context / build["dockerfile"]
    assert context == ROOT
    text = dockerfile.read_text(encoding="utf-8")
    base = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert base is not None
    assert not names_registry_host(base.group(1))
    assert '-c constraints.txt ".[hub]"' in text
    for line in re.findall(r"^COPY\s+(.+)$", text, re.MULTILINE):
        for source in line.split()[:-1]:
            assert (context / source).exists(), f"Dockerfile copies missing {source}"
    assert re.search(r"^USER\s+vivant$", text, re.MULTILINE), "the hub must not run as root"


def test_every_variable_is_in_env_example(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    example = env_example()
    used = set(VARIABLE.findall(text))
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    unused = set(example) - used - {"COMPOSE_PROJECT_NAME"}
    assert not unused, f".env.example sets unused {sorted(unused)}"
    # Secrets are required (:?), never silently empty.
    for secret in ("POSTGRES_PASSWORD", "INFLUXDB_TOKEN", "VIVANT_MQTT_PASSWORD"):
        assert re.search(r"\$\{" + secret + r":\?", text), secret
        assert example[secret] == "", f"{secret} must not have a value in the example"


def test_influxdb_set_up_from_the_environment(compose: dict[str, Any]) -> None:
    env = services(compose)["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key, variable in (
        ("DOCKER_INFLUXDB_INIT_ORG", "INFLUXDB_ORG"),
        ("DOCKER_INFLUXDB_INIT_BUCKET", "INFLUXDB_BUCKET"),
        ("DOCKER_INFLUXDB_INIT_ADMIN_TOKEN", "INFLUXDB_TOKEN"),
        ("DOCKER_INFLUXDB_INIT_PASSWORD", "INFLUXDB_ADMIN_PASSWORD"),
    ):
        assert VARIABLE.findall(env[key]) == [variable], key


def test_mosquitto_config_uses_tls_accounts_acl_and_mounted_files(
    compose: dict[str, Any],
) -> None:
    broker = services(compose)["mosquitto"]
    configs = compose["configs"]
    targets = {item["target"]: configs[item["source"]]["content"] for item in broker["configs"]}
    conf_path = broker["command"][-1]
    conf = targets[conf_path]
    mounted = [target for _, target in mounts(broker)] + list(targets)
    referenced = re.findall(
        r"^(?:cafile|certfile|keyfile|password_file|acl_file)\s+(\S+)$", conf, re.MULTILINE
    )
    assert len(referenced) == 6
    for path in referenced:
        assert any(path == m or path.startswith(m + "/") for m in mounted), path
    tls_listener = conf.split("listener 8883", 1)[1].split("listener ", 1)[0]
    assert "allow_anonymous false" in tls_listener
    assert "password_file" in tls_listener
    assert "acl_file" in tls_listener
    assert "certfile" in tls_listener
    # The anonymous health listener is reachable only from inside the container.
    assert re.search(r"^listener 1880 127\.0\.0\.1$", conf, re.MULTILINE)
    assert "1880" not in " ".join(broker["ports"])


def test_hub_config_matches_the_services(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = services(compose)["hub"]
    path = DEPLOY / "hub" / "hub.yaml"
    text = uncommented(path)
    needed = set(re.findall(r"\{env: ([A-Z_0-9]+)\}", text))
    assert needed <= set(hub["environment"]), sorted(needed - set(hub["environment"]))
    for name in needed:
        monkeypatch.setenv(name, "x" * 40)
    config = load_yaml(path, HubConfig)
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("mosquitto", 8883, True)
    targets = {target for _, target in mounts(hub)}
    assert str(config.mqtt.ca_file) in targets
    assert "/etc/vivant/hub.yaml" in targets
    assert urlsplit(config.database.url).hostname == "postgres"
    assert urlsplit(config.database.url).password is None, "the password comes from PGPASSWORD"
    assert config.timeseries is not None
    assert urlsplit(config.timeseries.url).hostname == "influxdb"
    assert str(config.timeseries.spool_path).startswith("/var/lib/vivant/")
    assert "/var/lib/vivant" in targets
    assert config.http.host == "0.0.0.0"  # noqa: S104 - inside its container
    assert (config.timeseries.org, config.timeseries.bucket) == (
        env_example()["INFLUXDB_ORG"],
        env_example()["INFLUXDB_BUCKET"],
    )


def test_grafana_provisioning(compose: dict[str, Any]) -> None:
    grafana = services(compose)["grafana"]
    binds = dict(mounts(grafana))
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert binds["./grafana/provisioning"] == "/etc/grafana/provisioning"
    datasource = yaml.safe_load(
        (provisioning / "datasources" / "influxdb.yaml").read_text(encoding="utf-8")
    )["datasources"][0]
    assert datasource["type"] == "influxdb"
    assert datasource["jsonData"]["version"] == "Flux"
    assert urlsplit(datasource["url"]).hostname == "influxdb"
    text = uncommented(provisioning / "datasources" / "influxdb.yaml")
    for variable in re.findall(r"\$([A-Z_]+)", text):
        assert variable in grafana["environment"], variable
    provider = yaml.safe_load(
        (provisioning / "dashboards" / "vivant.yaml").read_text(encoding="utf-8")
    )["providers"][0]
    assert binds["../dashboards"] == provider["options"]["path"]
    assert (DEPLOY / "../dashboards").resolve() == ROOT / "dashboards"


def _self_signed(name: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _server_cert(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mosquitto")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("mosquitto"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


@pytest.mark.mosquitto
def test_the_brokers_configuration_runs_in_a_real_mosquitto(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """The inline configuration, with the container paths mapped to files here: TLS with an
    account works, a wrong password and anonymous are refused, the health check passes."""
    broker = services(compose)["mosquitto"]
    configs = compose["configs"]
    conf = configs["mosquitto_conf"]["content"].replace("$$", "$")
    certs = tmp_path / "certs"
    certs.mkdir()
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _self_signed("Vivant test site CA", ca_key)
    pem = serialization.Encoding.PEM
    (certs / "ca.crt").write_bytes(ca.public_bytes(pem))
    (certs / "server.crt").write_bytes(_server_cert(ca, ca_key, server_key).public_bytes(pem))
    (certs / "server.key").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "hub", "hub-password"],
        check=True,
        capture_output=True,
    )
    (tmp_path / "acl").write_text("user hub\ntopic readwrite vivant/v1/#\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    # Container paths -> files here, longest first so a directory never shadows its files.
    mapping = {target: str(tmp_path / Path(source).name) for source, target in mounts(broker)}
    for item in broker["configs"]:
        local = tmp_path / Path(item["target"]).name
        local.write_text(configs[item["source"]]["content"].replace("$$", "$"), encoding="utf-8")
        mapping[item["target"]] = str(local)
    mapping["/mosquitto/data"] = str(tmp_path / "data")
    mapping["/mosquitto/config/certs"] = str(certs)
    for target in sorted(mapping, key=len, reverse=True):
        conf = conf.replace(target, mapping[target])
    tls_port, health_port = free_port(), free_port()
    conf = conf.replace("listener 8883", f"listener {tls_port} 127.0.0.1")
    conf = conf.replace("listener 1880 127.0.0.1", f"listener {health_port} 127.0.0.1")
    assert "/mosquitto/" not in conf
    (tmp_path / "vivant.conf").write_text(f"user {getpass.getuser()}\n{conf}", encoding="utf-8")
    process = subprocess.Popen(
        [mosquitto_binary(), "-c", str(tmp_path / "vivant.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", tls_port)
        url = f"mqtts://127.0.0.1:{tls_port}"
        ca_file = certs / "ca.crt"
        good = MqttSettings(url=url, ca_file=ca_file, username="hub", password="hub-password")
        assert [f.outcome for f in check_broker(good)] == [Outcome.OK, Outcome.OK]
        wrong = MqttSettings(url=url, ca_file=ca_file, username="hub", password="nope")
        assert [f.outcome for f in check_broker(wrong)] == [Outcome.FAIL]
        assert [f.outcome for f in check_broker(MqttSettings(url=url, ca_file=ca_file))] == [
            Outcome.FAIL
        ]
        # The compose health check, as written, against the health listener.
        command = [
            str(health_port) if arg == "1880" else arg.replace("$$", "$")
            for arg in broker["healthcheck"]["test"][1:]
        ]
        health = subprocess.run(command, capture_output=True, text=True, timeout=15, check=False)
        assert health.returncode == 0, health.stderr
        assert health.stdout.strip().endswith("seconds")
        # The health listener lets an anonymous client read nothing else: a retained message
        # the hub's account publishes over TLS stays out of its reach.
        as_hub = ["-h", "127.0.0.1", "-p", str(tls_port), "--cafile", str(ca_file)]
        as_hub += ["-u", "hub", "-P", "hub-password"]
        subprocess.run(
            ["mosquitto_pub", *as_hub, "-t", "vivant/v1/probe", "-m", "x", "-r"],
            check=True,
            capture_output=True,
            timeout=15,
        )
        readable = subprocess.run(
            ["mosquitto_sub", *as_hub, "-t", "vivant/v1/#", "-C", "1", "-W", "5"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        assert readable.stdout.strip() == "x"
        denied = subprocess.run(
            [*command[:5], "-t", "vivant/v1/#", "-C", "1", "-W", "2"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        assert denied.returncode != 0
    finally:
        process.terminate()
        process.wait(10)
