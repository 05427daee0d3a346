"""An in-process MQTT broker (amqtt) so the demo needs nothing installed.

Production uses Mosquitto (see ``deploy/mosquitto/``); amqtt is only the demo's embedded default.
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)


class _SnapshotDict(dict[str, Any]):
    """Iterates over a copy of its keys, so a coroutine may add keys while another iterates."""

    def __iter__(self) -> Any:
        return iter(list(super().keys()))


class _DemoBroker(Broker):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt's broker with two workarounds for amqtt 0.12 (remove when fixed upstream).

    * On connect it replays retained messages for *every* subscription in the broker, not only
      the connecting client's, so a node would receive other clients' retained topics.
    * That replay iterates the subscription table while awaiting, and a client subscribing at
      the same moment raises "dictionary changed size during iteration" and drops the first.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._subscriptions = _SnapshotDict()

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        subscribers = self._subscriptions.get(subscription[0], [])
        if any(s.client_id == session.client_id for s, _qos in subscribers):
            await super()._publish_retained_messages_for_subscription(subscription, session)


class EmbeddedBroker:
    """amqtt on 127.0.0.1:<port>, anonymous, no $SYS topics."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._broker: Any = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (must be called from the running event loop)."""
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        self._broker = _DemoBroker(config)
        await self._broker.start()
        # amqtt logs every connection at INFO; the demo's console is for people.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        log.info("embedded MQTT broker on %s", self.url)

    async def stop(self) -> None:
        """Disconnect everyone and stop listening."""
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
