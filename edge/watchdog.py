"""systemd integration without libsystemd: readiness, status line, watchdog pings.

The unit (``deploy/edge/vivant-edge.service``) is ``Type=notify`` with ``WatchdogSec=``: systemd
waits for ``READY=1`` before it considers the agent started, and restarts it if ``WATCHDOG=1``
does not come at least every ``WatchdogSec``. The agent pings from its event loop, and only
while its MQTT thread is alive, so a wedged event loop or a dead network thread both end in a
restart, where a plain "process exists" check would see nothing wrong. A broker that cannot be
reached is *not* a reason to stop pinging: the outbox is doing its job then.

The protocol is one datagram per message on the ``AF_UNIX`` socket named by ``$NOTIFY_SOCKET``
(a leading ``@`` means the abstract namespace); ``$WATCHDOG_USEC`` gives the period, and
``$WATCHDOG_PID``, when set, says which process it is meant for. Outside systemd both are unset
and every call is a no-op, so the agent runs the same on a laptop.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Final

log = logging.getLogger(__name__)

_MAX_STATUS: Final = 200


class SystemdNotifier:
    """Sends ``sd_notify`` messages, if systemd asked for them."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_s = _watchdog_s(env)
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        """Whether systemd listens (``$NOTIFY_SOCKET`` is set)."""
        return self._address is not None

    def _send(self, message: str) -> bool:
        if self._address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto(message.encode("utf-8"), self._address)
        except OSError as error:
            log.warning("sd_notify %s failed: %s", message.split("=")[0], error)
            return False
        return True

    def ready(self) -> bool:
        """Tell systemd the agent started."""
        return self._send("READY=1")

    def status(self, text: str) -> bool:
        """Set the one-line status ``systemctl status`` shows."""
        return self._send("STATUS=" + " ".join(text.split())[:_MAX_STATUS])

    def ping(self) -> bool:
        """Reset the watchdog timer."""
        return self.watchdog_s is not None and self._send("WATCHDOG=1")

    def stopping(self) -> bool:
        """Tell systemd a clean stop has begun."""
        return self._send("STOPPING=1")

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _socket_address(value: str) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    return value if value.startswith("/") else None


def _watchdog_s(env: Mapping[str, str]) -> float | None:
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None
