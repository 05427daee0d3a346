"""Web test fixtures: the real browser of :mod:`tests.support.browser`, and the local SMTP
receiver of the channel tests (for the e-mailed links)."""

from tests.hub.channels.conftest import smtp_receiver
from tests.support.browser import browser, page

__all__ = ["browser", "page", "smtp_receiver"]
