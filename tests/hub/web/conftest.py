"""Web test fixtures: the local SMTP receiver of the channel tests (for the e-mailed links)."""

from tests.hub.channels.conftest import smtp_receiver

__all__ = ["smtp_receiver"]
