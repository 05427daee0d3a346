"""Secrets never reach the logs: a filter that blanks them in every record it sees.

What it blanks, wherever it appears in a message, its arguments or an exception's text:

- the values of the configuration's secrets (MQTT password, time-series token, e-mail URL,
  calendar feed URLs, the hub's secret key), and the password, path and query of those that are
  URLs (an HTTP client may log a feed's URL rewritten);
- the token in member links (``/rsvp/<token>``, ``/privacy/<token>/…``) and any ``token=``,
  ``key=``, ``secret=``, ``password=`` or ``access_token=`` query parameter (screen URLs);
- the password of any ``scheme://user:password@host`` URL, ``Bearer`` credentials and API
  tokens (``vvt_…``), and anything shaped like a signed token (``payload.time.signature``).

:func:`install` puts it on uvicorn's access and error loggers and on the handlers of the root
logger (``vivant hub`` does so before serving); the secrets-in-logs test uses the same function.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

REDACTED = "[redacted]"
MIN_SECRET_LEN = 6
"""Shorter configured values are not blanked (they would blank ordinary words)."""

PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(/rsvp/)[^/?#\s\"']+"), rf"\1{REDACTED}"),
    (re.compile(r"(/privacy/)(?!request\b)[^/?#\s\"']+"), rf"\1{REDACTED}"),
    (
        re.compile(
            r"(?i)([?&;](?:token|key|secret|password|passwd|api_key|apikey|access_token)=)"
            r"[^&#\s\"']*"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@\s\"']*:)[^@/\s\"']+@"), rf"\1{REDACTED}@"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), rf"\1{REDACTED}"),
    (re.compile(r"vvt_[A-Za-z0-9_-]+"), f"vvt_{REDACTED}"),
    (
        re.compile(r"(?<![\w.-])\.?[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,12}\.[A-Za-z0-9_-]{20,}"),
        REDACTED,
    ),
]


def secret_values(config: BaseModel) -> list[str]:
    """Every secret of *config* (nested models and lists included), with its URL parts."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.extend(_with_url_parts(value.get_secret_value()))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(config)
    return found


def _with_url_parts(secret: str) -> list[str]:
    values = [secret]
    parts = urlsplit(secret)
    if parts.scheme and parts.netloc:
        values += [parts.password or "", parts.path, parts.query]
    return [v for v in values if len(v) >= MIN_SECRET_LEN]


class RedactSecrets(logging.Filter):
    """Blanks secrets in log records (see the module docstring); never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so that a URL is blanked whole before its parts.
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len)[::-1]

    def redact(self, text: str) -> str:
        """*text* with every secret blanked."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def _argument(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        text = str(value)
        blanked = self.redact(text)
        return value if blanked == text else blanked

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        if isinstance(record.args, tuple):
            # Kept a tuple of the same length: uvicorn's access formatter unpacks it.
            record.args = tuple(self._argument(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._argument(v) for k, v in record.args.items()}
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "httpx", "httpcore")


def install(secrets: Iterable[str] = ()) -> Callable[[], None]:
    """Put a :class:`RedactSecrets` on the loggers and handlers that write the hub's logs;
    returns a function that takes it off again."""
    redactor = RedactSecrets(secrets)
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in LOGGERS]
    for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error"):
        targets += logging.getLogger(name).handlers
    for target in targets:
        target.addFilter(redactor)

    def uninstall() -> None:
        for target in targets:
            target.removeFilter(redactor)

    return uninstall
