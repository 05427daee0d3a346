"""``vivant mqtt gen-acl | gen-passwd | gen-bridge``: the files a production Mosquitto needs.

``gen-acl`` and ``gen-passwd`` read the hub configuration (the register of sites and nodes), so
they import the hub's configuration models and need the hub's dependencies; ``gen-bridge`` needs
only this package and paho-mqtt, and runs on a site's machine. Imports happen in the action
that needs them: the ``vivant`` command builds this parser for every subcommand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vivant.broker.accounts import Account

EXIT_OK = 0
EXIT_ERROR = 2
BRIDGE_PASSWORD_ENV = "VIVANT_BRIDGE_PASSWORD"  # noqa: S105 (a variable name)


def add_parser(commands: Any) -> None:
    """Add ``mqtt`` and its actions to the ``vivant`` command's subparsers."""
    mqtt = commands.add_parser("mqtt", help="write Mosquitto's ACL, password file and bridge")
    actions = mqtt.add_subparsers(dest="mqtt_command", required=True, metavar="ACTION")

    def accounts_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--config", type=Path, required=True, help="hub YAML file")
        parser.add_argument(
            "--site",
            action="append",
            default=[],
            help="only this site's nodes (repeat for several; default: every site)",
        )
        parser.add_argument(
            "--bridges",
            action="store_true",
            help="add a bridge-<site> account per site (for the central broker)",
        )

    acl = actions.add_parser("gen-acl", help="write the ACL file from the hub configuration")
    accounts_options(acl)
    acl.add_argument("--append", type=Path, help="hand-written ACL lines to add at the end")
    acl.add_argument("-o", "--output", type=Path, help="ACL file to write (default: stdout)")

    passwd = actions.add_parser("gen-passwd", help="write the password file (PBKDF2-SHA512)")
    accounts_options(passwd)
    passwd.add_argument(
        "--secrets",
        type=Path,
        required=True,
        help="directory of one password file per user (read, or written once with mode 0600)",
    )
    passwd.add_argument(
        "--extra-user",
        action="append",
        default=[],
        help="also an account for a device Vivant does not configure (ACL: gen-acl --append)",
    )
    passwd.add_argument("-o", "--output", type=Path, required=True, help="password file")
    passwd.add_argument(
        "--iterations", type=int, default=10_000, help="PBKDF2 rounds (default 10000)"
    )

    bridge = actions.add_parser("gen-bridge", help="write a site broker's bridge to the central")
    bridge.add_argument("--site", required=True, help="the site whose broker this is")
    bridge.add_argument("--central", required=True, help="central broker, mqtts://host:8883")
    bridge.add_argument("--ca-file", type=Path, help="CA of the central broker's certificate")
    bridge.add_argument("--cert-file", type=Path, help="client certificate (optional)")
    bridge.add_argument("--key-file", type=Path, help="client certificate's key (optional)")
    bridge.add_argument("--username", help="account at the central broker (default bridge-<site>)")
    bridge.add_argument(
        "--password-file",
        type=Path,
        help=f"file holding the bridge's password (default: ${BRIDGE_PASSWORD_ENV})",
    )
    bridge.add_argument("--topic-root", default=None, help="topic root (default vivant/v1)")
    bridge.add_argument("--reconnect-min-s", type=int, default=5, help="first reconnect delay")
    bridge.add_argument("--reconnect-max-s", type=int, default=60, help="longest reconnect delay")
    bridge.add_argument("-o", "--output", type=Path, required=True, help="file for conf.d/")


def run(args: argparse.Namespace) -> int:
    """Run one ``vivant mqtt`` action; errors go to stderr with exit code 2."""
    from vivant.broker.accounts import AccountError
    from vivant.broker.passwd import PasswordError
    from vivant.config_file import ConfigError

    try:
        if args.mqtt_command == "gen-acl":
            return _gen_acl(args)
        if args.mqtt_command == "gen-passwd":
            return _gen_passwd(args)
        return _gen_bridge(args)
    except (AccountError, PasswordError, ConfigError, OSError) as error:
        sys.stderr.write(f"vivant mqtt {args.mqtt_command}: {error}\n")
        return EXIT_ERROR


def _accounts(args: argparse.Namespace) -> list[Account]:
    from hub.broker_accounts import broker_accounts, load_for_accounts  # hub dependencies

    config, unavailable = load_for_accounts(args.config)
    if unavailable:
        sys.stderr.write(
            f"note: secrets not available here, not needed for this: {', '.join(unavailable)}\n"
        )
    if config.mqtt.username is None:
        sys.stderr.write(
            f"note: {args.config} sets no mqtt.username; the hub's account is 'hub', "
            "so give the hub `username: hub` and its password\n"
        )
    return broker_accounts(config, sites=args.site, bridges=args.bridges)


def _gen_acl(args: argparse.Namespace) -> int:
    from vivant.broker.acl import render_acl
    from vivant.broker.passwd import write_private

    appendix = args.append.read_text(encoding="utf-8") if args.append else ""
    text = render_acl(_accounts(args), source=str(args.config), appendix=appendix)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_private(args.output, text)
        sys.stdout.write(f"wrote {args.output}\n")
    return EXIT_OK


def _gen_passwd(args: argparse.Namespace) -> int:
    from vivant.broker.accounts import check_username
    from vivant.broker.passwd import (
        Source,
        obtain_credentials,
        parse_password_file,
        render_password_file,
        write_private,
    )

    users = [a.username for a in _accounts(args)]
    extra = [check_username(user) for user in args.extra_user if user not in users]
    credentials = obtain_credentials(users + extra, args.secrets)
    previous = (
        parse_password_file(args.output.read_text(encoding="utf-8")) if args.output.exists() else {}
    )
    text = render_password_file(credentials, previous=previous, iterations=args.iterations)
    write_private(args.output, text)
    for credential in credentials:
        if credential.source is Source.GENERATED:
            sys.stdout.write(f"new password for {credential.user}: {credential.path}\n")
    sys.stdout.write(f"wrote {args.output} ({len(credentials)} accounts)\n")
    return EXIT_OK


def _gen_bridge(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from vivant.broker.bridge import BridgeSettings, render_bridge
    from vivant.broker.passwd import write_private

    central: dict[str, Any] = {"url": args.central, "username": f"bridge-{args.site}"}
    for key in ("ca_file", "cert_file", "key_file", "username"):
        if getattr(args, key) is not None:
            central[key] = str(getattr(args, key))
    if args.topic_root is not None:
        central["topic_root"] = args.topic_root
    if args.password_file is not None:
        central["password"] = {"file": str(args.password_file)}
    elif args.cert_file is None:
        central["password"] = {"env": BRIDGE_PASSWORD_ENV}
    try:
        settings = BridgeSettings.model_validate(
            {
                "site": args.site,
                "central": central,
                "reconnect_min_s": args.reconnect_min_s,
                "reconnect_max_s": args.reconnect_max_s,
            }
        )
        text = render_bridge(settings)
    except (ValidationError, ValueError) as error:
        sys.stderr.write(f"vivant mqtt gen-bridge: {_brief(error)}\n")
        return EXIT_ERROR
    write_private(args.output, text)
    sys.stdout.write(f"wrote {args.output}\n")
    return EXIT_OK


def _brief(error: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'settings'}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        )
    return str(error)
