"""The FastAPI application and its lifespan (which runs the hub)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.config import HubConfig
from hub.runtime import HubRuntime
from hub.web import moments, nudges, privacy, rsvp, screens
from vivant import __version__

STATIC = Path(__file__).with_name("static")


def create_app(
    config: HubConfig,
    instance: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the application; the hub runtime starts and stops with it.

    *instance* names this process when several share the sites (hub.cluster); *clock* replaces
    the time of the nudge scheduler and deliveries (tests travel in time).
    """
    runtime = (
        HubRuntime(config, instance) if clock is None else HubRuntime(config, instance, clock=clock)
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="Vivant hub", version=__version__, lifespan=lifespan)
    app.state.runtime = runtime
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(screens.router)
    app.include_router(moments.router)
    app.state.privacy = privacy.PrivacyDesk(config.privacy)
    app.include_router(privacy.router)
    app.include_router(moments.api)
    app.include_router(nudges.router)
    app.include_router(rsvp.router)

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
