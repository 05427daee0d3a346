"""Waiting for a condition with a deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object], within: float = 5.0, what: str = "condition"
) -> None:
    """Poll *predicate* until it is true; fail after *within* seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        time.sleep(0.02)


async def eventually(
    predicate: Callable[[], object], within: float = 5.0, what: str = "condition"
) -> None:
    """Async :func:`wait_until`: polls without blocking the event loop."""
    async with asyncio.timeout(within):
        # Polling is the point: the condition lives in another thread or process.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
