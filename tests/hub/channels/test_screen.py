"""The lobby screens as a channel: it calls the announce callable the hub gives it."""

from __future__ import annotations

import pytest

from hub.channels.base import ScreenTarget, WebhookTarget
from hub.channels.screen import ScreenChannel
from tests.hub.channels.conftest import message


async def test_announce_is_called_with_site_and_moment() -> None:
    calls: list[tuple[str, int]] = []
    channel = ScreenChannel(lambda site, moment: calls.append((site, moment)))
    result = await channel.send(message(ScreenTarget("ekilibre", 42)))
    assert result.ok
    assert calls == [("ekilibre", 42)]


async def test_a_failing_screen_side_is_a_retryable_failure() -> None:
    def broken(site: str, moment: int) -> None:
        raise RuntimeError("no screen code yet")

    result = await ScreenChannel(broken).send(message(ScreenTarget("ekilibre", 1)))
    assert (result.ok, result.retryable) == (False, True)
    assert result.detail == "announce raised RuntimeError"
    with pytest.raises(TypeError):
        await ScreenChannel(broken).send(message(WebhookTarget("crm")))
