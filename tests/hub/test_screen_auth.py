"""A screen's token opens that screen only: right key, purpose, site, screen and version."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hub.config import ScreenSettings
from hub.screen_auth import screen_token, screen_url, token_allows
from hub.signing import Purpose, Signer
from tests.support.hub_server import hub_config

SITE = hub_config("mqtt://127.0.0.1:1883", "vivant/v1", "sqlite://").sites[0]
HALL = ScreenSettings(id="hall")
SIGNER = Signer("screen-auth-test-key-of-32-chars")


def test_a_token_opens_its_screen_and_no_other() -> None:
    token = screen_token(SIGNER, SITE, HALL)
    assert token_allows(SIGNER, token, SITE, HALL)
    assert not token_allows(SIGNER, token, SITE, ScreenSettings(id="cafe"))
    other_site = SITE.model_copy(update={"id": "rooftop-viry"})
    assert not token_allows(SIGNER, token, other_site, HALL)
    assert not token_allows(Signer("another-key-for-another-hub-xxxx"), token, SITE, HALL)
    assert not token_allows(SIGNER, token + "x", SITE, HALL)
    assert not token_allows(SIGNER, "", SITE, HALL)


def test_a_token_made_for_another_purpose_is_refused() -> None:
    data = {"site": SITE.id, "screen": HALL.id, "v": 1}
    assert token_allows(SIGNER, SIGNER.dumps(Purpose.SCREEN, data), SITE, HALL)
    assert not token_allows(SIGNER, SIGNER.dumps(Purpose.RSVP, data), SITE, HALL)
    assert not token_allows(SIGNER, SIGNER.dumps(Purpose.PRIVACY, data), SITE, HALL)


def test_raising_the_version_revokes_the_old_url() -> None:
    old = screen_token(SIGNER, SITE, HALL)
    revoked = HALL.model_copy(update={"token_version": 2})
    assert not token_allows(SIGNER, old, SITE, revoked)
    assert token_allows(SIGNER, screen_token(SIGNER, SITE, revoked), SITE, revoked)


def test_kiosk_url() -> None:
    url = urlsplit(screen_url("https://vivant.example.org/", SIGNER, SITE, HALL))
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "vivant.example.org",
        "/screens/ekilibre/hall",
    )
    assert token_allows(SIGNER, parse_qs(url.query)["token"][0], SITE, HALL)
