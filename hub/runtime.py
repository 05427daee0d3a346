"""The running hub: database, MQTT link, ingest engine and screen fan-out, started and stopped
together (by the web application's lifespan, or by the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from hub.admission import Registry
from hub.attendance import infer_attendance
from hub.broadcast import Broadcaster
from hub.calendar import SyncReport, sync_feed
from hub.channels.apprise_channel import AppriseChannel
from hub.channels.base import Channel
from hub.channels.dispatcher import Dispatcher
from hub.channels.screen import ScreenChannel
from hub.channels.webhook import WebhookChannel
from hub.cluster import HEARTBEAT, claim, holder_id, lease_round, release
from hub.cluster_view import OccupancyWatch
from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker, startup_lock
from hub.db.migrate import current_revision, head_revision, upgrade
from hub.db.models import CalendarFeed, Moment
from hub.deliveries import DatabaseDeliveryStore, DeliveryPump, prune_finished
from hub.ha_discovery import discovery_messages
from hub.inbox import Inbound, Inbox
from hub.ingest import Ingestor
from hub.insights.cache import LruCache
from hub.insights.digest import send_due_digests
from hub.insights.reports.full import SiteInsights
from hub.insights.rollups import refresh as refresh_rollups
from hub.live import LiveState
from hub.metrics import HubMetrics, TimeSeriesCollector
from hub.mqtt_link import HubMqtt
from hub.nudge_control import effective_rules
from hub.nudge_facts import LiveStateRooms
from hub.nudge_log import resolve_outcomes
from hub.nudge_scheduler import NudgeScheduler
from hub.nudges.rules import load_rules
from hub.retention import RetentionReport, apply_retention
from hub.screen_announce import announce
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


CONNECT_WAIT_S = 10.0  # how long a starting hub waits for the broker before serving anyway
INSIGHTS_LEASE = "!insights"  # who computes the insights rollups (no instance name has a !)


class SchemaOutOfDate(RuntimeError):
    """The database schema is older than this version of Vivant and migrations are off."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HubRuntime:
    """Everything the hub runs besides the web pages.

    *instance* names this process when several share the sites (:mod:`hub.cluster`); *clock* is
    the time of the nudge scheduler and of message delivery (tests move it); presence and
    attendance follow the time of the observations themselves.
    """

    def __init__(
        self,
        config: HubConfig,
        instance: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        cluster = config.cluster
        if cluster is not None and instance not in cluster.instances:
            known = ", ".join(cluster.instances)
            raise ValueError(f"this hub is one of several: start it with --instance ({known})")
        self.config = config
        self.instance = instance if cluster is not None else None
        self.holder = holder_id(instance) if cluster is not None and instance else None
        self.clock = clock
        self.rules = load_rules(config.nudges.rules_file)
        self.metrics = HubMetrics()
        self.broadcaster = Broadcaster()
        self.engine = make_engine(config.database.url)
        self.sessions = make_sessionmaker(self.engine)
        self.boot_id = uuid.uuid4().hex
        # Computed insights reports and rendered pages (see hub.insights.cache).
        ttl = config.insights.refresh_minutes * 60
        self.insights_reports: LruCache[list[SiteInsights]] = LruCache(
            config.insights.cache_entries, ttl
        )
        self.insights_pages: LruCache[list[dict[str, Any]]] = LruCache(
            config.insights.cache_entries, ttl
        )
        # One of several processes: it serves the sites of the groups it holds a lease on.
        self.live = LiveState(
            config, config.location, config.occupancy, site_ids=set() if cluster else None
        )
        self.timeseries = TimeSeriesWriter(config.timeseries) if config.timeseries else None
        self.mqtt: HubMqtt | None = None  # the single hub's connection (no cluster)
        self.links: dict[str, HubMqtt] = {}  # every connection, by group ("" without cluster)
        self.groups: set[str] = set()  # the groups of sites this process serves (cluster)
        self.watch: OccupancyWatch | None = None  # occupancy of the other groups (cluster)
        self._inbox = Inbox(config.ingest.queue_size)
        # BLE windows and sensor readings are screened as they arrive, in the MQTT worker process
        # (hub.mqtt_worker): that work then runs on the other core, beside the ingest engine.
        self._registry = Registry.of(config)
        self._started_mono = 0.0
        self._last_round_mono: float | None = None
        self.ingestor: Ingestor | None = None
        self.signer: Signer | None = None  # set once the database is ready (see start)
        self.scheduler: NudgeScheduler | None = None  # set at start, with the signer
        self.dispatcher: Dispatcher | None = None
        self.pump: DeliveryPump | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Prepare the database, connect to the broker and start consuming."""
        await asyncio.to_thread(self._prepare_database)
        self.ingestor = Ingestor(
            self.config,
            self.sessions,
            self._inbox,
            self.broadcaster,
            self.metrics,
            ack=self._ack,
            publish=self._publish,
            live=self.live,
            points=self.timeseries.write if self.timeseries else None,
            registry=self._registry,
        )
        self._tasks = [
            asyncio.create_task(self.ingestor.run(), name="vivant-ingest"),
            asyncio.create_task(self._housekeeping(), name="vivant-housekeeping"),
            asyncio.create_task(self._calendars(), name="vivant-calendars"),
            asyncio.create_task(self._attendance(), name="vivant-attendance"),
            asyncio.create_task(self._retention(), name="vivant-retention"),
            asyncio.create_task(self._insights(), name="vivant-insights"),
        ]
        await self._start_nudges()
        writer = self.timeseries
        if writer is not None:
            self.metrics.registry.register(TimeSeriesCollector(lambda: writer.stats))
            writer.start()
        if self.config.cluster is None:
            self.mqtt = self._link("")
            self.links[""] = self.mqtt
            self.mqtt.start()
            await self._connected()
            log.info("hub started (%d sites)", len(self.config.sites))
            return
        self._started_mono = time.monotonic()
        base_id = self.config.mqtt.client_id or "vivant-hub"
        self.watch = OccupancyWatch(
            self.config.mqtt, f"{base_id}-view-{self.instance}-{os.getpid()}", self.served_sites
        )
        self.live.elsewhere = self.watch.site
        self.watch.start()
        await asyncio.to_thread(self.renew_leases)  # serve our own sites before anything else
        await self._connected()
        self._tasks.append(asyncio.create_task(self._cluster(), name="vivant-cluster"))
        log.info("hub instance %s started (serving %s)", self.instance, sorted(self.groups))

    async def _connected(self) -> None:
        """Wait a little for the connections: a hub that says it is up is also subscribed.

        The connection runs in a worker process that takes a moment to start; an unreachable
        broker must not keep the pages down, so after ``CONNECT_WAIT_S`` the hub goes on (and
        the connections keep trying by themselves).
        """
        links = list(self.links.values())
        deadline = time.monotonic() + CONNECT_WAIT_S
        for link in links:
            left = deadline - time.monotonic()
            if left <= 0 or not await asyncio.to_thread(link.connected.wait, left):
                log.warning("broker not reachable yet; the hub keeps trying in the background")
                return

    def _link(self, group: str) -> HubMqtt:
        """A connection to the broker: every topic (single hub) or one group's sites."""
        config = self.config
        if group:
            cluster = config.cluster
            assert cluster is not None
            sites = cluster.instances[group]
            return HubMqtt(
                config.mqtt,
                self._inbox,
                subscriptions=[f"{config.mqtt.topic_root}/{site}/#" for site in sites],
                link=group,
                status_topic=f"{config.mqtt.topic_root}/hub/{group}",
                registry=self._registry,
            )
        announce = discovery_messages(config) if config.home_assistant_discovery else []
        return HubMqtt(
            config.mqtt,
            self._inbox,
            extra_subscriptions=subscriptions(config.thirdparty),
            on_connect_publish=announce,
            registry=self._registry,
        )

    def served_sites(self) -> set[str]:
        """The sites this process serves (every site, unless several processes share them)."""
        return set(self.live.sites)

    def _ack(self, batch: list[Inbound]) -> None:
        by_link: dict[str, list[Inbound]] = {}
        for message in batch:
            by_link.setdefault(message.link, []).append(message)
        for link, messages in by_link.items():
            connection = self.links.get(link)
            if connection is not None:  # a group handed over meanwhile: the broker redelivers
                connection.ack(messages)

    def _publish(self, topic: str, payload: bytes, retain: bool) -> None:
        for connection in self.links.values():
            connection.publish_retained_or_not(topic, payload, retain)
            return
        log.debug("no broker connection (serving no site): not publishing %s", topic)

    def connected(self) -> bool:
        """Whether every connection this process has is up (and it has one)."""
        return bool(self.links) and all(c.connected.is_set() for c in self.links.values())

    async def _cluster(self) -> None:
        cluster = self.config.cluster
        assert cluster is not None
        while True:
            await asyncio.sleep(cluster.lease_s / 3)
            try:
                await asyncio.to_thread(self.renew_leases)
            except Exception:
                log.exception("lease round failed; will try again")
            last = self._last_round_mono
            if self.groups and (last is None or time.monotonic() - last > cluster.lease_s):
                log.error("could not renew the leases for %.0f s: serving no site", cluster.lease_s)
                await asyncio.to_thread(self._serve, set(), save=False)

    def renew_leases(self) -> None:
        """Renew, take over and hand back groups (hub.cluster), then serve what is held."""
        cluster = self.config.cluster
        assert cluster is not None
        assert self.instance is not None
        assert self.holder is not None
        may_take_over = time.monotonic() - self._started_mono >= cluster.lease_s
        with self.sessions.begin() as session:
            outcome = lease_round(
                session,
                cluster,
                self.instance,
                self.holder,
                set(self.groups),
                datetime.now(UTC),
                may_take_over=may_take_over,
            )
        self._last_round_mono = time.monotonic()
        for group in outcome.taken_over:
            log.warning("taking over the sites of instance %s", group)
        for group in outcome.handed_back:
            log.info("handing the sites of instance %s back", group)
        self._serve(outcome.held, save=True)

    def _serve(self, groups: set[str], *, save: bool) -> None:
        """Connect the groups newly held, adopt their sites; drop and disconnect the others."""
        cluster = self.config.cluster
        assert cluster is not None
        assert self.ingestor is not None
        gone, new = self.groups - groups, groups - self.groups
        if not gone and not new:
            return
        for group in gone:
            link = self.links.pop(group, None)
            if link is not None:
                link.stop()  # unacknowledged messages stay in the group's session
        with self.ingestor.work_lock:
            if gone:
                sites = {site for group in gone for site in cluster.instances[group]}
                if save:
                    with self.sessions.begin() as session:
                        self.live.save(session, datetime.now(UTC), sites)
                for site in sites:
                    self.live.drop(site)
            with self.sessions() as session:
                for group in new:
                    for site in cluster.instances[group]:
                        self.live.adopt(session, site)
            self.ingestor.sites_changed()
        for group in new:
            self.links[group] = self._link(group)
            self.links[group].start()
        self.groups = set(groups)
        self.metrics.sites_served.set(len(self.live.sites))

    async def _start_nudges(self) -> None:
        """The outbound dispatcher, the pump that feeds it from the database, the scheduler."""
        settings = self.config.channels
        site_urls = {site: list(channels.apprise_urls) for site, channels in settings.sites.items()}
        channels: list[Channel] = [
            AppriseChannel(site_urls, timeout_s=settings.apprise_timeout_s),
            WebhookChannel(settings.webhooks),
            ScreenChannel(self.announce),
        ]
        self.dispatcher = Dispatcher(
            channels,
            DatabaseDeliveryStore(self.sessions),
            retry=settings.retry,
            queue_size=settings.queue_size,
            max_active=settings.max_active,
            per_target_concurrency=settings.per_target_concurrency,
            clock=self.clock,
        )
        await self.dispatcher.start()
        rules = self.rules
        self.pump = DeliveryPump(
            self.sessions,
            self.dispatcher,
            settings,
            paused=lambda session: effective_rules(session, rules).paused,
            clock=self.clock,
        )
        self._tasks.append(
            asyncio.create_task(
                self.pump.run(self.config.nudges.delivery_poll_s), name="vivant-deliveries"
            )
        )
        self.scheduler = NudgeScheduler(
            self.config,
            self.sessions,
            self.rules,
            live=LiveStateRooms(self.live),
            signer=self.signer,
            clock=self.clock,
        )
        if self.config.nudges.enabled:
            self._tasks.append(asyncio.create_task(self.scheduler.run(), name="vivant-nudges"))

    def announce(self, site_id: str, moment_id: int) -> None:
        """The lobby-screen channel: show the moment on every screen of the site now."""
        announce(self.broadcaster, site_id, moment_id)

    def _prune_deliveries(self) -> int:
        with self.sessions.begin() as session:
            return prune_finished(session, self.clock())

    def _prepare_database(self) -> None:
        with startup_lock(self.engine):
            self._prepare_database_locked()
        with self.sessions() as session:
            self.live.restore(session)

    def _prepare_database_locked(self) -> None:
        if self.config.database.migrate_on_start:
            upgrade(self.engine)
        elif current_revision(self.engine) != head_revision(self.engine):
            raise SchemaOutOfDate("database schema is not up to date: run `vivant hub migrate`")
        with self.sessions.begin() as session:
            sync_sites(session, self.config)
            configured = self.config.secret_key
            key = configured.get_secret_value() if configured else stored_secret_key(session)
            self.signer = Signer(key)

    async def _housekeeping(self) -> None:
        assert self.ingestor is not None
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
            try:
                pruned = await asyncio.to_thread(self.ingestor.prune_seen)
                log.debug("forgot %d old message ids", pruned)
                if self.scheduler is not None:
                    forgotten = await asyncio.to_thread(self.scheduler.prune_triggers)
                    log.debug("forgot %d old nudge triggers", forgotten)
                removed = await asyncio.to_thread(self._prune_deliveries)
                log.debug("deleted %d finished deliveries", removed)
            except Exception:
                log.exception("housekeeping failed; will try again")

    async def _calendars(self) -> None:
        """Sync every calendar feed now, then every ``calendar_sync_minutes``."""
        while True:
            try:
                await asyncio.to_thread(self.sync_calendars)
            except Exception:  # the database out of reach: the task must live on
                log.exception("calendar sync failed; will try again")
            await asyncio.sleep(self.config.calendar_sync_minutes * 60)

    def sync_calendars(self) -> None:
        """Sync each feed in its own transaction; one feed's failure never stops the others."""
        with self.sessions() as session:
            feed_ids = list(
                session.scalars(
                    select(CalendarFeed.id).where(CalendarFeed.site_id.in_(self.served_sites()))
                )
            )
        for feed_id in feed_ids:
            try:
                self.sync_calendar(feed_id)
            except Exception:
                log.exception("calendar feed %s could not be synchronised", feed_id)

    def sync_calendar(self, feed_id: int) -> SyncReport | None:
        """Sync one feed now, in its own transaction (None: no such feed of a configured site).

        A feed that cannot be fetched or read changes no moment; the report and the feed's
        ``last_error`` say why. The staff page's "sync now" button calls this.
        """
        with self.sessions.begin() as session:
            feed = session.get(CalendarFeed, feed_id)
            site = self.config.site(feed.site_id) if feed else None
            if feed is None or site is None:
                return None
            report = sync_feed(session, feed, site, now=datetime.now(UTC))
        log.info("calendar %s: %s", feed_id, report)
        return report

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
                    Moment.site_id.in_(self.served_sites()),
                    Moment.cancelled_at.is_(None),
                    Moment.starts_at <= now,
                    Moment.ends_at >= now - ATTENDANCE_SETTLING,
                )
            ).all()
            for moment in moments:
                infer_attendance(session, moment, self.config.attendance, now)
            resolve_outcomes(session, now, ATTENDANCE_SETTLING)
        return len(moments)

    async def _retention(self) -> None:
        """Expire identified presence, taps and dwell now, then every ``run_every_h`` hours."""
        while True:
            try:
                report = await asyncio.to_thread(self.apply_retention, datetime.now(UTC))
                log.info("retention: %s", report)
            except Exception:
                log.exception("retention run failed; will try again")
            await asyncio.sleep(self.config.retention.run_every_h * 3600)

    def apply_retention(self, now: datetime) -> RetentionReport:
        """Fold identified rows older than the retention period into anonymous daily counts
        (holding the ingest lock, so no batch updates a row being folded)."""
        lock = self.ingestor.work_lock if self.ingestor is not None else threading.Lock()
        with lock, self.sessions.begin() as session:
            return apply_retention(session, self.config, now, self.served_sites())

    async def _insights(self) -> None:
        """Bring the insights rollups up to date now, then every ``insights.refresh_minutes``."""
        while True:
            try:
                await asyncio.to_thread(self.refresh_insights, datetime.now(UTC))
            except Exception:
                log.exception("insights rollup failed; will try again")
            try:
                await send_due_digests(self.config, self.sessions, self.clock())
            except Exception:
                log.exception("weekly insights digest failed; will try again")
            await asyncio.sleep(self.config.insights.refresh_minutes * 60)

    def refresh_insights(self, now: datetime) -> int:
        """Recompute the rollup days that need it (see :mod:`hub.insights.rollups`).

        The rollups cover every site: when several hub processes share the database, only the
        one holding the ``!insights`` lease computes them (it renews it at each refresh).
        """
        with self.sessions.begin() as session:
            if self.holder is not None:
                lease = timedelta(minutes=self.config.insights.refresh_minutes * 2)
                if not claim(session, INSIGHTS_LEASE, self.holder, now, lease):
                    return 0
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
        if self.dispatcher is not None:
            await self.dispatcher.stop(drain=True, timeout_s=5.0)
        await asyncio.to_thread(self._save_live_state)
        for link in list(self.links.values()):
            await asyncio.to_thread(link.stop)
        if self.watch is not None:
            await asyncio.to_thread(self.watch.stop)
        self.links.clear()
        if self.holder is not None:
            await asyncio.to_thread(self._release_leases)
        if self.timeseries is not None:
            await asyncio.to_thread(self.timeseries.stop)
        self.engine.dispose()

    def _release_leases(self) -> None:
        """A clean stop gives the groups up at once (another process takes them over)."""
        assert self.holder is not None
        assert self.instance is not None
        try:
            with self.sessions.begin() as session:
                for group in self.groups:
                    release(session, group, self.holder)
                release(session, HEARTBEAT + self.instance, self.holder)
        except Exception:
            log.exception("could not release the leases (they run out by themselves)")
        self.groups = set()

    def _save_live_state(self) -> None:
        lock = self.ingestor.work_lock if self.ingestor else threading.Lock()
        try:
            with lock, self.sessions.begin() as session:
                now = datetime.now(UTC)
                self.live.save(session, now)
                self.live.flush_rollups(session)
        except Exception:
            log.exception("could not save the live state on the way out")
