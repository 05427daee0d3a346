"""Mosquitto password file (``password_file``) with PBKDF2-SHA512 hashes, and the secrets behind it.

Mosquitto 2 stores ``user:$7$<iterations>$<salt>$<hash>``: PBKDF2-HMAC-SHA512 over the password
with a 12-byte random salt, salt and 64-byte hash in standard base64 (``mosquitto_passwd``'s
default, read by the broker whatever the iteration count). Mosquitto's own default is 101
iterations; ours is higher (:data:`DEFAULT_ITERATIONS`) for passwords an operator chose, at a cost
of a few milliseconds per connection.

Each account's password comes, in this order, from the environment
(``VIVANT_MQTT_PASSWORD_<USER>``, upper case, ``-`` and ``.`` as ``_``), from ``<secrets>/<user>``,
or is generated once (32 URL-safe characters) into ``<secrets>/<user>`` with mode 0600, so that
running the command again keeps every password and adds only the new accounts'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

DEFAULT_ITERATIONS = 10_000
SALT_BYTES = 12
MIN_PASSWORD_LENGTH = 12
ENV_PREFIX = "VIVANT_MQTT_PASSWORD_"
_HASH_RE = re.compile(r"^\$7\$(\d{1,9})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


class PasswordError(ValueError):
    """A password or a password file cannot be used."""


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes = b"") -> str:
    """Mosquitto's ``$7$`` hash of *password* (a fresh random salt unless one is given)."""
    if iterations < 1:
        raise PasswordError("iterations must be at least 1")
    salt = salt or secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether *password* matches a ``$7$`` hash (any other format: no)."""
    match = _HASH_RE.fullmatch(hashed)
    if match is None:
        return False
    iterations, salt, digest = match.groups()
    try:
        expected = base64.b64decode(digest, validate=True)
        computed = hashlib.pbkdf2_hmac(
            "sha512",
            password.encode("utf-8"),
            base64.b64decode(salt, validate=True),
            int(iterations),
        )
    except ValueError:
        return False
    return hmac.compare_digest(expected, computed)


def parse_password_file(text: str) -> dict[str, str]:
    """``{user: hash}`` of a Mosquitto password file (blank lines and comments skipped)."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise PasswordError(f"line {number}: expected user:hash")
        entries[user] = hashed
    return entries


def check_password(user: str, password: str) -> str:
    """Return *password* if Mosquitto can take it and it is not trivially short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(
            f"the password of {user!r} has {len(password)} characters; use at least "
            f"{MIN_PASSWORD_LENGTH} (or delete it and let gen-passwd generate one)"
        )
    if set(password) & {"\n", "\r", "\0"}:
        raise PasswordError(f"the password of {user!r} contains a line break or NUL")
    return password


def env_name(user: str) -> str:
    """Environment variable that may hold *user*'s password."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", user.upper())


class Source(StrEnum):
    """Where a password came from."""

    ENV = "environment"
    FILE = "secrets file"
    GENERATED = "generated"


@dataclass(frozen=True, slots=True)
class Credential:
    """A user's password and where it came from (the password never appears in a repr)."""

    user: str
    password: str
    source: Source
    path: Path | None = None

    def __repr__(self) -> str:
        return f"Credential(user={self.user!r}, source={self.source.value!r}, path={self.path})"


def _write_new_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")


def obtain_credentials(
    users: Iterable[str], secrets_dir: Path, environ: Mapping[str, str] | None = None
) -> list[Credential]:
    """Each user's password from the environment, the secrets directory, or newly generated."""
    environ = os.environ if environ is None else environ
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if secrets_dir.stat().st_mode & 0o077:
        raise PasswordError(f"{secrets_dir} is readable by others: chmod 700 {secrets_dir}")
    credentials = []
    for user in users:
        path = secrets_dir / user
        if env_name(user) in environ:
            password = check_password(user, environ[env_name(user)])
            credentials.append(Credential(user, password, Source.ENV))
        elif path.exists():
            if path.stat().st_mode & 0o077:
                raise PasswordError(f"{path} is readable by others: chmod 600 {path}")
            password = check_password(user, path.read_text(encoding="utf-8").strip())
            credentials.append(Credential(user, password, Source.FILE, path))
        else:
            password = secrets.token_urlsafe(24)
            _write_new_secret(path, password)
            credentials.append(Credential(user, password, Source.GENERATED, path))
    return credentials


def render_password_file(
    credentials: Iterable[Credential],
    *,
    previous: Mapping[str, str] | None = None,
    iterations: int = DEFAULT_ITERATIONS,
) -> str:
    """Password file text; a user whose *previous* hash still matches keeps it (stable output)."""
    previous = previous or {}
    lines = []
    for credential in credentials:
        old = previous.get(credential.user)
        if old is not None and verify_password(credential.password, old):
            hashed = old
        else:
            hashed = hash_password(credential.password, iterations=iterations)
        lines.append(f"{credential.user}:{hashed}")
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Replace *path* atomically with *text*, readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
