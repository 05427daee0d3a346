"""deploy/compose.yaml, checked without a container engine: services, ports, volumes, health
checks, environment, and that every file it (or what it mounts) refers to exists or is
documented as generated."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from hub.config import HubConfig
from vivant.config_file import load_yaml

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
