"""The ``vivant`` command. Edge and hub code is imported only by the subcommand that runs it,
so a Raspberry Pi with ``vivant[edge]`` never needs the hub's dependencies."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from vivant import __version__
from vivant.broker import cli as broker_cli


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
    hub.add_argument("--config", type=Path, help="hub YAML file (required)")
    hub.add_argument(
        "--instance",
        default=os.environ.get("VIVANT_HUB_INSTANCE"),
        help="which of the configured hub instances this process is (cluster.instances)",
    )
    hub.add_argument("--port", type=int, help="HTTP port (overrides http.port)")
    hub_commands = hub.add_subparsers(dest="hub_command", metavar="ACTION")
    hub_commands.add_parser("migrate", help="bring the database schema up to date and exit")
    hub_commands.add_parser("check-config", help="validate the configuration and exit")
    backup = hub_commands.add_parser("backup", help="write a consistent database backup")
    backup.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="hub YAML file")
    backup.add_argument("path", type=Path, help="new backup file")
    restore = hub_commands.add_parser("restore", help="replace the database by a backup")
    restore.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="hub YAML file")
    restore.add_argument("path", type=Path, help="backup file (stop the hub first)")
    screen = hub_commands.add_parser("screen-url", help="print a lobby screen's kiosk URL")
    screen.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="hub YAML file")
    screen.add_argument("site", help="site id")
    screen.add_argument("screen", help="screen id")
    dry = hub_commands.add_parser("nudges", help="show what the nudge rules would send, and why")
    dry.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="hub YAML file")
    dry.add_argument("--at", help="ISO time to look at (default now; site time if no offset)")
    dry.add_argument("--lang", choices=["fr", "en"], default="fr", help="language (default fr)")
    digest = hub_commands.add_parser("digest", help="print last week's insights digest per site")
    digest.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="hub YAML file")
    digest.add_argument("--send", action="store_true", help="also e-mail it to the managers")
    add_user = hub_commands.add_parser("add-user", help="create an account (staff, manager, admin)")
    add_user.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="hub YAML file")
    add_user.add_argument("email")
    add_user.add_argument("--role", choices=["staff", "manager", "admin"], required=True)
    add_user.add_argument("--name", default="", help="name shown in the pages")
    add_user.add_argument("--language", choices=["fr", "en"], default="fr")
    add_user.add_argument(
        "--password-file", type=Path, help="read the password from this file ('-': stdin)"
    )

    doctor = commands.add_parser("doctor", help="check a hub installation and explain the fixes")
    doctor.add_argument("--config", type=Path, required=True, help="hub YAML file")

    edge = commands.add_parser("edge", help="run an edge agent")
    edge.add_argument("--config", type=Path, help="edge YAML file")
    edge.add_argument(
        "--simulate", action="store_true", help="replace hardware by simulated sources"
    )
    edge_commands = edge.add_subparsers(dest="edge_command", metavar="ACTION")
    check = edge_commands.add_parser("check-config", help="validate an edge configuration and exit")
    check.add_argument("file", type=Path)
    broker_cli.add_parser(commands)
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

        if args.config is None:
            _parser().error("vivant hub needs --config FILE")
        if args.hub_command == "screen-url":
            return hub_main.print_screen_url(args.config, args.site, args.screen)
        if args.hub_command == "add-user":
            from hub.accounts_cli import add_user_command

            return add_user_command(
                args.config, args.email, args.role, name=args.name, language=args.language,
                password_file=args.password_file,
            )  # fmt: skip
        if args.hub_command == "migrate":
            return hub_main.migrate(args.config)
        if args.hub_command in ("backup", "restore"):
            from hub import backup as hub_backup

            return hub_backup.run(args.config, args.hub_command, args.path)
        if args.hub_command == "digest":
            return hub_main.digest(args.config, send=args.send)
        if args.hub_command == "nudges":
            return hub_main.nudges(args.config, args.at, args.lang)
        if args.hub_command == "check-config":
            return 0 if hub_main.load_config(args.config) is not None else 2
        return hub_main.run(args.config, args.instance, port=args.port)
    if args.command == "doctor":
        from hub import doctor

        return doctor.run(args.config)
    if args.command == "edge":
        from edge import main as edge_main

        if args.edge_command == "check-config":
            return edge_main.check_config(args.file)
        if args.config is None:
            _parser().error("vivant edge needs --config FILE")
        return edge_main.run(args.config, simulate=args.simulate)
    if args.command == "mqtt":
        return broker_cli.run(args)
    return 2
