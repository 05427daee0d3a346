"""Configuration of the outbound channels: per-site Apprise URLs, integrator webhooks, retries.

Apprise URLs and webhook URLs routinely carry a token or a password in their path or query
(a Slack webhook, a Telegram bot token, ``mailtos://user:password@…``), so both are
:data:`~vivant.config_file.Secret` values: ``{env: NAME}`` or ``{file: PATH}`` in production, never
printed in a repr or a log.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from vivant.config_file import Secret, StrictModel

_ID = re.compile(r"^[a-z0-9_-]{1,64}$")
MIN_WEBHOOK_SECRET = 16
"""Shortest HMAC secret accepted: shorter keys are guessable."""


class RetryPolicy(StrictModel):
    """Exponential backoff with jitter between attempts of one delivery."""

    max_attempts: int = Field(
        5, ge=1, le=50, description="Attempts per delivery, the first included."
    )
    base_delay_s: float = Field(5.0, gt=0, description="Wait before the second attempt.")
    multiplier: float = Field(2.0, ge=1.0, description="Growth of the wait at each attempt.")
    max_delay_s: float = Field(600.0, gt=0, description="Longest wait between two attempts.")
    jitter: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Fraction of the wait drawn at random (and removed), so retries spread out.",
    )

    def delay(self, failed_attempts: int, rand: float) -> float:
        """Wait after the *failed_attempts*-th failure; *rand* is uniform in [0, 1)."""
        raw = self.base_delay_s * self.multiplier ** (failed_attempts - 1)
        capped = min(self.max_delay_s, raw)
        return capped * (1.0 - self.jitter * rand)


class SiteChannels(StrictModel):
    """The staff channels of one site."""

    apprise_urls: list[Secret] = Field(
        default_factory=list,
        description="Apprise URLs notified together for the site's staff (Slack, Teams, ntfy, …).",
    )


class WebhookSettings(StrictModel):
    """An integrator's endpoint, receiving HMAC-signed JSON."""

    id: str = Field(description="Name used by messages and logs ([a-z0-9_-]).")
    url: Secret = Field(description="http(s) URL of the receiver; may hold a token.")
    secret: Secret = Field(description="Shared HMAC-SHA256 key, at least 16 characters.")
    timeout_s: float = Field(10.0, gt=0, le=120, description="Whole-request timeout.")

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("an id is 1-64 characters among a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _check_secrets(self) -> WebhookSettings:
        scheme = urlsplit(self.url.get_secret_value()).scheme
        if scheme not in ("http", "https"):
            raise ValueError("url must start with http:// or https://")
        if len(self.secret.get_secret_value()) < MIN_WEBHOOK_SECRET:
            raise ValueError(f"secret must be at least {MIN_WEBHOOK_SECRET} characters")
        return self


class ChannelSettings(StrictModel):
    """Everything the outbound channels and their dispatcher need."""

    sites: dict[str, SiteChannels] = Field(
        default_factory=dict, description="Staff channels per site id."
    )
    webhooks: list[WebhookSettings] = Field(
        default_factory=list, description="Integrator webhooks."
    )
    email_url: Secret | None = Field(
        default=None,
        description=(
            "Apprise mail URL of the hub's sending account (mailtos://user:password@smtp.host"
            "?from=vivant@example.org); each member's address is added as its to=."
        ),
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Retry policy.")
    queue_size: int = Field(
        1000, ge=1, description="Messages waiting to be sent; beyond it new ones are rejected."
    )
    max_active: int = Field(
        100, ge=1, description="Deliveries in progress at once (sending or waiting for a retry)."
    )
    per_target_concurrency: int = Field(
        2, ge=1, description="Attempts in flight at once towards one target."
    )
    apprise_timeout_s: float = Field(
        30.0, gt=0, description="Longest Apprise call (all services of a target)."
    )

    @model_validator(mode="after")
    def _unique_webhooks(self) -> ChannelSettings:
        ids = [hook.id for hook in self.webhooks]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate webhook ids: {', '.join(duplicates)}")
        return self
