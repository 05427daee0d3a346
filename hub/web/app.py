"""The FastAPI application and its lifespan (which runs the hub)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Message

from hub import enrolment
from hub.accounts import Role
from hub.config import HubConfig
from hub.runtime import HubRuntime
from hub.web import (
    account,
    accounts_admin,
    auth,
    insights,
    members_admin,
    moments,
    nudges,
    privacy,
    ratelimit,
    rsvp,
    screens,
    staff,
    staff_moments,
    staff_nudges,
)
from hub.web.security import SecurityHeaders
from vivant import __version__

STATIC = Path(__file__).with_name("static")


async def warm_up(app: FastAPI) -> None:
    """Serve one request in-process before the hub starts consuming messages.

    FastAPI builds its route tables and anyio loads its thread-pool backend on the first request:
    over a second of interpreter time on a small machine, which used to land in the middle of the
    first batches after a start (the moment a hub drains what queued up while it was away).
    """
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: Message) -> None:
        return None

    await app(scope, receive, send)


def create_app(
    config: HubConfig,
    instance: str | None = None,
    clock: Callable[[], datetime] | None = None,
    started: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the application; the hub runtime starts and stops with it.

    *instance* names this process when several share the sites (hub.cluster); *clock* replaces
    the time of the nudge scheduler and deliveries (tests travel in time); *started* is called
    once the runtime has started, before the first request.
    """
    runtime = (
        HubRuntime(config, instance) if clock is None else HubRuntime(config, instance, clock=clock)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await warm_up(app)
        await runtime.start()
        if started is not None:
            started()
        watcher = asyncio.create_task(enrolment.watch(runtime.sessions), name="vivant-enrolment")
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await runtime.stop()

    # No Swagger UI (it loads from a CDN, which the CSP forbids); the schema is for staff below.
    app = FastAPI(
        title="Vivant hub",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = runtime
    app.add_middleware(SecurityHeaders, https=config.http.base_url.startswith("https://"))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    auth.install(app)
    ratelimit.install(app, config.http)
    app.include_router(screens.router)
    app.include_router(moments.router)
    app.state.privacy = privacy.PrivacyDesk(config.privacy)
    app.include_router(privacy.router)
    app.include_router(moments.api)
    app.include_router(nudges.router)
    app.include_router(rsvp.router)
    app.include_router(staff.router)
    app.include_router(staff_moments.router)
    app.include_router(staff_nudges.router)
    app.include_router(insights.router)
    app.include_router(accounts_admin.router)
    app.include_router(members_admin.router)
    app.include_router(account.router)

    @app.get(
        "/openapi.json",
        include_in_schema=False,
        dependencies=[auth.require(Role.STAFF, tokens=True)],
    )
    def openapi() -> dict[str, Any]:
        """The API schema, for integrators holding a token."""
        return app.openapi()

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        runtime.metrics.screen_clients.set(runtime.broadcaster.clients())
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, object]:
        """Liveness, broker connection, and (several hub processes) the sites served here."""
        health: dict[str, object] = {
            "status": "ok",
            "version": __version__,
            "mqtt_connected": runtime.connected(),
        }
        if runtime.instance is not None:
            health["instance"] = runtime.instance
            health["sites"] = sorted(runtime.served_sites())
        return health

    return app
