"""Run the demo: broker, hub and one simulated edge agent per site, in one process.

The configuration files it writes into the data directory (``hub.yaml``, ``edge-<site>.yaml``)
are real ones, loaded through the same validation as in production, so they double as examples.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
import yaml
from sqlalchemy.orm import Session

from edge.agent import EdgeAgent
from edge.config import EdgeConfig
from hub.accounts import Role, add_user
from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.db.models import Consent
from hub.insights.rollups import refresh
from hub.insights.synthetic import SyntheticSpec, generate
from hub.members import add_member
from hub.moments import add_moment
from hub.screen_auth import screen_url
from hub.signing import Signer
from hub.sites import sync_sites
from hub.web.app import create_app
from vivant.config_file import load_yaml
from vivant.demo import population
from vivant.demo.broker import EmbeddedBroker
from vivant.wire.credential import credential_for

log = logging.getLogger(__name__)

DEFAULT_MQTT_PORT = 1884  # not 1883: a machine often has its own Mosquitto there
DEFAULT_HISTORY_WEEKS = 12  # weeks of synthetic past so the insights have something to show
HISTORY_MEMBERS_PER_SITE = 24


def run_demo(
    *,
    broker: str | None,
    port: int,
    data_dir: Path,
    tap_every: float,
    mqtt_port: int = DEFAULT_MQTT_PORT,
    history_weeks: int = DEFAULT_HISTORY_WEEKS,
) -> int:
    """Run until Ctrl-C (or SIGTERM); returns the exit code."""
    try:
        asyncio.run(_demo(broker, port, data_dir, tap_every, mqtt_port, history_weeks))
    except OSError as error:
        sys.stderr.write(f"demo cannot start: {error}\n")
        return 1
    return 0


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    header = "# Written by `vivant demo`; a real configuration, validated like any other.\n"
    path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


def _fresh(data_dir: Path) -> None:
    """Remove what a previous demo left (only the demo's own files)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for pattern in ("hub.db*", "outbox-*.sqlite3*", "hub.yaml", "edge-*.yaml"):
        for path in data_dir.glob(pattern):
            path.unlink()


DEMO_ACCOUNT = "equipe@demo.vivant.fr"


def _seed(config: HubConfig, history_weeks: int = 0) -> str:
    """Migrate, then create the demo members, today's moments, a synthetic past and a staff
    account (admin) whose new random password is returned (shown in the banner)."""
    engine = make_engine(config.database.url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    keys = {site.id: site.credential_key for site in population.SITES}
    try:
        upgrade(engine)
        with sessions.begin() as session:
            sync_sites(session, config)
            password = secrets.token_urlsafe(12)
            add_user(session, DEMO_ACCOUNT, password, Role.ADMIN, name="Équipe démo", now=now)
            for member in population.members():
                consents = [Consent.STAFF_VISIBLE]
                if member.shows_on_screens:
                    consents.append(Consent.SCREEN_DISPLAY)
                add_member(
                    session,
                    member.first_name,
                    consents=consents,
                    badges=[credential_for(keys[member.site_id], member.uid)],
                    now=now,
                )
            for moment in population.moments_today(now):
                site = config.site(moment.site_id)
                assert site is not None
                add_moment(
                    session,
                    site,
                    room_id=moment.room_id,
                    title=moment.title,
                    kind=moment.kind,
                    starts_at=moment.starts_at,
                    ends_at=moment.ends_at,
                    now=now,
                )
            if history_weeks > 0:
                _history(session, now, history_weeks)
    finally:
        engine.dispose()
    return password


def _history(session: Session, now: datetime, weeks: int) -> None:
    """Weeks of synthetic members, presence, moments and nudges up to this Monday, rolled up."""
    today = now.astimezone(ZoneInfo(population.ZONE)).date()
    monday = today - timedelta(days=today.weekday())
    spec = SyntheticSpec(
        seed=7,
        sites=len(population.SITES),
        members_per_site=HISTORY_MEMBERS_PER_SITE,
        start=monday - timedelta(weeks=weeks),
        days=7 * weeks,
    )
    generate(session, spec)
    refresh(session, now)


def _edge_config(
    data_dir: Path, site: population.DemoSite, broker_url: str, tap_every: float
) -> EdgeConfig:
    uids = [m.uid for m in population.members() if m.site_id == site.id and m.habit != "absent"]
    data = {
        "site": site.id,
        "node": population.ENTRANCE_NODE,
        "rooms": [population.ENTRANCE_ROOM],
        "mqtt": {"url": broker_url},
        "credential_key": site.credential_key,
        "outbox": {"path": str(data_dir / f"outbox-{site.id}.sqlite3")},
        "badge_readers": [
            {
                "id": population.ENTRANCE_READER,
                "room": population.ENTRANCE_ROOM,
                "kind": "simulated",
                "uids": uids,
                "mean_interval_s": tap_every,
            }
        ],
    }
    path = data_dir / f"edge-{site.id}.yaml"
    _write_yaml(path, data)
    return load_yaml(path, EdgeConfig)


async def _demo(
    broker_url: str | None,
    port: int,
    data_dir: Path,
    tap_every: float,
    mqtt_port: int,
    history_weeks: int = 0,
) -> None:
    _fresh(data_dir)
    embedded: EmbeddedBroker | None = None
    if broker_url is None:
        embedded = EmbeddedBroker(mqtt_port)
        await embedded.start()
        broker_url = embedded.url
    hub_yaml = data_dir / "hub.yaml"
    _write_yaml(
        hub_yaml,
        population.hub_config_data(
            broker_url, port, f"sqlite:///{(data_dir / 'hub.db').resolve()}"
        ),
    )
    config = load_yaml(hub_yaml, HubConfig)
    password = await asyncio.to_thread(_seed, config, history_weeks)

    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.http.host, port=port, log_level="warning")
    )
    server_task = asyncio.create_task(server.serve())
    while not server.started:
        if server_task.done():
            await server_task
            raise OSError(f"the hub could not listen on port {port}")
        await asyncio.sleep(0.05)

    agents = [EdgeAgent(_edge_config(data_dir, s, broker_url, tap_every)) for s in population.SITES]
    agent_tasks = [asyncio.create_task(agent.run()) for agent in agents]
    _banner(broker_url, config, app.state.runtime.signer, password)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        print("\nStopping…", flush=True)  # noqa: T201 - the demo's console is its interface
        for agent in agents:
            agent.stop()
        await asyncio.gather(*agent_tasks, return_exceptions=True)
        app.state.runtime.broadcaster.close()  # lobby pages still open would hold the server
        server.should_exit = True
        await server_task
        if embedded is not None:
            await embedded.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(signum)


def _banner(broker_url: str, config: HubConfig, signer: Signer, password: str) -> None:
    base = f"http://{config.http.host}:{config.http.port}"
    lines = [
        "",
        "Vivant demo is running. Ctrl-C stops everything.",
        f"  MQTT broker : {broker_url}",
        f"  Hub         : {base}   (metrics: {base}/metrics)",
        f"  Staff       : {base}/staff   (sign in: {DEMO_ACCOUNT} / {password})",
        "  Lobby screens:",
    ]
    for site in config.sites:
        for screen in site.screens:
            lines.append(f"    {site.name:<22} {screen_url(base, signer, site, screen)}")
    lines.append("  Tap a badge by hand: see README.md, section 'Tap a badge by hand'.")
    print("\n".join(lines), flush=True)  # noqa: T201 - the demo's console is its interface
