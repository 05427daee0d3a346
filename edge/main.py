"""Entry points behind ``vivant edge``: run an agent from a config file, or only check the file.

``vivant.cli`` parses the command line and calls :func:`run` or :func:`check_config`; both return
the process exit code. Exit codes: 0 clean stop (SIGINT / SIGTERM) or valid file, 1 the agent
could not run (outbox unusable, …), 2 the configuration is invalid.

``--simulate`` swaps every configured device for its simulated twin (:mod:`edge.simulation`):
badge readers tap among their ``uids``, the BLE scanner hears the enrolled tags among strangers,
GPIO sensors see people, environment sensors wander. An installer can watch messages flow from a
laptop before any hardware is plugged in.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from edge.agent import EdgeAgent
from edge.config import load_edge_config
from edge.outbox import OutboxError
from edge.simulation import Simulation, simulated_hardware
from vivant.config_file import ConfigError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


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
    simulation = simulated_hardware(config) if simulate else None
    if simulation is not None:
        log.info("simulating every device of node %s", config.node)
    agent = EdgeAgent(config, hardware=simulation.hardware if simulation else None)
    try:
        asyncio.run(_serve(agent, simulation))
    except (OutboxError, OSError) as error:  # OSError: TLS files, an unwritable directory
        sys.stderr.write(f"{error}\n")
        return EXIT_FAILED
    return EXIT_OK


async def _serve(agent: EdgeAgent, simulation: Simulation | None = None) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _stop_on_signal, agent, signum)
    driver = asyncio.create_task(simulation.run()) if simulation is not None else None
    try:
        await agent.run()
    finally:
        if driver is not None:
            driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _stop_on_signal(agent: EdgeAgent, signum: int) -> None:
    log.info("%s received, stopping", signal.Signals(signum).name)
    agent.stop()
