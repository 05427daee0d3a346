"""An in-process MQTT broker (amqtt) so the demo needs nothing installed.

Production uses Mosquitto (see ``deploy/mosquitto/``); amqtt is only the demo's embedded default.
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)


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
        self._broker = Broker(config)
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
