"""Entry points behind ``vivant edge``: run an agent from a config file, or only check the file.

``vivant.cli`` parses the command line and calls :func:`run` or :func:`check_config`; both return
the process exit code. Exit codes: 0 clean stop (SIGINT / SIGTERM) or valid file, 1 the agent
could not run (outbox unusable, …), 2 the configuration is invalid.

``--simulate`` swaps every configured badge reader for a :class:`SimulatedBadgeReader` (using the
reader's ``uids``, ``mean_interval_s`` and ``seed``), so an installer can watch messages flow from a
laptop before any hardware is plugged in.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from edge.agent import EdgeAgent
from edge.clock import utc_now
from edge.config import EdgeConfig, load_edge_config
from edge.outbox import OutboxError
from edge.sources.badge import BadgeReader, SimulatedBadgeReader
from vivant.config_file import ConfigError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def simulated_readers(config: EdgeConfig) -> dict[str, BadgeReader]:
    """A :class:`SimulatedBadgeReader` in place of each configured reader."""
    return {
        settings.id: SimulatedBadgeReader.from_settings(settings, clock=utc_now)
        for settings in config.badge_readers
    }


def check_config(path: Path) -> int:
    """Validate an edge config file: print ``ok``, or the errors with their lines on stderr."""
    try:
        load_edge_config(path)
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return EXIT_CONFIG
    sys.stdout.write("ok\n")
    return EXIT_OK


def run(config_path: Path, simulate: bool = False) -> int:
    """Run the edge agent of *config_path* until SIGINT or SIGTERM; returns the exit code."""
    try:
        config = load_edge_config(config_path)
    except ConfigError as error:
        sys.stderr.write(f"{error}\n")
        return EXIT_CONFIG
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    readers = simulated_readers(config) if simulate else None
    if simulate:
        log.info("simulating %d badge reader(s)", len(config.badge_readers))
    try:
        asyncio.run(_serve(EdgeAgent(config, readers)))
    except (OutboxError, OSError) as error:  # OSError: TLS files, an unwritable directory
        sys.stderr.write(f"{error}\n")
        return EXIT_FAILED
    return EXIT_OK


async def _serve(agent: EdgeAgent) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _stop_on_signal, agent, signum)
    try:
        await agent.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _stop_on_signal(agent: EdgeAgent, signum: int) -> None:
    log.info("%s received, stopping", signal.Signals(signum).name)
    agent.stop()
