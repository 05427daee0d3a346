"""A real hub (uvicorn + the FastAPI app + its runtime) on a free port, in a thread of its own."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import uvicorn

from hub.config import HubConfig
from hub.runtime import HubRuntime
from hub.screen_auth import screen_token
from hub.web.app import create_app
from tests.support.mosquitto import free_port

SITE = "ekilibre"
NODE = "entree"
SCREEN = "hall"


def hub_config(
    broker_url: str,
    topic_root: str,
    db_url: str,
    *,
    client_id: str = "vivant-hub-test",
    port: int | None = None,
) -> HubConfig:
    """A one-site hub configuration like an installer would write it."""
    return HubConfig.model_validate(
        {
            "mqtt": {"url": broker_url, "topic_root": topic_root, "client_id": client_id},
            "database": {"url": db_url},
            "http": {"port": port or free_port()},
            "greeting_seconds": 2,
            "sites": [
                {
                    "id": SITE,
                    "name": "éKilibre",
                    "timezone": "Europe/Paris",
                    "rooms": [
                        {"id": "accueil", "name": "Accueil", "kind": "lobby"},
                        {"id": "cuisine", "name": "Cuisine", "kind": "community", "capacity": 20},
                        {"id": "open-space", "name": "Open space", "kind": "desk", "capacity": 30},
                    ],
                    "nodes": [{"id": NODE, "rooms": ["accueil"]}],
                    "screens": [{"id": SCREEN, "name": "Hall"}],
                }
            ],
        }
    )


@dataclass
class RunningHub:
    """A hub serving HTTP on 127.0.0.1."""

    config: HubConfig
    server: uvicorn.Server
    thread: threading.Thread
    runtime: HubRuntime

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.config.http.port}"

    @functools.cached_property
    def screen_token(self) -> str:
        """The test screen's token (as `vivant hub screen-url` puts in the kiosk URL)."""
        site = self.config.sites[0]
        screen = site.screen(SCREEN)
        assert self.runtime.signer is not None
        assert screen is not None
        return screen_token(self.runtime.signer, site, screen)

    @property
    def screen_url(self) -> str:
        """The test site's lobby screen, with its token."""
        return f"{self.base_url}/screens/{SITE}/{SCREEN}?token={self.screen_token}"

    @property
    def state_url(self) -> str:
        """The test screen's idle state, with its token."""
        return f"{self.base_url}/screens/{SITE}/{SCREEN}/state?token={self.screen_token}"

    @property
    def events_url(self) -> str:
        """The test screen's event stream, with its token."""
        return f"{self.base_url}/screens/{SITE}/{SCREEN}/events?token={self.screen_token}"

    def stop(self) -> None:
        """Shut down like Ctrl-C would (lifespan shutdown included).

        Uvicorn waits for open responses before it stops, and a lobby page's event stream never
        ends by itself: under a signal sse-starlette ends it, here the broadcaster does.
        """
        self.runtime.broadcaster.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "hub did not stop"


def start_hub(
    config: HubConfig,
    timeout: float = 15.0,
    clock: Callable[[], datetime] | None = None,
    *,
    log_level: str = "warning",
    on_configured: Callable[[], object] | None = None,
) -> RunningHub:
    """Start a hub and wait until it serves and is connected to its broker.

    *log_level* is uvicorn's (``"debug"``: its access log too); *on_configured* runs once uvicorn
    has configured its loggers, before anything is served (to install log filters).
    """
    app = create_app(config, clock=clock)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=config.http.port,
            log_level=log_level,
            lifespan="on",
            proxy_headers=False,  # as `vivant hub` serves: http.trusted_proxies decides
        )
    )
    if on_configured is not None:
        on_configured()
    thread = threading.Thread(target=server.run, name="test-hub", daemon=True)
    thread.start()
    runtime: HubRuntime = app.state.runtime
    deadline = time.monotonic() + timeout
    while not (server.started and runtime.connected()):
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise TimeoutError("hub did not start")
        time.sleep(0.02)
    return RunningHub(config, server, thread, runtime)


@contextlib.contextmanager
def running_hub(
    config: HubConfig,
    clock: Callable[[], datetime] | None = None,
    *,
    log_level: str = "warning",
    on_configured: Callable[[], object] | None = None,
) -> Iterator[RunningHub]:
    """Context manager around :func:`start_hub` (*clock*: the nudges' time, for time travel)."""
    hub = start_hub(config, clock=clock, log_level=log_level, on_configured=on_configured)
    try:
        yield hub
    finally:
        hub.stop()


def today_at(hour: int, minute: int = 0, zone: str = "Europe/Paris") -> datetime:
    """An aware datetime today at *hour*:*minute* in *zone*."""
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo(zone))
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0)


def in_minutes(minutes: float) -> datetime:
    """An aware UTC datetime *minutes* from now."""
    return datetime.now(UTC) + timedelta(minutes=minutes)
