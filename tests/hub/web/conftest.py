"""Web page fixtures: the real browser of :mod:`tests.support.browser`."""

from tests.support.browser import browser, page

__all__ = ["browser", "page"]
