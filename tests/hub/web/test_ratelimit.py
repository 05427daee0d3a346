"""Per-client limits on the public pages: the window itself, then over HTTP against a real hub."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from hub.config import HttpSettings
from hub.web.ratelimit import SlidingWindow
from tests.support.hub_server import SCREEN, SITE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_allows_its_limit_then_says_how_long_to_wait() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60, monotonic=clock)
    assert [window.hit("a") for _ in range(3)] == [None, None, None]
    clock.now += 20
    assert window.hit("a") == pytest.approx(40)
    assert window.hit("b") is None  # per client
    assert window.blocked("a") == pytest.approx(40)
    clock.now += 40
    assert window.blocked("a") is None
    assert window.hit("a") is None


def test_failures_are_recorded_past_the_limit_and_waits_are_at_least_a_second() -> None:
    clock = Clock()
    window = SlidingWindow(2, 60, monotonic=clock)
    for _ in range(5):
        window.record("x")
    clock.now += 59.5
    assert window.blocked("x") == 1.0
    clock.now += 1
    assert window.blocked("x") is None


def test_defaults_never_bother_a_member() -> None:
    settings = HttpSettings()
    assert settings.public_requests_per_minute >= 30
    assert settings.screen_failures_per_minute >= 10


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, tmp_path: Path) -> Iterator[RunningHub]:
    config = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}", port=free_port(),
    )  # fmt: skip
    limited = config.http.model_copy(
        update={"public_requests_per_minute": 4, "screen_failures_per_minute": 3}
    )
    with running_hub(config.model_copy(update={"http": limited})) as running:
        yield running


def test_member_links_and_the_ical_feed_share_a_per_client_limit(hub: RunningHub) -> None:
    with httpx.Client(base_url=hub.base_url, timeout=10) as client:
        answers = [
            client.get("/rsvp/not-a-token"),
            client.post("/rsvp/not-a-token", data={"action": "join"}),
            client.get("/privacy/not-a-token"),
            client.get(f"/sites/{SITE}/moments.ics"),
        ]
        assert [a.status_code for a in answers] == [400, 400, 404, 200]
        for path in ("/rsvp/x", "/privacy/x/export.json", f"/sites/{SITE}/moments.ics"):
            refused = client.get(path)
            assert refused.status_code == 429, path
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert "Trop de demandes" in refused.text
            assert "Too many requests" in refused.text
        # Not limited here: the request form (its own limiter), sign-in (its own), health.
        assert client.get("/privacy").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/login").status_code == 200


def test_screens_with_their_token_are_never_limited_wrong_tokens_are(hub: RunningHub) -> None:
    base = f"/screens/{SITE}/{SCREEN}"
    with httpx.Client(base_url=hub.base_url, timeout=10) as client:
        for _ in range(12):  # a kiosk reloading its state: far past every limit
            assert client.get(f"{base}/state", params={"token": hub.screen_token}).is_success
        with client.stream("GET", f"{base}/events", params={"token": hub.screen_token}) as s:
            assert s.status_code == 200
        wrong = [client.get(f"{base}/state", params={"token": "x" * 40}) for _ in range(3)]
        assert [w.status_code for w in wrong] == [403, 403, 403]
        blocked = client.get(f"{base}/state", params={"token": "x" * 40})
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert client.get(f"/screens/{SITE}/nowhere", params={"token": "x"}).status_code == 429


def test_a_wrong_screen_token_costs_no_database_query(hub: RunningHub) -> None:
    queries: list[str] = []

    def count(*args: Any) -> None:
        # The hub's own periodic work (ingest ticks, scheduler, enrolments, rollups) runs in the
        # event loop's worker threads ("asyncio_N"); requests run elsewhere (AnyIO workers for
        # plain routes, the loop itself for streams). Only the requests' queries count here.
        if not threading.current_thread().name.startswith("asyncio_"):
            queries.append(str(args[2]))

    event.listen(hub.runtime.engine, "before_cursor_execute", count)
    try:
        with httpx.Client(base_url=hub.base_url, timeout=10) as client:
            for path in ("", "/state", "/events"):
                wrong = client.get(f"/screens/{SITE}/{SCREEN}{path}", params={"token": "y" * 60})
                assert wrong.status_code == 403
    finally:
        event.remove(hub.runtime.engine, "before_cursor_execute", count)
    assert queries == []
