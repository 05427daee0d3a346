"""What every outbound channel shares: the message, its target, and the outcome of one attempt.

Channels are pipes, not deciders. Which member gets which nudge, in which words, at which time is
decided upstream (rules, guardrails, i18n); a channel receives an :class:`OutboundMessage` already
written in the recipient's language and only reports whether this one attempt reached the other
side, and whether trying again could help. Retrying, backoff and the delivery record belong to the
:class:`~hub.channels.dispatcher.Dispatcher`, so every channel gets them the same way.

Targets never carry a secret in a form that prints: an Apprise URL (which often holds a token or a
password) is a ``SecretStr``, and every target has a :attr:`key` that is safe to log and to use as
a concurrency bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Literal, Protocol, runtime_checkable

from pydantic import SecretStr

Language = Literal["fr", "en"]


class RecipientKind(StrEnum):
    """Who a message is for; channels do not branch on it, stores and reports do."""

    MEMBER = "member"
    STAFF = "staff"
    INTEGRATOR = "integrator"


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


Target = AppriseTarget | SiteTarget | WebhookTarget


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
