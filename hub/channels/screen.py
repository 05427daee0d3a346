"""The lobby screens as an outbound channel: announce a moment to everyone in the hall.

The screen side (what the card looks like, how long it stays) belongs to the screens; this
channel only calls the *announce* callable it was given with the site and the moment, from the
event loop (the hub wires it to its :class:`~hub.broadcast.Broadcaster`). No member data goes
this way: an announcement is as public as the screen itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hub.channels.base import DeliveryResult, OutboundMessage, ScreenTarget

log = logging.getLogger(__name__)

Announce = Callable[[str, int], None]
"""``announce(site_id, moment_id)``: show the moment on the site's lobby screens."""


class ScreenChannel:
    """Calls *announce* for each message to a :class:`ScreenTarget`."""

    name = "screen"

    def __init__(self, announce: Announce) -> None:
        self._announce = announce

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Announce the moment; a failing screen side is a failed attempt, retried."""
        target = message.target
        if not isinstance(target, ScreenTarget):
            raise TypeError(f"the screen channel cannot send to {target.key}")
        try:
            self._announce(target.site_id, target.moment_id)
        except Exception as error:  # the screen side's bug must not stop the dispatcher
            log.warning("%s: announce raised %s", target.key, type(error).__name__)
            return DeliveryResult.failed(f"announce raised {type(error).__name__}")
        return DeliveryResult.sent("announced")

    async def aclose(self) -> None:
        """Nothing to release."""
