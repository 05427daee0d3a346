"""deploy/kiosk/: what can be checked without a Raspberry Pi desktop.

The scripts pass ``bash -n`` (shellcheck is not installed here), the systemd units have the
fields recovery depends on, every file the installer installs exists, and the launcher, run for
real with a fake browser profile, clears Chromium's crash flags and builds the kiosk command.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from pathlib import Path

import pytest

KIOSK = Path(__file__).resolve().parents[2] / "deploy" / "kiosk"
SCRIPTS = ["install.sh", "vivant-kiosk", "vivant-kiosk-session"]


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((KIOSK / name).read_text(encoding="utf-8"), source=name)
    return parser


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse_and_are_executable(script: str) -> None:
    path = KIOSK / script
    shell = "sh" if path.read_text(encoding="utf-8").startswith("#!/bin/sh") else "bash"
    result = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert os.access(path, os.X_OK), f"{script} is not executable"


def test_the_service_restarts_for_ever() -> None:
    service = unit("vivant-kiosk.service")
    assert service["Unit"]["StartLimitIntervalSec"] == "0"
    assert service["Service"]["Restart"] == "always"
    assert 1 <= int(service["Service"]["RestartSec"]) <= 30
    assert service["Service"]["ExecStart"] == "/usr/local/bin/vivant-kiosk"
    assert service["Service"]["EnvironmentFile"] == "/etc/vivant/kiosk.env"
    assert service["Install"]["WantedBy"] == "graphical-session.target"


def test_the_nightly_restart_timer() -> None:
    timer = unit("vivant-kiosk-restart.timer")
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d", timer["Timer"]["OnCalendar"])
    assert timer["Install"]["WantedBy"] == "timers.target"
    restart = unit("vivant-kiosk-restart.service")
    assert restart["Service"]["Type"] == "oneshot"
    assert restart["Service"]["ExecStart"].endswith("--user restart vivant-kiosk.service")


def test_watchdog_drop_in() -> None:
    watchdog = unit("watchdog.conf")
    assert int(watchdog["Manager"]["RuntimeWatchdogSec"]) > 0


def test_everything_the_installer_installs_exists() -> None:
    text = (KIOSK / "install.sh").read_text(encoding="utf-8")
    sources = set(re.findall(r'"\$SRC/([A-Za-z0-9._-]+)"', text))
    for loop in re.findall(r"for unit in ([^;]+);", text):
        sources |= set(loop.split())
    assert sources >= {
        "vivant-kiosk",
        "vivant-kiosk-session",
        "kiosk.env.example",
        "watchdog.conf",
        "vivant-kiosk.service",
        "vivant-kiosk-restart.timer",
    }
    for name in sources:
        assert (KIOSK / name).is_file(), name
    # The unit starts what the installer installs.
    assert "/usr/local/bin/vivant-kiosk" in unit("vivant-kiosk.service")["Service"]["ExecStart"]
    assert "BIN=/usr/local/bin" in text
    for desktop in ("labwc/autostart", "wayfire.ini", "LXDE-pi/autostart"):
        assert desktop in text
    for setting in ("do_boot_behaviour B4", "do_blanking 1", "autologin-user="):
        assert setting in text


def test_the_example_settings_name_a_lobby_page() -> None:
    text = (KIOSK / "kiosk.env.example").read_text(encoding="utf-8")
    url = re.search(r"^VIVANT_KIOSK_URL=(\S+)$", text, re.MULTILINE)
    assert url is not None
    assert re.fullmatch(
        r"https?://[^/]+/screens/[a-z0-9-]+/[a-z0-9-]+(\?token=[A-Za-z0-9%._-]+)?", url.group(1)
    )


def test_launcher_clears_crash_flags_and_starts_a_kiosk(tmp_path: Path) -> None:
    profile = tmp_path / "config" / "chromium"
    (profile / "Default").mkdir(parents=True)
    prefs = profile / "Default" / "Preferences"
    prefs.write_text(
        '{"profile":{"exit_type":"Crashed","exited_cleanly":false,"name":"x"}}', encoding="utf-8"
    )
    local_state = profile / "Local State"
    local_state.write_text('{"exited_cleanly":false}', encoding="utf-8")
    url = "http://127.0.0.1:9/screens/ekilibre/hall"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "VIVANT_KIOSK_URL": url,
        "VIVANT_KIOSK_WAIT_S": "0",
        "VIVANT_KIOSK_BROWSER": "chromium-browser",
        "VIVANT_KIOSK_DRY_RUN": "1",
    }
    result = subprocess.run(
        [str(KIOSK / "vivant-kiosk")], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    command = result.stdout.splitlines()
    assert command[0] == "chromium-browser"
    assert command[-1] == url
    for flag in ("--kiosk", "--noerrdialogs", "--disable-session-crashed-bubble"):
        assert flag in command
    assert f"--user-data-dir={profile}" in command
    assert prefs.read_text(encoding="utf-8") == (
        '{"profile":{"exit_type":"Normal","exited_cleanly":true,"name":"x"}}'
    )
    assert local_state.read_text(encoding="utf-8") == '{"exited_cleanly":true}'


def test_launcher_refuses_to_start_without_a_page(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(KIOSK / "vivant-kiosk")],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "VIVANT_KIOSK_URL" in result.stderr
