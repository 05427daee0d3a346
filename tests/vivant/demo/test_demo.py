"""The README's promise: `vivant demo` runs, and its mosquitto_pub example greets Camille."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.mosquitto import free_port
from tests.support.sse import SseClient

ROOT = Path(__file__).resolve().parents[3]
VIVANT = Path(sys.executable).with_name("vivant")


def readme_tap_command() -> str:
    """The shell command under the `<!-- tap-example -->` marker of README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- tap-example -->\s*```sh\n(.*?)```", text, re.S)
    assert match, "README.md lost its tap example"
    return match.group(1).strip()


def test_readme_tap_example_targets_the_demo_defaults() -> None:
    command = readme_tap_command()
    assert command.startswith("mosquitto_pub -h 127.0.0.1 -p 1884 ")
    assert "vivant/v1/ekilibre/entree/badge" in command


async def sign_in_as_printed(output: str, http_port: int) -> None:
    """The banner's staff account opens the staff dashboard through the sign-in form."""
    account = re.search(r"Staff +: (\S+)/staff +\(sign in: (\S+) / (\S+)\)", output)
    assert account, "the banner shows no staff account:\n" + output
    base, email, password = account.groups()
    assert base == f"http://127.0.0.1:{http_port}"
    async with httpx.AsyncClient(base_url=base) as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        data = {"email": email, "password": password, "csrf_token": token.group(1)}
        assert (await client.post("/login", data=data)).status_code == 303
        dashboard = await client.get("/staff")
    assert dashboard.status_code == 200
    assert "Le Rooftop de Viry" in dashboard.text


async def test_demo_runs_and_readme_tap_greets_camille(tmp_path: Path) -> None:
    http_port, mqtt_port = free_port(), free_port()
    args = ["demo", "--port", str(http_port), "--mqtt-port", str(mqtt_port)]
    args += ["--data", str(tmp_path / "demo"), "--tap-every", "3600"]
    process = await asyncio.create_subprocess_exec(
        str(VIVANT),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    output = ""
    try:
        async with asyncio.timeout(60):
            while "Tap a badge by hand" not in output:
                line = await process.stdout.readline()
                assert line, "demo exited early:\n" + output
                output += line.decode()
        tokens = {}
        for site in ("ekilibre", "un-bureau-et-plus", "rooftop-viry"):
            url = re.search(
                rf"http://127\.0\.0\.1:{http_port}/screens/{site}/hall\?token=(\S+)", output
            )
            assert url, output
            tokens[site] = url.group(1)
        assert f"MQTT broker : mqtt://127.0.0.1:{mqtt_port}" in output

        screen = (
            f"http://127.0.0.1:{http_port}/screens/ekilibre/hall/events?token={tokens['ekilibre']}"
        )
        async with SseClient(screen).open() as sse:
            command = readme_tap_command().replace("-p 1884", f"-p {mqtt_port}")
            tap = await asyncio.create_subprocess_exec("bash", "-c", command)
            assert await tap.wait() == 0
            greeting = (await sse.next("greeting", within=5)).json()
        assert greeting["title"] == "Bonjour Camille !"
        await sign_in_as_printed(output, http_port)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(20):
                rest = (await process.stdout.read()).decode()
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail("the demo did not stop on Ctrl-C")
    assert process.returncode == 0, rest
    assert "Stopping" in rest
    assert "Traceback" not in rest, rest
