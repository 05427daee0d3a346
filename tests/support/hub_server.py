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


def daytime_zone(now: datetime, hour: int = 10) -> str:
    """A fixed-offset IANA zone in which *now* is about *hour* o'clock (within half an hour).

    Tests seed presence sessions and moments relative to the wall clock ("arrived 95 minutes
    ago", "starts in 30 minutes"). In Europe/Paris a run at 23:45 would cross the site's 23:30
    cut-off, which rightly checks everyone out, and midnight, which moves "today's" moments to
    tomorrow: such tests would fail for an hour or two every night. The sites of the test
    configurations live in this zone instead, so whenever the suite runs it is mid-morning
    there; tests about a particular zone (daylight saving in Paris) name it explicitly.
    """
    utc = now.astimezone(UTC)
    offset = round(hour - (utc.hour + utc.minute / 60))
    offset = (offset + 12) % 24 - 12  # UTC-12 … UTC+11, all of them zones of the database
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # the Etc sign is reversed


# Where the sites of the test configurations are: mid-morning at the start of the run.
SITE_ZONE = daytime_zone(datetime.now(UTC))


def hub_config(
    broker_url: str,
    topic_root: str,
    db_url: str,
    *,
    client_id: str = "vivant-hub-test",
    port: int | None = None,
    timezone: str = SITE_ZONE,
) -> HubConfig:
    """A one-site hub configuration like an installer would write it.

    The site is in :data:`SITE_ZONE` unless *timezone* says otherwise: tests that run a hub
    against the wall clock want mid-morning, tests of fixed dates name their zone.
    """
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
                    "timezone": timezone,
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


def in_minutes(minutes: float) -> datetime:
    """An aware UTC datetime *minutes* from now."""
    return datetime.now(UTC) + timedelta(minutes=minutes)
