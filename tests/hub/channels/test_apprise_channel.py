"""Apprise against real local receivers: its JSON webhook to an HTTP server, e-mail to aiosmtpd."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from hub.channels.apprise_channel import AppriseChannel
from hub.channels.base import AppriseTarget, SiteTarget, secret_parts
from hub.channels.dispatcher import DeliveryState, Dispatcher, MemoryDeliveryStore
from hub.channels.settings import RetryPolicy
from tests.hub.channels.conftest import FakeSleep, HttpReceiver, SmtpReceiver, message

TOKEN = "s3cr3t-T0ken-4f9a"
NO_JITTER = RetryPolicy(max_attempts=5, base_delay_s=1.0, multiplier=2.0, jitter=0.0)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_json_webhook_receives_title_and_message(http_receiver: HttpReceiver) -> None:
    channel = AppriseChannel()
    url = SecretStr(http_receiver.url("json", f"/hooks/{TOKEN}"))
    result = await channel.send(message(AppriseTarget(url)))
    await channel.aclose()

    assert result.ok
    [request] = http_receiver.received
    assert request.path == f"/hooks/{TOKEN}"
    document = json.loads(request.body)
    assert document["title"] == "Petit-déjeuner à 9h30"
    assert document["message"] == "Café et croissants en cuisine, ça commence bientôt !"


async def test_server_error_is_retried_with_backoff_until_sent(
    http_receiver: HttpReceiver, fake_sleep: FakeSleep
) -> None:
    http_receiver.statuses = [500, 503]
    store = MemoryDeliveryStore()
    target = AppriseTarget(SecretStr(http_receiver.url("json", f"/hooks/{TOKEN}")))
    dispatcher = Dispatcher(
        [AppriseChannel()], store, retry=NO_JITTER, sleep=fake_sleep, clock=lambda: T0
    )
    async with dispatcher:
        assert dispatcher.submit(message(target))
        await dispatcher.join()

    assert store.states("m1") == [
        DeliveryState.QUEUED,
        DeliveryState.RETRYING,
        DeliveryState.RETRYING,
        DeliveryState.SENT,
    ]
    assert [e.attempt for e in store.events] == [0, 1, 2, 3]
    assert fake_sleep.delays == [1.0, 2.0]
    assert len(http_receiver.received) == 3
    assert dispatcher.stats.sent == 1
    assert dispatcher.stats.retries == 2


async def test_site_target_notifies_every_url_of_the_site(http_receiver: HttpReceiver) -> None:
    urls = [SecretStr(http_receiver.url("json", f"/{name}/{TOKEN}")) for name in ("a", "b")]
    channel = AppriseChannel({"ekilibre": urls})
    result = await channel.send(message(SiteTarget("ekilibre")))
    assert result.ok
    assert sorted(r.path for r in http_receiver.received) == [f"/a/{TOKEN}", f"/b/{TOKEN}"]

    unknown = await channel.send(message(SiteTarget("nowhere")))
    assert not unknown.ok
    assert not unknown.retryable


async def test_invalid_url_fails_without_retry() -> None:
    channel = AppriseChannel()
    result = await channel.send(message(AppriseTarget(SecretStr("nosuchscheme://x"))))
    assert not result.ok
    assert not result.retryable


async def test_email_reaches_local_smtp_with_accents_intact(smtp_receiver: SmtpReceiver) -> None:
    url = (
        f"mailto://127.0.0.1:{smtp_receiver.port}"
        "?from=vivant@ekilibre.example&to=marie@example.org&mode=insecure"
    )
    channel = AppriseChannel()
    result = await channel.send(message(AppriseTarget(SecretStr(url))))
    assert result.ok, result.detail

    [envelope] = smtp_receiver.envelopes
    assert envelope.mail_from == "vivant@ekilibre.example"
    assert envelope.rcpt_tos == ["marie@example.org"]
    [mail] = smtp_receiver.messages()
    assert mail["subject"] == "Petit-déjeuner à 9h30"
    body = mail.get_body(("plain",))
    assert body is not None
    assert body.get_content().strip() == "Café et croissants en cuisine, ça commence bientôt !"


async def test_markdown_is_sent_when_given(http_receiver: HttpReceiver) -> None:
    channel = AppriseChannel()
    url = SecretStr(http_receiver.url("json", f"/hooks/{TOKEN}"))
    result = await channel.send(
        message(AppriseTarget(url), markdown="**Café** à 9h30", language="en")
    )
    assert result.ok
    assert "**Café** à 9h30" in json.loads(http_receiver.received[0].body)["message"]


async def test_secrets_in_apprise_urls_never_reach_the_logs(
    http_receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http_receiver.statuses = [500]
    password = "Pa55word-xyz"
    url = SecretStr(
        http_receiver.url("json", f"/hooks/{TOKEN}").replace("//", f"//bot:{password}@")
    )
    target = AppriseTarget(url)
    store = MemoryDeliveryStore()
    async with Dispatcher([AppriseChannel()], store, retry=NO_JITTER, sleep=FakeSleep()) as d:
        d.submit(message(target))
        await d.join()

    assert store.states("m1")[-1] == DeliveryState.SENT
    assert "JSON POST URL" in caplog.text  # Apprise did log its request line …
    assert TOKEN not in caplog.text  # … without the token,
    assert password not in caplog.text  # nor the password,
    assert TOKEN not in repr(target)  # and the target never prints it.
    assert all(TOKEN not in e.detail and TOKEN not in e.target_key for e in store.events)


def test_secret_parts_cover_tokens_in_host_path_and_query() -> None:
    parts = secret_parts("tgram://123456:ABCdefGHI/98765432?key=verysecretvalue")
    assert {"123456:ABCdefGHI", "ABCdefGHI", "98765432", "verysecretvalue"} <= parts
    assert "hooks.slack.com" not in secret_parts("slack://hooks.slack.com/T000/B000/XXXXXXXX")
