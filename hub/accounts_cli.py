"""``vivant hub add-user``: create the first accounts from the command line.

The password is read from a file (``--password-file``, first line; ``-`` for standard input)
or asked twice at a terminal prompt; it never appears in the command line (shell history,
``ps``).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from hub.accounts import AccountError, Role, add_user
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.migrate import upgrade
from hub.main import load_config


def read_password(password_file: Path | None) -> str | None:
    """The password from the file (first line) or from two prompts; ``None`` on mismatch."""
    if password_file is not None:
        text = sys.stdin.read() if str(password_file) == "-" else password_file.read_text("utf-8")
        return text.splitlines()[0] if text else ""
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        sys.stderr.write("the two passwords differ\n")
        return None
    return first


def add_user_command(
    config_path: Path,
    email: str,
    role: str,
    *,
    name: str = "",
    language: str = "fr",
    password_file: Path | None = None,
) -> int:
    """Create an account in the hub's database (migrating it first if needed)."""
    config = load_config(config_path)
    if config is None:
        return 2
    try:
        password = read_password(password_file)
    except OSError as error:
        sys.stderr.write(f"cannot read the password file: {error}\n")
        return 2
    if password is None:
        return 2
    engine = make_engine(config.database.url)
    try:
        if config.database.migrate_on_start:
            upgrade(engine)
        with make_sessionmaker(engine).begin() as session:
            user = add_user(session, email, password, Role(role), name=name, language=language)
            sys.stdout.write(f"account {user.email} created ({user.role})\n")
    except AccountError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    finally:
        engine.dispose()
    return 0
