"""The dispatcher's queue, retries, concurrency and stop, with a scripted channel.

The channel here is a fake of our own :class:`~hub.channels.base.Channel` protocol (HTTP and SMTP
are exercised for real in the other modules); it fails loudly on a target it was not given.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from hub.channels.base import AppriseTarget, DeliveryResult, OutboundMessage, WebhookTarget
from hub.channels.dispatcher import (
    DeliveryEvent,
    DeliveryState,
    Dispatcher,
    MemoryDeliveryStore,
)
from hub.channels.settings import ChannelSettings, RetryPolicy
from tests.hub.channels.conftest import FakeSleep, message

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOOK = WebhookTarget("crm")
OK = DeliveryResult.sent()
BOOM = DeliveryResult.failed("HTTP 503")


class ScriptedChannel:
    """Answers the scripted results in order, then success; can hold attempts on a gate."""

    name = "webhook"

    def __init__(self, *results: DeliveryResult | Exception, gate: asyncio.Event | None = None):
        self.results = list(results)
        self.gate = gate
        self.sent: list[str] = []
        self.running: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.closed = False
        self.started = asyncio.Event()

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if not isinstance(message.target, WebhookTarget):
            raise AssertionError(f"unexpected target {message.target.key}")
        key = message.target.key
        self.started.set()
        self.running[key] += 1
        self.peak[key] = max(self.peak[key], self.running[key])
        try:
            if self.gate is not None:
                await self.gate.wait()
            outcome = self.results.pop(0) if self.results else OK
            if isinstance(outcome, Exception):
                raise outcome
            if outcome.ok:
                self.sent.append(message.id)
            return outcome
        finally:
            self.running[key] -= 1

    async def aclose(self) -> None:
        self.closed = True


def dispatcher(
    channel: ScriptedChannel, store: MemoryDeliveryStore, **options: object
) -> Dispatcher:
    """A dispatcher on a fixed clock, with instant sleeps unless given."""
    options.setdefault("sleep", FakeSleep())
    options.setdefault("clock", lambda: T0)
    return Dispatcher([channel], store, **options)  # type: ignore[arg-type]


async def test_backoff_is_exponential_with_jitter_and_capped(fake_sleep: FakeSleep) -> None:
    store = MemoryDeliveryStore()
    policy = RetryPolicy(
        max_attempts=6, base_delay_s=1.0, multiplier=2.0, max_delay_s=5.0, jitter=0.5
    )
    channel = ScriptedChannel(BOOM, BOOM, BOOM, BOOM)
    async with dispatcher(channel, store, retry=policy, sleep=fake_sleep, rand=lambda: 0.5) as d:
        d.submit(message(HOOK))
        await d.join()

    # 1, 2, 4, 8→5 (cap), each reduced by jitter × rand = 25 %.
    assert fake_sleep.delays == [0.75, 1.5, 3.0, 3.75]
    retries = [e for e in store.events if e.state is DeliveryState.RETRYING]
    assert [e.retry_at for e in retries] == [T0 + timedelta(seconds=s) for s in fake_sleep.delays]
    assert [e.detail for e in retries] == ["HTTP 503"] * 4
    assert store.states("m1")[-1] is DeliveryState.SENT


async def test_attempts_exhausted_is_failed() -> None:
    store = MemoryDeliveryStore()
    channel = ScriptedChannel(BOOM, BOOM, BOOM)
    async with dispatcher(channel, store, retry=RetryPolicy(max_attempts=3)) as d:
        d.submit(message(HOOK))
        await d.join()
    assert store.states("m1") == ["queued", "retrying", "retrying", "failed"]
    assert store.last("m1").attempt == 3
    assert d.stats.failed == 1


async def test_permanent_failure_is_not_retried() -> None:
    store = MemoryDeliveryStore()
    channel = ScriptedChannel(DeliveryResult.failed("HTTP 404", retryable=False))
    async with dispatcher(channel, store) as d:
        d.submit(message(HOOK))
        await d.join()
    assert store.states("m1") == ["queued", "failed"]


async def test_a_channel_that_raises_is_retried() -> None:
    store = MemoryDeliveryStore()
    channel = ScriptedChannel(ValueError("bug"))
    async with dispatcher(channel, store) as d:
        d.submit(message(HOOK))
        await d.join()
    assert store.states("m1") == ["queued", "retrying", "sent"]
    assert store.events[1].detail == "webhook raised ValueError"


async def test_a_target_without_channel_fails() -> None:
    store = MemoryDeliveryStore()
    async with dispatcher(ScriptedChannel(), store) as d:
        d.submit(message(AppriseTarget(SecretStr("json://x/y"))))
        await d.join()
    assert store.states("m1") == ["queued", "failed"]
    assert store.last("m1").detail == "no apprise channel configured"


async def test_full_queue_rejects_without_blocking() -> None:
    store = MemoryDeliveryStore()
    gate = asyncio.Event()
    channel = ScriptedChannel(gate=gate)
    d = dispatcher(channel, store, queue_size=2, max_active=1)
    await d.start()
    accepted = [d.submit(message(HOOK, id=f"m{i}")) for i in range(4)]

    assert accepted == [True, True, False, False]
    assert d.stats.rejected == 2
    gate.set()
    await d.join()
    await d.stop()
    assert channel.sent == ["m0", "m1"]


async def test_submit_after_stop_is_rejected() -> None:
    store = MemoryDeliveryStore()
    d = dispatcher(ScriptedChannel(), store)
    assert not d.submit(message(HOOK))  # not started yet
    await d.start()
    await d.stop()
    assert not d.submit(message(HOOK))
    assert d.stats.rejected == 2


async def test_stop_drains_pending_deliveries() -> None:
    store = MemoryDeliveryStore()
    channel = ScriptedChannel(BOOM)
    d = dispatcher(channel, store)
    await d.start()
    for i in range(5):
        d.submit(message(HOOK, id=f"m{i}"))
    await d.stop(drain=True)

    assert sorted(channel.sent) == [f"m{i}" for i in range(5)]
    assert store.pending() == []
    assert channel.closed


async def test_stop_without_drain_records_pending_as_queued() -> None:
    store = MemoryDeliveryStore()
    gate = asyncio.Event()  # never set: the first attempt hangs
    channel = ScriptedChannel(gate=gate)
    d = dispatcher(channel, store, max_active=1)
    await d.start()
    for i in range(3):
        d.submit(message(HOOK, id=f"m{i}"))
    await channel.started.wait()
    await d.stop(drain=False)

    assert {m.id for m in store.pending()} == {"m0", "m1", "m2"}
    assert store.states("m0") == ["queued", "queued"]  # taken, cut mid-attempt, pending again
    assert store.states("m1") == ["queued"]  # never taken off the queue
    assert store.last("m1").message is not None
    assert d.pending == 0


async def test_drain_timeout_leaves_the_rest_queued() -> None:
    store = MemoryDeliveryStore()
    channel = ScriptedChannel(gate=asyncio.Event())
    d = dispatcher(channel, store)
    await d.start()
    d.submit(message(HOOK))
    await d.stop(drain=True, timeout_s=0.05)
    assert [m.id for m in store.pending()] == ["m1"]


async def test_waiting_retry_is_pending_at_stop() -> None:
    store = MemoryDeliveryStore()
    never, sleeping = asyncio.Event(), asyncio.Event()

    async def long_sleep(delay: float) -> None:
        sleeping.set()
        await never.wait()

    d = dispatcher(ScriptedChannel(BOOM), store, sleep=long_sleep)
    await d.start()
    d.submit(message(HOOK))
    await sleeping.wait()
    await d.stop(drain=False)
    assert store.states("m1") == ["queued", "retrying", "queued"]


async def test_per_target_concurrency_is_limited() -> None:
    store = MemoryDeliveryStore()
    gate = asyncio.Event()
    channel = ScriptedChannel(gate=gate)
    other = WebhookTarget("bookings")
    d = dispatcher(channel, store, per_target_concurrency=2)
    await d.start()
    for i in range(6):
        d.submit(message(HOOK, id=f"a{i}"))
        d.submit(message(other, id=f"b{i}"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert channel.running == {HOOK.key: 2, other.key: 2}
    gate.set()
    await d.join()
    await d.stop()
    assert channel.peak == {HOOK.key: 2, other.key: 2}
    assert len(channel.sent) == 12


class BrokenStore(MemoryDeliveryStore):
    """A store whose database is down."""

    async def record(self, event: DeliveryEvent) -> None:
        raise ConnectionError("database unreachable")


async def test_a_broken_store_does_not_stop_deliveries() -> None:
    channel = ScriptedChannel()
    async with dispatcher(channel, BrokenStore()) as d:
        d.submit(message(HOOK))
        await d.join()
    assert channel.sent == ["m1"]
    assert d.stats.store_errors == 2


async def test_logs_name_targets_by_key_never_by_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_url = "tgram://123456:AAFsecretBotToken/987654"
    target = AppriseTarget(SecretStr(secret_url))

    class FailingApprise(ScriptedChannel):
        name = "apprise"

        async def send(self, message: OutboundMessage) -> DeliveryResult:
            return DeliveryResult.failed("failure (Telegram: failure)", retryable=False)

    store = MemoryDeliveryStore()
    async with Dispatcher([FailingApprise()], store) as d:
        d.submit(message(target))
        await d.join()
    assert target.key in caplog.text
    assert "AAFsecretBotToken" not in caplog.text
    assert "AAFsecretBotToken" not in repr(store.events)


def test_from_settings_uses_the_configured_limits() -> None:
    settings = ChannelSettings(queue_size=1, retry=RetryPolicy(max_attempts=2))
    d = Dispatcher.from_settings(settings, [ScriptedChannel()], MemoryDeliveryStore())
    assert d.pending == 0


@given(
    attempt=st.integers(1, 60),
    rand=st.floats(0, 1, exclude_max=True),
    base=st.floats(0.01, 100),
    jitter=st.floats(0, 1),
)
def test_delay_is_positive_and_never_above_the_cap(
    attempt: int, rand: float, base: float, jitter: float
) -> None:
    policy = RetryPolicy(base_delay_s=base, max_delay_s=300, jitter=jitter)
    delay = policy.delay(attempt, rand)
    assert 0 < delay <= 300
