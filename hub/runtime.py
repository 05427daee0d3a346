"""The running hub: database, MQTT link, ingest engine and screen fan-out, started and stopped
together (by the web application's lifespan, or by the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.attendance import infer_attendance
from hub.broadcast import Broadcaster
from hub.calendar import sync_feed
from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import current_revision, head_revision, upgrade
from hub.db.models import CalendarFeed, Moment
from hub.ha_discovery import discovery_messages
from hub.ingest import Ingestor
from hub.insights.rollups import refresh as refresh_rollups
from hub.live import LiveState
from hub.metrics import HubMetrics, TimeSeriesCollector
from hub.mqtt_link import HubMqtt, Inbound
from hub.nudge_log import resolve_outcomes
from hub.signing import Signer, stored_secret_key
from hub.sites import sync_sites
from hub.thirdparty import subscriptions
from hub.timeseries import TimeSeriesWriter

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S = 600.0
ATTENDANCE_INTERVAL_S = 60.0
# Attendance keeps being inferred this long after a moment ends (late dwell data, staff marks);
# nudge outcomes are written once it has passed.
ATTENDANCE_SETTLING = timedelta(minutes=15)


class SchemaOutOfDate(RuntimeError):
    """The database schema is older than this version of Vivant and migrations are off."""


class HubRuntime:
    """Everything the hub runs besides the web pages."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.metrics = HubMetrics()
        self.broadcaster = Broadcaster()
        self.engine = make_engine(config.database.url)
        self.sessions = make_sessionmaker(self.engine)
        self.boot_id = uuid.uuid4().hex
        self.live = LiveState(config, config.location, config.occupancy)
        self.timeseries = TimeSeriesWriter(config.timeseries) if config.timeseries else None
        self.mqtt: HubMqtt | None = None
        self.ingestor: Ingestor | None = None
        self.signer: Signer | None = None  # set once the database is ready (see start)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Prepare the database, connect to the broker and start consuming."""
        await asyncio.to_thread(self._prepare_database)
        inbox: queue.Queue[Inbound] = queue.Queue(self.config.ingest.queue_size)
        announce = discovery_messages(self.config) if self.config.home_assistant_discovery else []
        self.mqtt = HubMqtt(
            self.config.mqtt,
            inbox,
            extra_subscriptions=subscriptions(self.config.thirdparty),
            on_connect_publish=announce,
        )
        mqtt = self.mqtt
        self.ingestor = Ingestor(
            self.config,
            self.sessions,
            inbox,
            self.broadcaster,
            self.metrics,
            ack=mqtt.ack,
            publish=mqtt.publish_retained_or_not,
            live=self.live,
            points=self.timeseries.write if self.timeseries else None,
        )
        self._tasks = [
            asyncio.create_task(self.ingestor.run(), name="vivant-ingest"),
            asyncio.create_task(self._housekeeping(), name="vivant-housekeeping"),
            asyncio.create_task(self._calendars(), name="vivant-calendars"),
            asyncio.create_task(self._attendance(), name="vivant-attendance"),
            asyncio.create_task(self._insights(), name="vivant-insights"),
        ]
        writer = self.timeseries
        if writer is not None:
            self.metrics.registry.register(TimeSeriesCollector(lambda: writer.stats))
            writer.start()
        mqtt.start()
        log.info("hub started (%d sites)", len(self.config.sites))

    def _prepare_database(self) -> None:
        if self.config.database.migrate_on_start:
            upgrade(self.engine)
        elif current_revision(self.engine) != head_revision(self.engine):
            raise SchemaOutOfDate("database schema is not up to date: run `vivant hub migrate`")
        with self.sessions.begin() as session:
            sync_sites(session, self.config)
            configured = self.config.secret_key
            key = configured.get_secret_value() if configured else stored_secret_key(session)
            self.signer = Signer(key)
        with self.sessions() as session:
            self.live.restore(session)

    async def _housekeeping(self) -> None:
        assert self.ingestor is not None
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
            try:
                pruned = await asyncio.to_thread(self.ingestor.prune_seen)
                log.debug("forgot %d old message ids", pruned)
            except Exception:
                log.exception("housekeeping failed; will try again")

    async def _calendars(self) -> None:
        """Sync every calendar feed now, then every ``calendar_sync_minutes``."""
        while True:
            await asyncio.to_thread(self.sync_calendars)
            await asyncio.sleep(self.config.calendar_sync_minutes * 60)

    def sync_calendars(self) -> None:
        """Sync each feed in its own transaction; one feed's failure never stops the others."""
        with self.sessions() as session:
            feed_ids = list(session.scalars(select(CalendarFeed.id)))
        for feed_id in feed_ids:
            try:
                with self.sessions.begin() as session:
                    feed = session.get(CalendarFeed, feed_id)
                    site = self.config.site(feed.site_id) if feed else None
                    if feed is None or site is None:
                        continue
                    report = sync_feed(session, feed, site, now=datetime.now(UTC))
                log.info("calendar %s: %s", feed_id, report)
            except Exception:
                log.exception("calendar feed %s could not be synchronised", feed_id)

    async def _attendance(self) -> None:
        """Every minute, infer attendance of the moments in progress or just over."""
        while True:
            await asyncio.sleep(ATTENDANCE_INTERVAL_S)
            try:
                await asyncio.to_thread(self.update_attendance, datetime.now(UTC))
            except Exception:
                log.exception("attendance update failed; will try again")

    def update_attendance(self, now: datetime) -> int:
        """Infer attendance for moments overlapping the last settling window; resolve nudges."""
        with self.sessions.begin() as session:
            moments = session.scalars(
                select(Moment).where(
                    Moment.cancelled_at.is_(None),
                    Moment.starts_at <= now,
                    Moment.ends_at >= now - ATTENDANCE_SETTLING,
                )
            ).all()
            for moment in moments:
                infer_attendance(session, moment, self.config.attendance, now)
            resolve_outcomes(session, now, ATTENDANCE_SETTLING)
        return len(moments)

    async def _insights(self) -> None:
        """Bring the insights rollups up to date now, then every ``insights.refresh_minutes``."""
        while True:
            try:
                await asyncio.to_thread(self.refresh_insights, datetime.now(UTC))
            except Exception:
                log.exception("insights rollup failed; will try again")
            await asyncio.sleep(self.config.insights.refresh_minutes * 60)

    def refresh_insights(self, now: datetime) -> int:
        """Recompute the rollup days that need it (see :mod:`hub.insights.rollups`)."""
        with self.sessions.begin() as session:
            return refresh_rollups(session, now, self.config.insights).days

    async def stop(self) -> None:
        """Stop consuming, save the live state, disconnect cleanly (offline), close the database.

        Messages received but not yet committed are not acknowledged: the broker redelivers them
        to the next hub, and deduplication drops any that were applied.
        """
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await asyncio.to_thread(self._save_live_state)
        if self.mqtt is not None:
            await asyncio.to_thread(self.mqtt.stop)
        if self.timeseries is not None:
            await asyncio.to_thread(self.timeseries.stop)
        self.engine.dispose()

    def _save_live_state(self) -> None:
        lock = self.ingestor.work_lock if self.ingestor else threading.Lock()
        try:
            with lock, self.sessions.begin() as session:
                now = datetime.now(UTC)
                self.live.save(session, now)
                self.live.flush_rollups(session)
        except Exception:
            log.exception("could not save the live state on the way out")
