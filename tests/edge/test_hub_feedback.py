"""The whole loop with a real hub: a tap lights the reader's LED with the hub's verdict.

How fast (the goal is 300 ms) is a figure printed by ``benchmarks/reader_feedback.py``, not a
timed assertion: a loaded machine would make it flaky without saying anything about the code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.agent import EdgeAgent, Hardware
from edge.sources.badge import FakeBadgeReader
from hub.db.models import Consent
from hub.members import add_member
from tests.edge.conftest import running, wait_until
from tests.support.hub_server import hub_config, running_hub
from tests.support.lobby_node import GREEN, READER, RED, lobby_reader_config
from vivant.wire import credential_for

pytestmark = pytest.mark.mosquitto

KEY = "hub-feedback-test-key"
CAMILLE = "04A1B2C3D4E5F6"
STRANGER = "04FFEEDDCCBBAA"


def lit(pin: Any) -> Callable[[], bool]:
    """Whether the LED on *pin* is on, as a condition to wait for."""
    return lambda: bool(pin.state)


async def test_the_reader_lights_green_for_a_member_and_red_for_a_stranger(
    system_broker_url: str, topic_root: str, tmp_path: Path
) -> None:
    factory = MockFactory()
    pins: Any = {GREEN: factory.pin(GREEN), RED: factory.pin(RED)}
    config = hub_config(
        system_broker_url,
        topic_root,
        f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-fb-{topic_root[:9]}",
    )
    agent = EdgeAgent(
        lobby_reader_config(
            system_broker_url, topic_root, tmp_path, key=KEY, client_id=f"edge-fb-{topic_root[:9]}"
        ),
        hardware=Hardware(pin_factory=factory),
    )
    reader = agent.readers[READER]
    assert isinstance(reader, FakeBadgeReader)
    verdicts: dict[str, tuple[bool, bool]] = {}
    try:
        with running_hub(config) as hub:
            with hub.runtime.sessions.begin() as session:
                add_member(
                    session,
                    "Camille",
                    consents=[Consent.SCREEN_DISPLAY],
                    badges=[credential_for(KEY, CAMILLE)],
                )
            async with running(agent, connect_timeout=10):
                for name, uid, led in (("accepted", CAMILLE, GREEN), ("unknown", STRANGER, RED)):
                    await wait_until(lambda: not pins[GREEN].state and not pins[RED].state, 3)
                    reader.tap(uid)
                    await wait_until(lit(pins[led]), 10)
                    verdicts[name] = (pins[GREEN].state, pins[RED].state)
    finally:
        factory.reset()
    assert verdicts == {"accepted": (True, False), "unknown": (False, True)}
