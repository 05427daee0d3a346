"""What every outbound channel shares: the message, its target, and the outcome of one attempt.

Channels are pipes, not deciders. Which member gets which nudge, in which words, at which time is
decided upstream (rules, guardrails, i18n); a channel receives an :class:`OutboundMessage` already
written in the recipient's language and only reports whether this one attempt reached the other
side, and whether trying again could help. Retrying, backoff and the delivery record belong to the
:class:`~hub.channels.dispatcher.Dispatcher`, so every channel gets them the same way.

Targets never carry a secret in a form that prints: an Apprise URL (which often holds a token or a
password) is a ``SecretStr``, and every target has a :attr:`key` that is safe to log and to use as
a concurrency bucket. Libraries print URLs at DEBUG or INFO (Apprise, urllib3, httpx), so every
channel registers the secret parts of its URLs with :data:`REDACTOR`, a filter on those loggers.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

Language = Literal["fr", "en"]


class RecipientKind(StrEnum):
    """Who a message is for; channels do not branch on it, stores and reports do."""

    MEMBER = "member"
    STAFF = "staff"
    INTEGRATOR = "integrator"
    SCREEN = "screen"


@dataclass(frozen=True, slots=True)
class AppriseTarget:
    """One Apprise URL (a member's own e-mail, Telegram chat, …), held as a secret."""

    channel: ClassVar[str] = "apprise"
    url: SecretStr

    @property
    def key(self) -> str:
        """A loggable name: a short hash of the URL, never the URL itself."""
        digest = hashlib.sha256(self.url.get_secret_value().encode()).hexdigest()
        return f"apprise:{digest[:12]}"


@dataclass(frozen=True, slots=True)
class SiteTarget:
    """The staff channels configured for a site (its Slack, Teams, ntfy, … Apprise URLs)."""

    channel: ClassVar[str] = "apprise"
    site_id: str

    @property
    def key(self) -> str:
        """A loggable name: the site id."""
        return f"site:{self.site_id}"


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """A configured integrator webhook, by its id (its URL and secret live in the settings)."""

    channel: ClassVar[str] = "webhook"
    target_id: str

    @property
    def key(self) -> str:
        """A loggable name: the webhook id."""
        return f"webhook:{self.target_id}"


@dataclass(frozen=True, slots=True)
class ScreenTarget:
    """The lobby screens of a site, announcing one moment (no member data)."""

    channel: ClassVar[str] = "screen"
    site_id: str
    moment_id: int

    @property
    def key(self) -> str:
        """A loggable name: the site id."""
        return f"screen:{self.site_id}"


Target = AppriseTarget | SiteTarget | WebhookTarget | ScreenTarget


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message ready to leave the hub, already in the recipient's language.

    *id* is unique per delivery and is sent along (``X-Vivant-Delivery``) so receivers can drop
    duplicates: delivery is at least once. *body* is plain text; *markdown*, when given, is the
    same text with formatting, for channels that render it. *metadata* (nudge id, rule, variant)
    travels untouched to the store and to webhooks, for measurement.
    """

    id: str
    recipient_kind: RecipientKind
    language: Language
    subject: str
    body: str
    target: Target
    markdown: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", _frozen(self.metadata))


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one attempt: *ok*, or a failure that a retry may or may not fix.

    *detail* is for people and logs, so it never holds a secret. *retry_after_s* is a delay the
    receiver asked for (HTTP ``Retry-After``); the dispatcher waits at least that long.
    """

    ok: bool
    retryable: bool = False
    detail: str = ""
    retry_after_s: float | None = None

    @classmethod
    def sent(cls, detail: str = "") -> DeliveryResult:
        """The receiver accepted the message."""
        return cls(ok=True, detail=detail)

    @classmethod
    def failed(
        cls, detail: str, *, retryable: bool = True, retry_after_s: float | None = None
    ) -> DeliveryResult:
        """The attempt failed; *retryable* says whether trying again may help."""
        return cls(ok=False, retryable=retryable, detail=detail, retry_after_s=retry_after_s)


@runtime_checkable
class Channel(Protocol):
    """A way out of the hub (Apprise, webhooks, …); one attempt per call, no retries inside."""

    name: str

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Try once to deliver *message*; report the outcome instead of raising."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads."""
        ...


REDACTED = "***"
_MIN_SECRET = 6
"""Parts of a URL shorter than this are not treated as secrets (``/api``, ``to``…)."""
REDACTED_LOGGERS = ("apprise", "urllib3.connectionpool", "httpx")
"""Loggers that print request URLs (with their tokens); the redactor filters them."""


def secret_parts(url: str) -> set[str]:
    """The pieces of an Apprise URL that may be secret: the URL, credentials, path, query."""
    parts = {url}
    split = urlsplit(url)
    netloc = split.netloc.rsplit("@", 1)
    if len(netloc) == 2:
        parts.add(netloc[0])
        parts.update(netloc[0].split(":", 1))
    host = netloc[-1]
    if "." not in host:  # a token in the host place (tgram://123:ABC/…), not a DNS name
        parts.add(host)
        parts.update(host.split(":"))
    if split.path not in ("", "/"):
        parts.add(split.path)
        parts.update(split.path.split("/"))
    if split.query:
        parts.add(split.query)
        parts.update(value for _, value in parse_qsl(split.query))
    return {part for part in parts if len(part) >= _MIN_SECRET}


class SecretRedactor(logging.Filter):
    """Rewrites log records that contain a registered secret; keeps the record otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secrets (longest first, so a URL is replaced before its parts)."""
        with self._lock:
            merged = set(self._secrets) | set(secrets)
            self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace secrets in the rendered message; never drops a record."""
        secrets = self._secrets
        if not secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in secrets:
            if secret in redacted:
                redacted = redacted.replace(secret, REDACTED)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


REDACTOR = SecretRedactor()
"""The process-wide redactor, installed on :data:`REDACTED_LOGGERS` once."""


def install_redactor() -> None:
    """Put :data:`REDACTOR` on :data:`REDACTED_LOGGERS` (idempotent)."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)
