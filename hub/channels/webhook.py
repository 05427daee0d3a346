"""HMAC-signed JSON webhooks for integrators (a CRM, a booking tool, a home-made bot).

Each POST carries two headers::

    X-Vivant-Timestamp: 1764171600
    X-Vivant-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

Signing the timestamp with the body lets a receiver refuse a replayed request: it recomputes the
HMAC over the *raw* bytes it received (not re-serialised JSON), compares in constant time, and
refuses a timestamp more than :data:`REPLAY_WINDOW_S` seconds away from its own clock, in either
direction. :func:`verify_signature` does all three. ``X-Vivant-Delivery`` holds the message id:
delivery is at least once (a retry after a lost response sends the same id), so receivers should
drop ids they have already seen during the replay window.

Retries are the dispatcher's job; this module only says which failures deserve one: connection
errors, timeouts, 5xx, 408 (timeout) and 429 (rate limited, honouring ``Retry-After``). Any other
4xx means the request itself is wrong (bad secret, gone endpoint) and repeating it cannot help;
3xx is not followed (a moved endpoint is a configuration change, not something to chase).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import httpx

from hub.channels.base import (
    REDACTOR,
    DeliveryResult,
    OutboundMessage,
    WebhookTarget,
    install_redactor,
    secret_parts,
)
from hub.channels.settings import WebhookSettings

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Vivant-Timestamp"
SIGNATURE_HEADER = "X-Vivant-Signature"
DELIVERY_HEADER = "X-Vivant-Delivery"
REPLAY_WINDOW_S = 300
"""A signed request older (or newer) than this, by the receiver's clock, is refused."""
RETRYABLE_STATUS = frozenset({408, 429})
"""4xx statuses worth a retry; every 5xx is too."""
_MAX_RETRY_AFTER_S = 3600.0


def _as_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Vivant-Signature`` value for *body* sent at *timestamp* (Unix seconds)."""
    mac = hmac.new(_as_bytes(secret), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str | bytes,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float | None = None,
    window_s: float = REPLAY_WINDOW_S,
) -> bool:
    """Whether a received webhook is authentic and fresh (for integrators' receivers)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > window_s:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature.strip())


def payload(message: OutboundMessage, sent_at: float) -> bytes:
    """The JSON body of a webhook: the message without its target, UTF-8."""
    document = {
        "id": message.id,
        "recipient_kind": message.recipient_kind.value,
        "language": message.language,
        "subject": message.subject,
        "body": message.body,
        "markdown": message.markdown,
        "metadata": dict(message.metadata),
        "sent_at": datetime.fromtimestamp(sent_at, UTC).isoformat(),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        return None  # an HTTP date: rare from webhooks; the backoff applies


def classify(response: httpx.Response) -> DeliveryResult:
    """Map an HTTP response to an outcome (see the module docstring for the rules)."""
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult.sent(f"HTTP {status}")
    if status >= 500 or status in RETRYABLE_STATUS:
        return DeliveryResult.failed(f"HTTP {status}", retry_after_s=_retry_after(response))
    return DeliveryResult.failed(f"HTTP {status}", retryable=False)


class WebhookChannel:
    """POSTs signed JSON to the configured integrator webhooks."""

    name = "webhook"

    def __init__(
        self,
        targets: Iterable[WebhookSettings],
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._targets = {target.id: target for target in targets}
        install_redactor()  # httpx logs each request's URL at INFO
        for target in self._targets.values():
            REDACTOR.add(secret_parts(target.url.get_secret_value()))
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._clock = clock

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Sign and POST *message* once."""
        target = message.target
        if not isinstance(target, WebhookTarget):
            raise TypeError(f"the webhook channel cannot send to {target.key}")
        settings = self._targets.get(target.target_id)
        if settings is None:
            return DeliveryResult.failed(f"unknown webhook {target.target_id}", retryable=False)
        now = self._clock()
        timestamp = int(now)
        body = payload(message, now)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(settings.secret.get_secret_value(), timestamp, body),
            DELIVERY_HEADER: message.id,
        }
        try:
            response = await self._client.post(
                settings.url.get_secret_value(),
                content=body,
                headers=headers,
                timeout=settings.timeout_s,
            )
        except httpx.TimeoutException:
            return DeliveryResult.failed("timeout")
        except httpx.TransportError as error:
            # The exception text may quote the URL (and its token): only its kind is kept.
            return DeliveryResult.failed(f"transport error ({type(error).__name__})")
        return classify(response)

    async def aclose(self) -> None:
        """Close the HTTP client if this channel created it."""
        if self._own_client:
            await self._client.aclose()
