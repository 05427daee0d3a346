"""Outbound channels: how a message written upstream leaves the hub.

Shaped like Frigate's communicators and dispatcher: each :class:`~hub.channels.base.Channel`
(Apprise, signed webhooks) makes one attempt and reports the outcome; the
:class:`~hub.channels.dispatcher.Dispatcher` queues, retries with backoff and records every step.
No business rule lives here: who is told what, when and in which language is decided before a
message reaches a channel.
"""

from hub.channels.apprise_channel import AppriseChannel
from hub.channels.base import (
    AppriseTarget,
    Channel,
    DeliveryResult,
    OutboundMessage,
    RecipientKind,
    ScreenTarget,
    SiteTarget,
    Target,
    WebhookTarget,
)
from hub.channels.dispatcher import (
    DeliveryEvent,
    DeliveryState,
    DeliveryStore,
    Dispatcher,
    MemoryDeliveryStore,
)
from hub.channels.screen import ScreenChannel
from hub.channels.settings import ChannelSettings, RetryPolicy, SiteChannels, WebhookSettings
from hub.channels.webhook import WebhookChannel, verify_signature

__all__ = [
    "AppriseChannel",
    "AppriseTarget",
    "Channel",
    "ChannelSettings",
    "DeliveryEvent",
    "DeliveryResult",
    "DeliveryState",
    "DeliveryStore",
    "Dispatcher",
    "MemoryDeliveryStore",
    "OutboundMessage",
    "RecipientKind",
    "RetryPolicy",
    "ScreenChannel",
    "ScreenTarget",
    "SiteChannels",
    "SiteTarget",
    "Target",
    "WebhookChannel",
    "WebhookSettings",
    "WebhookTarget",
    "verify_signature",
]
