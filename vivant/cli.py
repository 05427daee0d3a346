"""The ``vivant`` command. Edge and hub code is imported only by the subcommand that runs it,
so a Raspberry Pi with ``vivant[edge]`` never needs the hub's dependencies."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vivant import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vivant", description="Vivant: coworking spaces alive.")
    parser.add_argument("--version", action="version", version=f"vivant {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the whole system on embedded defaults")
    demo.add_argument(
        "--broker", help="use this MQTT broker (mqtt://host:port) instead of an in-process one"
    )
    demo.add_argument("--port", type=int, default=8080, help="hub HTTP port (default 8080)")
    demo.add_argument(
        "--mqtt-port", type=int, default=1884, help="port of the in-process broker (default 1884)"
    )
    demo.add_argument("--data", type=Path, default=Path(".vivant-demo"), help="demo data directory")
    demo.add_argument(
        "--tap-every", type=float, default=20.0, help="mean seconds between simulated taps per site"
    )
    demo.add_argument(
        "--history-weeks",
        type=int,
        default=12,
        help="weeks of synthetic past (members, moments, nudges) for the insights; 0: none",
    )

    hub = commands.add_parser("hub", help="run the hub")
    hub.add_argument("--config", type=Path, required=True, help="hub YAML file")
    hub_commands = hub.add_subparsers(dest="hub_command", metavar="ACTION")
    hub_commands.add_parser("migrate", help="bring the database schema up to date and exit")
    hub_commands.add_parser("check-config", help="validate the configuration and exit")

    edge = commands.add_parser("edge", help="run an edge agent")
    edge.add_argument("--config", type=Path, help="edge YAML file")
    edge.add_argument(
        "--simulate", action="store_true", help="replace hardware by simulated sources"
    )
    edge_commands = edge.add_subparsers(dest="edge_command", metavar="ACTION")
    check = edge_commands.add_parser("check-config", help="validate an edge configuration and exit")
    check.add_argument("file", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vivant`` console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Migrations log every step at INFO; a person starting Vivant needs only the outcome.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "demo":
        from vivant.demo.run import run_demo

        return run_demo(
            broker=args.broker,
            port=args.port,
            data_dir=args.data,
            tap_every=args.tap_every,
            mqtt_port=args.mqtt_port,
            history_weeks=args.history_weeks,
        )
    if args.command == "hub":
        from hub import main as hub_main

        if args.hub_command == "migrate":
            return hub_main.migrate(args.config)
        if args.hub_command == "check-config":
            return 0 if hub_main.load_config(args.config) is not None else 2
        return hub_main.run(args.config)
    if args.command == "edge":
        from edge import main as edge_main

        if args.edge_command == "check-config":
            return edge_main.check_config(args.file)
        if args.config is None:
            _parser().error("vivant edge needs --config FILE")
        return edge_main.run(args.config, simulate=args.simulate)
    return 2
