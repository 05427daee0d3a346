"""Signed webhooks against a real local receiver that checks the signature."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from hub.channels.base import RecipientKind, WebhookTarget
from hub.channels.dispatcher import Dispatcher, MemoryDeliveryStore
from hub.channels.settings import RetryPolicy, WebhookSettings
from hub.channels.webhook import (
    DELIVERY_HEADER,
    REPLAY_WINDOW_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    sign,
    verify_signature,
)
from tests.hub.channels.conftest import FakeSleep, HttpReceiver, free_port, message

SECRET = "whsec-0123456789abcdef"
URL_TOKEN = "tok-9b8a7c6d5e"
POLICY = RetryPolicy(max_attempts=3, base_delay_s=1.0, multiplier=2.0, jitter=0.0)


def settings(url: str) -> WebhookSettings:
    """The integrator's webhook *url* with the test secret."""
    return WebhookSettings(id="crm", url=SecretStr(url), secret=SecretStr(SECRET))


def channel_for(receiver: HttpReceiver) -> WebhookChannel:
    """A webhook channel towards *receiver*, which verifies signatures with the same secret."""
    receiver.secret = SECRET
    return WebhookChannel([settings(receiver.url("http", f"/in/{URL_TOKEN}"))])


async def deliver(channel: WebhookChannel, store: MemoryDeliveryStore, sleep: FakeSleep) -> None:
    """Send one message to the ``crm`` webhook through a dispatcher, until final."""
    async with Dispatcher([channel], store, retry=POLICY, sleep=sleep) as dispatcher:
        dispatcher.submit(message(WebhookTarget("crm"), recipient_kind=RecipientKind.INTEGRATOR))
        await dispatcher.join()


async def test_receiver_verifies_the_signature(http_receiver: HttpReceiver) -> None:
    channel = channel_for(http_receiver)
    result = await channel.send(message(WebhookTarget("crm")))
    await channel.aclose()

    assert result.ok, result.detail
    [request] = http_receiver.received
    assert request.verified is True
    assert request.headers[DELIVERY_HEADER] == "m1"
    assert request.headers[SIGNATURE_HEADER].startswith("sha256=")
    document = json.loads(request.body)
    assert document["subject"] == "Petit-déjeuner à 9h30"
    assert document["metadata"] == {"nudge_id": "n42", "rule": "moment_soon", "variant": "b"}
    assert "target" not in document


async def test_tampered_body_or_old_timestamp_fails(http_receiver: HttpReceiver) -> None:
    channel = channel_for(http_receiver)
    await channel.send(message(WebhookTarget("crm")))
    await channel.aclose()
    [request] = http_receiver.received
    timestamp = request.headers[TIMESTAMP_HEADER]
    signature = request.headers[SIGNATURE_HEADER]

    assert verify_signature(SECRET, request.body, timestamp, signature)
    tampered = request.body.replace(b"9h30", b"9h31")
    assert not verify_signature(SECRET, tampered, timestamp, signature)
    assert not verify_signature("another-secret-of-16", request.body, timestamp, signature)
    later = int(timestamp) + REPLAY_WINDOW_S + 1
    assert not verify_signature(SECRET, request.body, timestamp, signature, now=later)
    assert not verify_signature(SECRET, request.body, "not-a-number", signature)


@given(body=st.binary(max_size=200), skew=st.integers(-REPLAY_WINDOW_S, REPLAY_WINDOW_S))
def test_signature_round_trip_within_the_window(body: bytes, skew: int) -> None:
    now = int(time.time())
    signature = sign(SECRET, now, body)
    assert verify_signature(SECRET, body, str(now), signature, now=now + skew)
    assert not verify_signature(SECRET, body + b"x", str(now), signature, now=now + skew)


async def test_server_errors_are_retried_until_sent(
    http_receiver: HttpReceiver, fake_sleep: FakeSleep
) -> None:
    http_receiver.statuses = [502, 500]
    store = MemoryDeliveryStore()
    await deliver(channel_for(http_receiver), store, fake_sleep)

    assert store.states("m1") == ["queued", "retrying", "retrying", "sent"]
    assert fake_sleep.delays == [1.0, 2.0]
    assert all(r.verified for r in http_receiver.received)


@pytest.mark.parametrize("status", [408, 429])
async def test_timeout_and_rate_limit_are_retried(
    http_receiver: HttpReceiver, fake_sleep: FakeSleep, status: int
) -> None:
    http_receiver.statuses = [status]
    store = MemoryDeliveryStore()
    await deliver(channel_for(http_receiver), store, fake_sleep)
    assert store.states("m1") == ["queued", "retrying", "sent"]


async def test_retry_after_is_honoured(http_receiver: HttpReceiver, fake_sleep: FakeSleep) -> None:
    http_receiver.statuses = [429]
    http_receiver.extra_headers = {"Retry-After": "30"}
    store = MemoryDeliveryStore()
    await deliver(channel_for(http_receiver), store, fake_sleep)
    assert fake_sleep.delays == [30.0]


@pytest.mark.parametrize("status", [400, 401, 404, 410])
async def test_other_client_errors_are_not_retried(
    http_receiver: HttpReceiver, fake_sleep: FakeSleep, status: int
) -> None:
    http_receiver.statuses = [status]
    store = MemoryDeliveryStore()
    await deliver(channel_for(http_receiver), store, fake_sleep)

    assert store.states("m1") == ["queued", "failed"]
    assert store.last("m1").detail == f"HTTP {status}"
    assert len(http_receiver.received) == 1
    assert fake_sleep.delays == []


async def test_connection_refused_is_retried_then_fails(fake_sleep: FakeSleep) -> None:
    channel = WebhookChannel([settings(f"http://127.0.0.1:{free_port()}/in/{URL_TOKEN}")])
    store = MemoryDeliveryStore()
    await deliver(channel, store, fake_sleep)

    assert store.states("m1") == ["queued", "retrying", "retrying", "failed"]
    assert store.last("m1").detail == "transport error (ConnectError)"
    assert fake_sleep.delays == [1.0, 2.0]


async def test_unknown_webhook_fails_without_retry() -> None:
    channel = WebhookChannel([])
    result = await channel.send(message(WebhookTarget("nope")))
    await channel.aclose()
    assert not result.ok
    assert not result.retryable


async def test_an_injected_client_is_left_open(http_receiver: HttpReceiver) -> None:
    async with httpx.AsyncClient() as client:
        http_receiver.secret = SECRET
        channel = WebhookChannel(
            [settings(http_receiver.url("http", "/in/x"))], client=client, clock=lambda: 1e9
        )
        # A clock far in the past: the receiver refuses the stale signature (401, no retry).
        result = await channel.send(message(WebhookTarget("crm")))
        await channel.aclose()
        assert not client.is_closed
    assert result.detail == "HTTP 401"
    assert not result.retryable


async def test_webhook_url_tokens_never_reach_the_logs(
    http_receiver: HttpReceiver, fake_sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http_receiver.statuses = [500]
    await deliver(channel_for(http_receiver), MemoryDeliveryStore(), fake_sleep)

    assert "HTTP Request: POST" in caplog.text  # httpx logged the request …
    assert URL_TOKEN not in caplog.text  # … without the token in its URL
    assert SECRET not in caplog.text
