"""Password file in Mosquitto's ``$7$`` format, and the secrets directory behind it."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.mosquitto import PrivateBroker
from tests.support.mqtt_probe import Probe, logged_in
from tests.vivant.broker.conftest import hub_config_data
from vivant.broker.passwd import (
    PasswordError,
    Source,
    env_name,
    hash_password,
    obtain_credentials,
    parse_password_file,
    render_password_file,
    verify_password,
)
from vivant.cli import main

NOT_AUTHORIZED = 135


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_hashes_of_the_real_mosquitto_passwd_verify(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwd), "camille", "un mot de passe é"],
        check=True,
        capture_output=True,
    )
    hashed = parse_password_file(passwd.read_text(encoding="utf-8"))["camille"]
    assert hashed.startswith("$7$101$")
    assert verify_password("un mot de passe é", hashed)
    assert not verify_password("un mot de passe e", hashed)


def test_hash_format_is_mosquittos() -> None:
    hashed = hash_password("secret-password", iterations=101, salt=b"0123456789ab")
    _, seven, iterations, salt, digest = hashed.split("$")
    assert (seven, iterations, salt) == ("7", "101", "MDEyMzQ1Njc4OWFi")
    assert len(digest) == 88  # 64 bytes in base64
    assert hash_password("secret-password", iterations=101) != hashed  # a fresh salt each time
    assert not verify_password("secret-password", "$6$plain-sha512$whatever")


@pytest.mark.mosquitto
@pytest.mark.parametrize("iterations", [101, 10_000])
def test_the_real_broker_accepts_our_hashes(tmp_path: Path, iterations: int) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text(
        f"node-a:{hash_password('correct-horse-battery', iterations=iterations)}\n",
        encoding="utf-8",
    )
    broker = PrivateBroker(
        tmp_path / "mosquitto", allow_anonymous=False, extra_config=f"password_file {passwd}\n"
    )
    broker.start()
    try:
        with logged_in(broker.port, username="node-a", password="correct-horse-battery"):
            pass
        wrong = Probe(broker.port, username="node-a", password="correct-horse-battery!")
        assert wrong.connect().value == NOT_AUTHORIZED
    finally:
        broker.stop()


def test_passwords_come_from_env_then_file_else_are_generated_once(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    (secrets_dir / "node-b").write_text("from-a-file-password\n", encoding="utf-8")
    (secrets_dir / "node-b").chmod(0o600)
    environ = {env_name("hub"): "from-the-environment"}
    first = obtain_credentials(["hub", "node-b", "node-c"], secrets_dir, environ)
    assert [(c.user, c.source) for c in first] == [
        ("hub", Source.ENV),
        ("node-b", Source.FILE),
        ("node-c", Source.GENERATED),
    ]
    assert first[0].password == "from-the-environment"
    assert first[1].password == "from-a-file-password"
    generated = secrets_dir / "node-c"
    assert mode(generated) == 0o600
    assert generated.read_text(encoding="utf-8").strip() == first[2].password
    assert len(first[2].password) >= 32
    assert first[2].password not in repr(first)
    again = obtain_credentials(["node-c"], secrets_dir, {})
    assert (again[0].source, again[0].password) == (Source.FILE, first[2].password)


def test_env_names() -> None:
    assert env_name("un-bureau-et-plus-entree") == "VIVANT_MQTT_PASSWORD_UN_BUREAU_ET_PLUS_ENTREE"


def test_unsafe_secrets_are_refused(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o755)
    open_dir.chmod(0o755)
    with pytest.raises(PasswordError, match="chmod 700"):
        obtain_credentials(["hub"], open_dir, {})
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    readable = secrets_dir / "hub"
    readable.write_text("a-long-enough-password", encoding="utf-8")
    readable.chmod(0o644)
    with pytest.raises(PasswordError, match="chmod 600"):
        obtain_credentials(["hub"], secrets_dir, {})
    with pytest.raises(PasswordError, match="at least 12"):
        obtain_credentials(["node"], secrets_dir, {env_name("node"): "short"})


def test_the_file_keeps_a_hash_while_its_password_is_unchanged(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    credentials = obtain_credentials(["hub", "node-a"], secrets_dir, {})
    first = parse_password_file(render_password_file(credentials, iterations=101))
    second = parse_password_file(render_password_file(credentials, previous=first, iterations=101))
    assert second == first
    (secrets_dir / "node-a").write_text("a-brand-new-password", encoding="utf-8")
    changed = obtain_credentials(["hub", "node-a"], secrets_dir, {})
    third = parse_password_file(render_password_file(changed, previous=first, iterations=101))
    assert third["hub"] == first["hub"]
    assert third["node-a"] != first["node-a"]
    assert verify_password("a-brand-new-password", third["node-a"])


def test_gen_passwd_and_gen_acl_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = hub_config_data()
    # The hub's password is one the command is about to generate: not available yet.
    data["mqtt"]["password"] = {"file": str(tmp_path / "secrets" / "hub")}
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    passwd = tmp_path / "passwd"
    monkeypatch.delenv(env_name("hub"), raising=False)
    args = ["mqtt", "gen-passwd", "--config", str(config), "--secrets", str(tmp_path / "secrets")]
    extra = ["--extra-user", "espresense-kitchen", "--extra-user", "hub"]
    assert main([*args, "-o", str(passwd), "--bridges", *extra]) == 0
    out, err = capsys.readouterr()
    users = list(parse_password_file(passwd.read_text(encoding="utf-8")))
    assert users == [
        "hub",
        "ekilibre-entree",
        "ekilibre-cuisine",
        "rooftop-viry-entree",
        "bridge-ekilibre",
        "bridge-rooftop-viry",
        "espresense-kitchen",
    ]
    assert mode(passwd) == 0o600
    assert mode(tmp_path / "secrets") == 0o700
    for user in users:
        secret = (tmp_path / "secrets" / user).read_text(encoding="utf-8").strip()
        assert f"new password for {user}: " in out
        assert secret not in out + err, "a password is never printed"
    assert "secrets not available here" in err
    acl = tmp_path / "acl"
    assert main(["mqtt", "gen-acl", "--config", str(config), "--site", "rooftop-viry"]) == 0
    text = capsys.readouterr().out
    assert "user rooftop-viry-entree" in text
    assert "ekilibre-entree" not in text
    assert main(["mqtt", "gen-acl", "--config", str(config), "-o", str(acl)]) == 0
    assert "user ekilibre-entree" in acl.read_text(encoding="utf-8")
    assert main(["mqtt", "gen-acl", "--config", str(config), "--site", "nowhere"]) == 2
    assert "unknown site(s) nowhere" in capsys.readouterr().err
    assert main([*args, "-o", str(passwd), "--extra-user", "bad+user"]) == 2
    assert "bad+user" in capsys.readouterr().err


def test_a_broken_hub_configuration_is_reported_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = hub_config_data()
    data["sites"][0]["nodes"][0]["id"] = "Entrée"
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["mqtt", "gen-acl", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:" in err
    assert "sites.0.nodes.0.id" in err
