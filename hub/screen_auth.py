"""Lobby screen access: a signed, read-only token scoped to one screen of one site.

A kiosk cannot log in, so its URL carries the credential (``/screens/<site>/<screen>?token=…``).
The token is signed with the hub's secret key for :attr:`hub.signing.Purpose.SCREEN` (a token made
for an RSVP link or a privacy page is refused here, and the other way round) and names its site,
its screen and the screen's ``token_version``. Nothing has to be generated, stored or typed in
the YAML: ``vivant hub screen-url`` prints the URL. A leaked URL is revoked by raising that
screen's ``token_version`` in the configuration, which leaves every other screen and every member
link valid. The token never expires: a TV in a lobby must not go blank on a Monday morning.
"""

from __future__ import annotations

from urllib.parse import quote

from hub.config import ScreenSettings, SiteSettings
from hub.signing import InvalidToken, Purpose, Signer

# itsdangerous always checks an age; a century is "never" for a screen.
NO_EXPIRY_S = 100 * 365 * 24 * 3600


def screen_token(signer: Signer, site: SiteSettings, screen: ScreenSettings) -> str:
    """A token for *screen*; every token made for it stays valid until ``token_version`` changes."""
    return signer.dumps(
        Purpose.SCREEN, {"site": site.id, "screen": screen.id, "v": screen.token_version}
    )


def screen_url(base_url: str, signer: Signer, site: SiteSettings, screen: ScreenSettings) -> str:
    """The kiosk URL of *screen*: its page with its token."""
    token = quote(screen_token(signer, site, screen), safe="")
    return f"{base_url.rstrip('/')}/screens/{site.id}/{screen.id}?token={token}"


def token_allows(signer: Signer, token: str, site: SiteSettings, screen: ScreenSettings) -> bool:
    """Whether *token* opens exactly this screen (right key, purpose, site, screen, version)."""
    try:
        data = signer.loads(Purpose.SCREEN, token, max_age_s=NO_EXPIRY_S)
    except InvalidToken:
        return False
    return (
        data.get("site") == site.id
        and data.get("screen") == screen.id
        and data.get("v") == screen.token_version
    )
