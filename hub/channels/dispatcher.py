"""Delivery of outbound messages: a bounded queue, retries with backoff, and a record of each step.

The nudge engine must never wait on Slack or an SMTP server, so :meth:`Dispatcher.submit` only
puts the message in a bounded in-memory queue and returns at once; when the queue is full the
message is rejected and counted (a flood of messages is a bug upstream, and dropping the newest is
kinder than stalling presence processing). A runner takes messages off the queue while fewer than
``max_active`` deliveries are in progress, and each delivery goes::

    queued ─▶ attempt ─▶ sent
                 │
                 ├─▶ retrying (wait: exponential backoff with jitter, or Retry-After) ─▶ attempt …
                 └─▶ failed   (permanent error, or max_attempts reached)

Every step is recorded through a :class:`DeliveryStore` (the database in the hub,
:class:`MemoryDeliveryStore` in tests), so staff and the insights pages see what happened and the
nudge experiments can count what was actually delivered. Attempts towards one target are limited
to ``per_target_concurrency`` at once, so a burst for one site does not hammer its Slack.

Delivery is at least once: an attempt cancelled by :meth:`Dispatcher.stop` may already have
reached the receiver, and it is recorded as queued again. Receivers deduplicate on the message id.
The queue lives in memory: messages accepted but not yet taken by the runner are lost if the
process dies; on a clean stop they are recorded as queued (with the message) so the hub can
resubmit them after a restart (:meth:`MemoryDeliveryStore.pending` shows the shape).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from hub.channels.base import Channel, DeliveryResult, OutboundMessage
from hub.channels.settings import ChannelSettings, RetryPolicy
from hub.metrics import LogLimiter

log = logging.getLogger(__name__)


class DeliveryState(StrEnum):
    """Where a delivery stands after a recorded step."""

    QUEUED = "queued"
    """Accepted, waiting for an attempt (also: left pending by a stop)."""
    RETRYING = "retrying"
    """An attempt failed; another is due at ``retry_at``."""
    SENT = "sent"
    """The receiver accepted the message (final)."""
    FAILED = "failed"
    """Permanent error or attempts exhausted (final)."""


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """One recorded step of a delivery; *detail* never holds a secret.

    *attempt* counts the attempts made so far. *message* is attached to ``queued`` events only,
    so a store can resubmit pending deliveries after a restart.
    """

    message_id: str
    target_key: str
    state: DeliveryState
    attempt: int
    at: datetime
    detail: str = ""
    retry_at: datetime | None = None
    message: OutboundMessage | None = None


class DeliveryStore(Protocol):
    """Where delivery steps are recorded, in order, per message."""

    async def record(self, event: DeliveryEvent) -> None:
        """Persist one step; may raise (the dispatcher logs and carries on)."""
        ...


class MemoryDeliveryStore:
    """A :class:`DeliveryStore` in a list, for tests and the demo."""

    def __init__(self) -> None:
        self.events: list[DeliveryEvent] = []

    async def record(self, event: DeliveryEvent) -> None:
        """Append *event*."""
        self.events.append(event)

    def states(self, message_id: str) -> list[DeliveryState]:
        """The recorded states of one message, in order."""
        return [e.state for e in self.events if e.message_id == message_id]

    def last(self, message_id: str) -> DeliveryEvent:
        """The latest recorded step of one message."""
        return [e for e in self.events if e.message_id == message_id][-1]

    def pending(self) -> list[OutboundMessage]:
        """Messages whose last step is ``queued`` or ``retrying``: to resubmit after a restart."""
        last: dict[str, DeliveryEvent] = {}
        messages: dict[str, OutboundMessage] = {}
        for event in self.events:
            last[event.message_id] = event
            if event.message is not None:
                messages[event.message_id] = event.message
        return [
            messages[mid]
            for mid, event in last.items()
            if event.state in (DeliveryState.QUEUED, DeliveryState.RETRYING) and mid in messages
        ]


@dataclass(slots=True)
class DispatcherStats:
    """Counters since start, for ``/metrics`` and tests."""

    submitted: int = 0
    rejected: int = 0
    sent: int = 0
    failed: int = 0
    retries: int = 0
    store_errors: int = 0


@dataclass(slots=True)
class _Job:
    message: OutboundMessage
    queued_at: datetime
    attempts: int = 0
    done: bool = False


@dataclass(slots=True)
class _TargetGate:
    semaphore: asyncio.Semaphore
    users: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Routes each message to its channel, retries, and records every step.

    The dispatcher owns its channels: :meth:`stop` closes them. *clock*, *sleep* and *rand* are
    the time, the wait and the jitter source, replaceable so tests run backoffs instantly.
    """

    def __init__(
        self,
        channels: Iterable[Channel],
        store: DeliveryStore,
        *,
        retry: RetryPolicy | None = None,
        queue_size: int = 1000,
        max_active: int = 100,
        per_target_concurrency: int = 2,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._channels = {channel.name: channel for channel in channels}
        self._store = store
        self._retry = retry or RetryPolicy()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(queue_size)
        self._slots = asyncio.Semaphore(max_active)
        self._per_target = per_target_concurrency
        self._gates: dict[str, _TargetGate] = {}
        self._active: dict[asyncio.Task[None], _Job] = {}
        self._runner: asyncio.Task[None] | None = None
        self._accepting = False
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._limited = LogLimiter(log)
        self.stats = DispatcherStats()

    @classmethod
    def from_settings(
        cls,
        settings: ChannelSettings,
        channels: Iterable[Channel],
        store: DeliveryStore,
    ) -> Dispatcher:
        """A dispatcher with the queue, concurrency and retry policy of *settings*."""
        return cls(
            channels,
            store,
            retry=settings.retry,
            queue_size=settings.queue_size,
            max_active=settings.max_active,
            per_target_concurrency=settings.per_target_concurrency,
        )

    @property
    def pending(self) -> int:
        """Messages waiting in the queue or in progress."""
        return self._queue.qsize() + len(self._active)

    def submit(self, message: OutboundMessage, *, attempts: int = 0) -> bool:
        """Queue *message* without ever waiting; ``False`` (and counted) when full or stopped.

        *attempts* already made (by a hub that stopped or died) count towards ``max_attempts``.
        """
        if not self._accepting:
            self.stats.rejected += 1
            self._limited.warning("rejected", "dispatcher stopped: rejected %s", message.id)
            return False
        try:
            self._queue.put_nowait(_Job(message, self._clock(), attempts))
        except asyncio.QueueFull:
            self.stats.rejected += 1
            self._limited.warning(
                "rejected", "outbound queue full: rejected %s to %s", message.id, message.target.key
            )
            return False
        self.stats.submitted += 1
        return True

    async def start(self) -> None:
        """Start taking messages off the queue."""
        if self._runner is not None:
            raise RuntimeError("the dispatcher is already started")
        self._accepting = True
        self._runner = asyncio.create_task(self._run(), name="vivant-outbound-dispatcher")

    async def join(self) -> None:
        """Wait until every accepted message is sent or failed."""
        await self._queue.join()

    async def stop(self, *, drain: bool = True, timeout_s: float = 10.0) -> None:
        """Stop accepting; wait for deliveries (if *drain*) up to *timeout_s*, record the rest.

        Messages not delivered by then (still queued, waiting for a retry, or cut mid-attempt)
        are recorded as ``queued`` with the message, for a resubmission after restart.
        """
        self._accepting = False
        if self._runner is None:
            return
        if drain:
            try:
                await asyncio.wait_for(self._queue.join(), timeout_s)
            except TimeoutError:
                log.warning("outbound dispatcher: %d deliveries left at stop", self.pending)
        self._runner.cancel()
        active = dict(self._active)  # done callbacks empty self._active as tasks end
        for task in active:
            task.cancel()
        await asyncio.gather(self._runner, *active, return_exceptions=True)
        self._runner = None
        leftover = [job for job in active.values() if not job.done]
        while not self._queue.empty():
            leftover.append(self._queue.get_nowait())
            self._queue.task_done()
        for job in leftover:
            await self._record(job, DeliveryState.QUEUED, "pending at stop", message=job.message)
        for channel in self._channels.values():
            await channel.aclose()

    async def __aenter__(self) -> Dispatcher:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                job = await self._queue.get()
            except asyncio.CancelledError:
                self._slots.release()
                raise
            task = asyncio.create_task(self._deliver(job), name=f"vivant-delivery-{job.message.id}")
            self._active[task] = job
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._slots.release()
        if self._active.pop(task, None) is not None:
            self._queue.task_done()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", exc_info=task.exception())

    async def _record(
        self,
        job: _Job,
        state: DeliveryState,
        detail: str = "",
        *,
        retry_at: datetime | None = None,
        message: OutboundMessage | None = None,
    ) -> None:
        event = DeliveryEvent(
            message_id=job.message.id,
            target_key=job.message.target.key,
            state=state,
            attempt=job.attempts,
            at=job.queued_at
            if state is DeliveryState.QUEUED and not job.attempts
            else self._clock(),
            detail=detail,
            retry_at=retry_at,
            message=message,
        )
        try:
            await self._store.record(event)
        except Exception as error:
            self.stats.store_errors += 1
            self._limited.warning(
                "store", "cannot record delivery %s: %s", job.message.id, type(error).__name__
            )

    async def _attempt(self, message: OutboundMessage) -> DeliveryResult:
        channel = self._channels.get(message.target.channel)
        if channel is None:
            return DeliveryResult.failed(
                f"no {message.target.channel} channel configured", retryable=False
            )
        key = message.target.key
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _TargetGate(asyncio.Semaphore(self._per_target))
        gate.users += 1
        try:
            async with gate.semaphore:
                return await channel.send(message)
        except Exception as error:  # a channel bug: treated as a failed attempt, retried
            return DeliveryResult.failed(f"{channel.name} raised {type(error).__name__}")
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[key]

    async def _deliver(self, job: _Job) -> None:
        message = job.message
        await self._record(job, DeliveryState.QUEUED, message=message)
        while True:
            result = await self._attempt(message)
            job.attempts += 1
            if result.ok:
                job.done = True
                self.stats.sent += 1
                await self._record(job, DeliveryState.SENT, result.detail)
                return
            if not result.retryable or job.attempts >= self._retry.max_attempts:
                job.done = True
                self.stats.failed += 1
                self._limited.warning(
                    "failed",
                    "delivery %s to %s failed after %d attempt(s): %s",
                    message.id,
                    message.target.key,
                    job.attempts,
                    result.detail,
                )
                await self._record(job, DeliveryState.FAILED, result.detail)
                return
            delay = self._retry.delay(job.attempts, self._rand())
            if result.retry_after_s is not None:
                delay = max(delay, result.retry_after_s)
            self.stats.retries += 1
            log.info(
                "delivery %s to %s: attempt %d failed (%s); retry in %.1f s",
                message.id,
                message.target.key,
                job.attempts,
                result.detail,
                delay,
            )
            retry_at = self._clock() + timedelta(seconds=delay)
            await self._record(job, DeliveryState.RETRYING, result.detail, retry_at=retry_at)
            await self._sleep(delay)
