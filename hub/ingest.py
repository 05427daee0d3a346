"""From MQTT messages to state: authorise, validate, deduplicate, apply, acknowledge.

The engine takes messages from the bounded queue in batches and applies each batch in one
transaction in a worker thread (the event loop keeps serving screens). Only after the commit are
the QoS 1 messages acknowledged and the effects (greetings, reader feedback) sent. If the database
is unreachable the batch is retried with backoff, never acknowledged meanwhile, so nothing the
hub acknowledged is ever lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from hub.admission import BleFacts, Registry, SensorFacts, admit
from hub.broadcast import Broadcaster, ScreenEvent
from hub.config import HubConfig
from hub.db.models import BadgeTap, Member, Node, SeenMessage
from hub.greeting import Greeter, Greeting
from hub.inbox import Inbound, Inbox
from hub.live import LiveState
from hub.measurements import ingest_point, node_health_point
from hub.metrics import HubMetrics, LogLimiter, totals
from hub.presence import BadgeOwners, apply_badge, ms_to_datetime
from hub.timeseries import Point
from vivant.wire.codec import decode_edge, decode_status, encode
from vivant.wire.errors import Rejected, RejectReason
from vivant.wire.payloads import (
    MAX_PAYLOAD_BYTES,
    Badge,
    Feedback,
    FeedbackCommand,
    NodeConfig,
    SensorParams,
    Status,
    Telemetry,
)
from vivant.wire.topics import EdgeKind, HubKind, NodeTopic, TopicError, Topics

log = logging.getLogger(__name__)

SNAPSHOT_INTERVAL_S = 60.0
MAX_WAIT_S = 0.5  # bounds how long a stopping hub waits for its worker thread
BUSY_BATCH = 50  # after a batch this large, the next one may wait LINGER_S to fill up
LINGER_S = 0.005
SEEN_ROWS_PER_STATEMENT = 500  # 4 parameters each: far below SQLite's and PostgreSQL's limits
SEEN_INSERT = (
    "INSERT INTO seen_messages (site_id, node_id, msg_id, seen_at) VALUES {rows} "
    "ON CONFLICT DO NOTHING RETURNING site_id, node_id, msg_id"
)


@dataclass(frozen=True, slots=True)
class ThirdPartyMessage:
    """A message on a mapped ESPresense or Theengs Gateway topic, parsed in the transaction."""

    topic: str
    payload: bytes
    received_ms: int


class Observation(NamedTuple):
    """A validated, authorised badge, BLE window or sensor reading, not yet deduplicated."""

    topic: NodeTopic
    payload: Badge | BleFacts | SensorFacts
    received_at: float  # time.time() when the hub received it (a datetime only for badges)


NodeEvent = tuple[NodeTopic, Status | Telemetry, datetime]


@dataclass
class Effects:
    """What a committed batch must do outside the database."""

    greetings: list[Greeting] = field(default_factory=list)
    publishes: list[tuple[str, bytes, bool]] = field(default_factory=list)  # topic, payload, retain


class Ingestor:
    """Consumes the ingest queue and applies messages to the database."""

    def __init__(
        self,
        config: HubConfig,
        sessions: sessionmaker[Session],
        inbox: Inbox,
        broadcaster: Broadcaster,
        metrics: HubMetrics,
        *,
        ack: Callable[[list[Inbound]], None],
        publish: Callable[[str, bytes, bool], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        live: LiveState | None = None,
        points: Callable[[list[Point]], None] | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.config = config
        self.topics = Topics(config.mqtt.topic_root)
        self._root_prefix = config.mqtt.topic_root + "/"
        self._sessions = sessions
        self._queue = inbox
        self._broadcaster = broadcaster
        self._metrics = metrics
        self._ack = ack
        self._publish = publish
        self._clock = clock
        self._limiter = LogLimiter(log)
        self._nodes = {(s.id, n.id): n for s in config.sites for n in s.nodes}
        # The same registry the MQTT reader screens with (hub.runtime), or the configuration's.
        self._registry = registry or Registry.of(config)
        self.live = live
        self._badge_owners = BadgeOwners()
        self._greeter = Greeter(sessions)
        self._points = points
        self._saved_at = time.monotonic()
        self.last_lag_s: float | None = None
        self._configured_tags: frozenset[str] | None = None
        # Batches and ticks run in worker threads one at a time; whoever else touches the live
        # state (the runtime saving it at shutdown) takes this lock too.
        self.work_lock = threading.Lock()
        self._command_seq = 0
        self._last_batch = 0
        self.applied = 0

    async def run(self) -> None:
        """Consume forever (until cancelled); tick the live state every ``live_tick_s``."""
        interval = self.config.live_tick_s
        next_tick = time.monotonic() + interval
        while True:
            wait = min(MAX_WAIT_S, max(0.0, next_tick - time.monotonic()))
            # One hop to the worker thread per batch, never per message; the batch is applied in
            # the hop that took it (a greeting waits for no second thread switch).
            batch, effects = await asyncio.to_thread(self._take_and_apply, wait)
            if batch:
                if effects is None:  # the database is unreachable: retry with backoff
                    effects = await self._retrying(self.apply, batch)
                self._ack(batch)
                self._emit(effects)
            if time.monotonic() >= next_tick:
                self._emit(await self._retrying(self.tick))
                next_tick = time.monotonic() + interval

    def _take_and_apply(self, wait: float) -> tuple[list[Inbound], Effects | None]:
        """:meth:`_take`, then :meth:`apply` (``None`` if the database was unreachable)."""
        batch = self._take(wait)
        if not batch:
            return batch, None
        try:
            return batch, self.apply(batch)
        except OperationalError:
            return batch, None

    def _take(self, wait: float) -> list[Inbound]:
        """Up to ``batch_size`` messages: wait at most *wait* s for the first, none for the rest."""
        limit = self.config.ingest.batch_size
        batch = self._queue.take(limit, wait)
        if not batch:
            return batch
        if len(batch) < limit and self._last_batch >= BUSY_BATCH:
            # Under load, a batch taken as soon as a few messages are there would be small:
            # per-batch costs (commit, thread hops, acknowledgement) would then be paid for
            # every few messages, and slow the hub down just when it is busy. Let it fill a bit.
            time.sleep(LINGER_S)
            batch += self._queue.take(limit - len(batch))
        self._last_batch = len(batch)
        self._metrics.queue_depth.set(self._queue.qsize())
        return batch

    async def _retrying(self, work: Callable[..., Effects], *args: object) -> Effects:
        """Run *work* in the worker thread; while the database is unreachable, retry."""
        delay = 0.5
        while True:
            try:
                return await asyncio.to_thread(work, *args)
            except OperationalError as error:
                log.error("database unavailable (%s); retrying in %.1f s", error.orig, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    def tick(self) -> Effects:
        """Periodic live-state work: absences, cut-off, occupancy, rollups, snapshots."""
        effects = Effects()
        if self.live is None:
            return effects
        now = self._clock()
        with self.work_lock, self._sessions.begin() as session:
            result = self.live.tick(session, now)
            if time.monotonic() - self._saved_at >= SNAPSHOT_INTERVAL_S:
                self.live.save(session, now)
                self._saved_at = time.monotonic()
        effects.publishes += [(topic, payload, True) for topic, payload in result.publishes]
        effects.publishes += self._node_configs(now)
        if self._points is not None:
            counts = totals(self._metrics)
            result.points.append(
                ingest_point(
                    self.config.mqtt.client_id or "vivant-hub",
                    now,
                    received=counts.get("vivant_messages_received_total", 0),
                    accepted=counts.get("vivant_messages_accepted_total", 0),
                    rejected=counts.get("vivant_messages_rejected_total", 0),
                    duplicates=counts.get("vivant_messages_duplicate_total", 0),
                    failures=counts.get("vivant_ingest_failures_total", 0),
                    queue_depth=self._queue.qsize(),
                    lag_s=self.last_lag_s,
                )
            )
            self._points(result.points)
        return effects

    def apply(self, batch: list[Inbound]) -> Effects:
        """Apply a batch in one transaction; on an unexpected error, isolate the culprit."""
        with self.work_lock:
            return self._apply_isolating(batch)

    def _apply_isolating(self, batch: list[Inbound]) -> Effects:
        try:
            return self._apply_in_transaction(batch)
        except OperationalError:
            raise
        except Exception:
            if len(batch) == 1:
                log.exception("failed to apply a message on %s; dropped", batch[0].topic)
                self._metrics.received.inc()
                self._metrics.failures.inc()
                return Effects()
            merged = Effects()
            for message in batch:
                one = self._apply_isolating([message])
                merged.greetings += one.greetings
                merged.publishes += one.publishes
            return merged

    def _apply_in_transaction(self, batch: list[Inbound]) -> Effects:
        effects = Effects()
        observations: list[Observation] = []
        node_events: list[NodeEvent] = []
        thirdparty: list[ThirdPartyMessage] = []
        accepted: Counter[str] = Counter()
        rejections: Counter[str] = Counter()
        for message in batch:
            try:
                item = self._classify(message)
            except Rejected as rejected:
                rejections[rejected.reason.value] += 1
                self._limiter.warning(
                    rejected.reason.value, "rejected %s: %s", message.topic, rejected.detail
                )
                continue
            if isinstance(item, Observation):
                observations.append(item)
            elif isinstance(item, ThirdPartyMessage):
                thirdparty.append(item)
            elif item is not None:
                node_events.append(item)
        with self._sessions.begin() as session, session.no_autoflush:
            for topic, event, received in node_events:
                if isinstance(event, Telemetry):
                    self._node_telemetry(session, topic, event, received)
                else:
                    self._node_status(session, topic, event.value, received)
                accepted[topic.kind.value] += 1
            fresh = self._deduplicate(session, observations)
            # Apply in observation order: an outbox replaying an outage must not overtake what
            # happened after it (the sort is stable: a node's own order holds for equal ts).
            fresh.sort(key=lambda o: o.payload.ts)
            taps: list[dict[str, object]] = []
            for observation in fresh:
                accepted[observation.topic.kind.value] += 1
                self._observe(session, observation, effects, taps)
            if taps:  # the badge log, in one Core statement (the ORM's bulk path costs more)
                session.connection().execute(insert(BadgeTap), taps)
            for foreign in thirdparty:
                if self._thirdparty(session, foreign):
                    accepted["thirdparty"] += 1
        # Counted once committed: a batch is tried again after a database outage, or message by
        # message to isolate a failure, and its messages were received once.
        self._metrics.received.inc(len(batch))
        for reason, count in rejections.items():
            self._metrics.rejected.labels(reason=reason).inc(count)
        for kind, count in accepted.items():
            self._metrics.accepted.labels(kind=kind).inc(count)
        now = time.monotonic()
        for message in batch:
            self._metrics.apply_latency.observe(now - message.received_mono)
        if fresh:
            self.last_lag_s = max(0.0, time.time() - fresh[-1].payload.ts / 1000)
            self._metrics.lag.set(self.last_lag_s)
        self.applied += len(batch)
        return effects

    def _classify(self, message: Inbound) -> Observation | NodeEvent | ThirdPartyMessage | None:
        """Check topic, node, payload and room; ``None`` for the hub's own publications."""
        verdict = message.verdict or self._registry.screen(message.topic, message.payload)
        if verdict is not None:  # a BLE window or a sensor reading (hub.admission)
            topic, facts = admit(verdict)  # raises Rejected
            return Observation(topic, facts, message.received_at)
        if not message.topic.startswith(self._root_prefix):
            if len(message.payload) > MAX_PAYLOAD_BYTES:
                raise Rejected(RejectReason.TOO_LARGE, f"{len(message.payload)} bytes")
            return ThirdPartyMessage(
                message.topic, message.payload, int(message.received_at * 1000)
            )
        try:
            parsed = self.topics.parse(message.topic)
        except TopicError as error:
            raise Rejected(RejectReason.UNKNOWN_TOPIC, str(error)) from None
        if not isinstance(parsed, NodeTopic) or isinstance(parsed.kind, HubKind):
            return None  # the hub's own publications (status, occupancy, config, command)
        node_settings = self._nodes.get((parsed.site, parsed.node))
        if node_settings is None:
            raise Rejected(
                RejectReason.UNKNOWN_NODE,
                f"node {parsed.node!r} is not registered at {parsed.site!r}",
            )
        received = datetime.fromtimestamp(message.received_at, tz=UTC)
        if parsed.kind is EdgeKind.STATUS:
            return parsed, decode_status(message.payload), received
        payload = decode_edge(parsed.kind, message.payload)
        if isinstance(payload, Telemetry):
            return parsed, payload, received
        assert isinstance(payload, Badge)  # BLE windows and sensor readings: screened above
        if payload.room not in node_settings.rooms:
            raise Rejected(
                RejectReason.ROOM_MISMATCH,
                f"node {parsed.node!r} does not serve room {payload.room!r}",
            )
        return Observation(parsed, payload, message.received_at)

    def _deduplicate(self, session: Session, observations: list[Observation]) -> list[Observation]:
        """Drop (node, id) pairs already applied, in this batch or before.

        One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` both records the new pairs and says
        which they are (SQLite ≥ 3.35 and PostgreSQL); the primary key makes it exact under any
        race or restart.
        """
        if not observations:
            return []
        keys = [(o.topic.site, o.topic.node, o.payload.id) for o in observations]
        inserted = self._record_seen(session, dict.fromkeys(keys), self._clock())
        fresh: list[Observation] = []
        for o, key in zip(observations, keys, strict=True):
            if key in inserted:
                inserted.discard(key)  # a repeat inside the batch is a duplicate too
                fresh.append(o)
        if len(fresh) < len(observations):
            self._metrics.duplicates.inc(len(observations) - len(fresh))
        return fresh

    def _record_seen(
        self, session: Session, keys: dict[tuple[str, str, str], None], seen: datetime
    ) -> set[tuple[str, str, str]]:
        """Insert the pairs (in order, each once), skipping known ones; return those that were new.

        Written as one multi-row statement on a cursor of the driver connection, inside the
        session's transaction: through the ORM's bulk path the same insert cost more than the
        rest of the batch (parameter processing per row), and even ``exec_driver_sql`` wraps
        every returned row; this is the hot path. Every pair of the batch is stamped with the
        same time, *seen* (when the batch is applied: what the deduplication window counts
        from), bound as the column type stores it: naive UTC (see
        :class:`hub.db.types.UtcDateTime`), on SQLite as the text SQLAlchemy writes
        (``YYYY-MM-DD HH:MM:SS.ffffff``).
        """
        connection = session.connection()
        dialect = connection.dialect
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        row = f"({mark}, {mark}, {mark}, {mark})"
        naive = seen.astimezone(UTC).replace(tzinfo=None)
        stored = naive.isoformat(" ", "microseconds") if dialect.name == "sqlite" else naive
        inserted: set[tuple[str, str, str]] = set()
        items = list(keys)
        cursor = connection.connection.cursor()
        try:
            for start in range(0, len(items), SEEN_ROWS_PER_STATEMENT):
                chunk = items[start : start + SEEN_ROWS_PER_STATEMENT]
                params = [value for key in chunk for value in (*key, stored)]
                # Only placeholders are formatted into the statement; every value is a parameter.
                cursor.execute(SEEN_INSERT.format(rows=", ".join([row] * len(chunk))), params)
                inserted.update(cursor.fetchall())  # tuples with both drivers
        finally:
            cursor.close()
        return inserted

    def _thirdparty(self, session: Session, message: ThirdPartyMessage) -> bool:
        if self.live is None:
            return False
        try:
            self.live.thirdparty(session, message.topic, message.payload, message.received_ms)
        except Rejected as rejected:
            self._metrics.rejected.labels(reason=rejected.reason.value).inc()
            self._limiter.warning(
                rejected.reason.value, "rejected %s: %s", message.topic, rejected.detail
            )
            return False
        return True

    def _observe(
        self,
        session: Session,
        observation: Observation,
        effects: Effects,
        taps: list[dict[str, object]],
    ) -> None:
        payload = observation.payload
        # Told apart by type: isinstance is slow on pydantic models, and this is per message.
        if type(payload) is BleFacts or type(payload) is SensorFacts:
            if self.live is not None:
                self.live.observe(session, observation.topic, payload, effects)
            return
        assert isinstance(payload, Badge)  # only badges are applied as wire models
        received = datetime.fromtimestamp(observation.received_at, tz=UTC)
        self._badge(session, observation.topic, payload, received, effects, taps)

    def _badge(
        self,
        session: Session,
        topic: NodeTopic,
        badge: Badge,
        received: datetime,
        effects: Effects,
        taps: list[dict[str, object]],
    ) -> None:
        node = self._nodes[(topic.site, topic.node)]
        member_id = self._badge_owners.member_id(session, badge.credential)
        result = apply_badge(
            session,
            topic.site,
            topic.node,
            badge,
            received,
            exit_reader=badge.reader in node.exit_readers,
            # Its consents in the same query (the greeting reads them): one round trip, not two.
            member=session.get(Member, member_id, options=[joinedload(Member.consents)])
            if member_id is not None
            else None,
            tap_log=taps,
        )
        self._command_seq += 1
        feedback = FeedbackCommand(
            action="feedback",
            id=f"fb{int(time.time() * 1000):x}{self._command_seq:x}",
            ts=int(received.timestamp() * 1000),
            reader=badge.reader,
            badge_id=badge.id,
            result=Feedback(result.outcome.value),
        )
        effects.publishes.append(
            (self.topics.node(topic.site, topic.node, HubKind.COMMAND), encode(feedback), False)
        )
        site = self.config.site(topic.site)
        if result.departed and result.member is not None and self.live is not None:
            self.live.member_left(topic.site, result.member.id, badge.ts)
        if result.member is None or site is None or result.departed:
            return
        observed = ms_to_datetime(badge.ts)
        if (received - observed).total_seconds() > self.config.greet_max_age_s:
            return  # replayed after an outage: the person is long past the screen
        # Greet for the moments around the time of the tap, not of its (maybe late) arrival.
        effects.greetings.append(self._greeter.greeting(session, site, result.member, observed))

    def _node_configs(self, now: datetime) -> list[tuple[str, bytes, bool]]:
        """Retained ``config`` for every registered node, when the enrolled tags changed."""
        if self.live is None:
            return []
        with self._sessions() as session:
            tags = self.live.tags.enrolled(session)
        if tags == self._configured_tags:
            return []
        self._configured_tags = tags
        out = []
        for site in self.config.sites:
            if site.id not in self.live.sites:
                continue  # served by another hub process (hub.cluster)
            for node in site.nodes:
                payload = NodeConfig(
                    ts=int(now.timestamp() * 1000),
                    rooms=node.rooms,
                    enrolled_tags=sorted(tags),
                    ble_window_s=node.ble_window_s,
                    sensors=SensorParams(interval_s=node.sensor_interval_s),
                )
                out.append(
                    (self.topics.node(site.id, node.id, HubKind.CONFIG), encode(payload), True)
                )
        log.info("published node configs (%d enrolled tags)", len(tags))
        return out

    def forget_badges(self) -> None:
        """Reload badge owners at the next tap (a member was erased or a badge enrolled)."""
        self._badge_owners.forget()

    def sites_changed(self) -> None:
        """The served sites changed (hub.cluster): send node configs again at the next tick."""
        self._configured_tags = None

    def _node_row(self, session: Session, topic: NodeTopic) -> Node:
        node = session.get(Node, (topic.site, topic.node))
        if node is None:
            node = Node(site_id=topic.site, id=topic.node, status="unknown")
            session.add(node)
        return node

    def _node_seen(self, session: Session, topic: NodeTopic, at: datetime) -> None:
        node = self._node_row(session, topic)
        node.last_seen_at = at

    def _node_status(self, session: Session, topic: NodeTopic, status: str, at: datetime) -> None:
        node = self._node_row(session, topic)
        if node.status != status:
            node.status = status
            node.status_changed_at = at
            log.info("node %s/%s is %s", topic.site, topic.node, status)
        node.last_seen_at = at
        if self.live is not None:
            online = status == Status.ONLINE.value
            self.live.points.append(node_health_point(topic.site, topic.node, None, online, at))

    def _node_telemetry(
        self, session: Session, topic: NodeTopic, telemetry: Telemetry, at: datetime
    ) -> None:
        node = self._node_row(session, topic)
        node.telemetry = telemetry.model_dump(mode="json", exclude_none=True)
        node.last_seen_at = at
        if self.live is not None:
            online = node.status == Status.ONLINE.value
            self.live.points.append(
                node_health_point(topic.site, topic.node, telemetry, online, at)
            )

    def _emit(self, effects: Effects) -> None:
        for topic, payload, retain in effects.publishes:
            self._publish(topic, payload, retain)
        for greeting in effects.greetings:
            self._metrics.greetings.inc()
            self._broadcaster.publish(greeting.site_id, ScreenEvent("greeting", greeting))

    def prune_seen(self) -> int:
        """Forget (node, id) pairs older than the deduplication window."""
        cutoff = self._clock() - timedelta(hours=self.config.ingest.dedup_window_h)
        with self._sessions.begin() as session:
            result = session.execute(delete(SeenMessage).where(SeenMessage.seen_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
