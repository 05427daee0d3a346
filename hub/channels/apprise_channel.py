"""Messages through Apprise: e-mail, Slack, Teams, Telegram, SMS gateways, ntfy, Discord, ….

Apprise is synchronous (``requests``, ``smtplib``), so each notify runs in a worker thread and the
event loop never waits on a slow SMTP server. One :class:`apprise.Apprise` object is kept per
member URL and per site set, built on first use, so a URL is parsed once.

Apprise URLs are secrets (tokens in paths, passwords in the user part), and Apprise and urllib3
log them at DEBUG ("JSON POST URL: http://…/token"); Apprise's own ``secure_logging`` hides
passwords but not paths. Every URL this channel knows is therefore registered with
:class:`~hub.channels.base.SecretRedactor`, a filter on those loggers that rewrites any record
holding a known secret before a handler sees it. Vivant's own logs name targets by their ``key``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import warnings
from collections.abc import Mapping, Sequence

import apprise
from apprise import AppriseResultStatus
from pydantic import SecretStr

from hub.channels.base import (
    REDACTOR,
    AppriseTarget,
    DeliveryResult,
    OutboundMessage,
    SiteTarget,
    Target,
    install_redactor,
    secret_parts,
)

log = logging.getLogger(__name__)

if sys.version_info < (3, 13):
    # Apprise's e-mail plugin imports ``imghdr`` (for pgpy), deprecated in 3.11-3.12; under
    # ``-W error`` that import would fail inside Apprise's plugin loader. Importing it once here,
    # silenced, keeps it cached. Remove when the hub runs on Python 3.13 (the shim then applies).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        importlib.import_module("imghdr")


class AppriseChannel:
    """Sends through Apprise: a member's own URL, or every URL of a site's staff set."""

    name = "apprise"

    def __init__(
        self,
        site_urls: Mapping[str, Sequence[SecretStr]] | None = None,
        *,
        timeout_s: float = 30.0,
        app_id: str = "Vivant",
    ) -> None:
        install_redactor()
        self._site_urls = {site: list(urls) for site, urls in (site_urls or {}).items()}
        for urls in self._site_urls.values():
            for url in urls:
                REDACTOR.add(secret_parts(url.get_secret_value()))
        self._timeout_s = timeout_s
        self._app_id = app_id
        self._objects: dict[str, apprise.Apprise | None] = {}

    def _urls(self, target: Target) -> list[SecretStr]:
        if isinstance(target, AppriseTarget):
            return [target.url]
        if isinstance(target, SiteTarget):
            return self._site_urls.get(target.site_id, [])
        raise TypeError(f"the Apprise channel cannot send to {target.key}")

    def _apprise_for(self, target: Target) -> apprise.Apprise | None:
        """The Apprise object of *target*, built once; ``None`` when no URL is usable."""
        if target.key in self._objects:
            return self._objects[target.key]
        urls = self._urls(target)
        asset = apprise.AppriseAsset(app_id=self._app_id, storage_mode="memory")
        obj = apprise.Apprise(asset=asset)
        loaded = 0
        for url in urls:
            REDACTOR.add(secret_parts(url.get_secret_value()))
            if obj.add(url.get_secret_value()):
                loaded += 1
            else:
                log.warning("%s: an Apprise URL is not valid; check its scheme", target.key)
        result = obj if loaded else None
        self._objects[target.key] = result
        return result

    def _notify(self, obj: apprise.Apprise, message: OutboundMessage) -> DeliveryResult:
        fmt = apprise.NotifyFormat.MARKDOWN if message.markdown else apprise.NotifyFormat.TEXT
        with obj.notify(
            body=message.markdown or message.body,
            title=message.subject,
            body_format=fmt,
            timeout=self._timeout_s,
        ) as result:
            if result.status == AppriseResultStatus.SUCCESS:
                return DeliveryResult.sent(f"{len(result)} service(s)")
            services = ", ".join(f"{r.name}: {r.status.name.lower()}" for r in result)
            if result.status == AppriseResultStatus.NOMATCH:
                return DeliveryResult.failed("no Apprise service to notify", retryable=False)
            return DeliveryResult.failed(f"{result.status.name.lower()} ({services})")

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Notify the target's Apprise services in a worker thread."""
        obj = self._apprise_for(message.target)
        if obj is None:
            return DeliveryResult.failed(
                f"no usable Apprise URL for {message.target.key}", retryable=False
            )
        try:
            return await asyncio.to_thread(self._notify, obj, message)
        except Exception as error:  # an Apprise plugin bug must not kill the dispatcher
            log.warning("%s: Apprise raised %s", message.target.key, type(error).__name__)
            return DeliveryResult.failed(f"Apprise raised {type(error).__name__}")

    async def aclose(self) -> None:
        """Forget the Apprise objects (they hold no open connection between calls)."""
        self._objects.clear()
