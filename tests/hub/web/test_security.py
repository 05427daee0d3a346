"""Security headers: what each path gets, and that real responses (pages, streams) carry them."""

from __future__ import annotations

from pathlib import Path

import httpx

from hub.web.security import headers_for
from tests.support.hub_server import hub_config, running_hub
from tests.support.mosquitto import free_port


def as_dict(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in headers}


def test_pages_cannot_be_framed_and_load_nothing_from_elsewhere() -> None:
    staff = as_dict(headers_for("/staff", https=False))
    assert staff["x-frame-options"] == "DENY"
    assert staff["content-security-policy"].endswith("frame-ancestors 'none'")
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "connect-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "form-action 'self'"):  # fmt: skip
        assert directive in staff["content-security-policy"]
    assert "unsafe-inline" not in staff["content-security-policy"]
    assert "strict-transport-security" not in staff


def test_lobby_screens_may_be_framed_and_https_adds_hsts() -> None:
    screen = as_dict(headers_for("/screens/ekilibre/hall", https=True))
    assert "x-frame-options" not in screen
    assert "frame-ancestors" not in screen["content-security-policy"]
    assert screen["strict-transport-security"] == "max-age=31536000"


def test_real_responses_carry_the_headers(
    system_broker_url: str, topic_root: str, tmp_path: Path
) -> None:
    config = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}", port=free_port(),
    )  # fmt: skip
    with running_hub(config) as hub, httpx.Client(base_url=hub.base_url) as client:
        login_page = client.get("/login")
        screen = client.get(hub.screen_url)
        css = client.get("/static/staff.css")
        health = client.get("/healthz")
        with client.stream("GET", hub.events_url) as stream:
            stream_headers = stream.headers
    csp = login_page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no external origin at all
    assert login_page.headers["x-frame-options"] == "DENY"
    assert login_page.headers["x-content-type-options"] == "nosniff"
    assert login_page.headers["referrer-policy"] == "same-origin"
    assert login_page.headers["cache-control"] == "no-store"
    assert "frame-ancestors" not in screen.headers["content-security-policy"]
    assert css.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in css.headers.get("cache-control", "")
    assert health.headers["x-content-type-options"] == "nosniff"
    assert stream_headers["content-type"].startswith("text/event-stream")
    assert stream_headers["x-content-type-options"] == "nosniff"
