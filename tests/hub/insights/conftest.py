"""Insights test fixtures: the local SMTP receiver of the channel tests (the weekly digest)."""

from tests.hub.channels.conftest import smtp_receiver

__all__ = ["smtp_receiver"]
