"""What a lobby screen is sent: the greeting card (consent, QR code to RSVP, who is going) and
moments labelled in the screen's language and the site's time zone."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from hub.config import Language
from hub.greeting import Greeting
from hub.moments import MomentView
from hub.qr import qr_code, qr_modules
from hub.rsvp import SCREEN_LINK_MAX_AGE_S, rsvp_url
from hub.screen_view import greeting_code, greeting_view, moment_view
from hub.signing import SEALED_LENGTH, InvalidToken, Purpose, Signer
from tests.support.hub_server import hub_config

SITE = hub_config("mqtt://127.0.0.1:1883", "vivant/v1", "sqlite://", timezone="Europe/Paris").sites[
    0
]
NOW = datetime(2026, 11, 26, 8, 50, tzinfo=UTC)  # 09:50 in Paris
SIGNER = Signer("screen-view-test-key-of-32-chars")


def moment(moment_id: int, starts_in_min: float, title: str = "Petit-déjeuner") -> MomentView:
    start = NOW + timedelta(minutes=starts_in_min)
    return MomentView(moment_id, title, "breakfast", "cuisine", "Cuisine", start,
                      start + timedelta(hours=1))  # fmt: skip


def greeting(
    *moments: MomentView, name: str | None = "Camille", member: int | None = 7
) -> Greeting:
    return Greeting(site_id=SITE.id, at=NOW, first_name=name, moments=list(moments),
                    member_id=member)  # fmt: skip


def test_qr_code_is_the_members_rsvp_link_for_the_first_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    shown = greeting(moment(3, -10), moment(4, 120))
    card = greeting_view(shown, SITE, Language.FR, base_url="https://vivant.example.org/",
                         signer=SIGNER)  # fmt: skip
    expected = rsvp_url(SIGNER, "https://vivant.example.org", 7, 3, on_screen=True)
    assert card["qr"] == {"label": "Scannez pour vous inscrire", "moment": "Petit-déjeuner"}
    code = greeting_code(shown, base_url="https://vivant.example.org/", signer=SIGNER)
    size, modules = qr_modules(expected)
    assert code == {"id": shown.id, "size": size, "modules": modules}  # the card's own code
    token = expected.removeprefix("https://vivant.example.org/rsvp/")
    # Sealed for screens: the member and the moment, short-lived at the RSVP page.
    assert SIGNER.unseal(Purpose.SCREEN_RSVP, token, max_age_s=SCREEN_LINK_MAX_AGE_S) == (7, 3)
    with pytest.raises(InvalidToken):
        SIGNER.loads(Purpose.RSVP, token, max_age_s=10**10)  # not a member's 7-day link
    # Short enough for a small code (large modules on the TV): version 5 at level M here.
    assert len(expected) == len("https://vivant.example.org/rsvp/") + SEALED_LENGTH
    assert qr_code(expected).version == 5


def test_no_qr_without_a_moment_a_member_or_a_key() -> None:
    def qr(card: Greeting, signer: Signer | None = SIGNER) -> object:
        caption = greeting_view(card, SITE, Language.FR, base_url="http://hub", signer=signer)
        code = greeting_code(card, base_url="http://hub", signer=signer)
        assert (caption["qr"] is None) == (code is None)  # a caption, and then its code
        return code

    assert qr(greeting()) is None
    assert qr(greeting(moment(3, 5), member=None)) is None
    assert qr(greeting(moment(3, 5)), signer=None) is None
    # A member who did not allow their name on screens gets no QR code either: anyone in the
    # hall could photograph it.
    assert qr(greeting(moment(3, 5), name=None)) is None
    assert qr(greeting(moment(3, 5))) is not None


def test_without_consent_the_card_names_nobody() -> None:
    card = greeting_view(greeting(moment(3, 5), name=None), SITE, Language.FR,
                         base_url="http://hub", signer=SIGNER)  # fmt: skip
    assert card["title"] == "Bienvenue !"
    assert "Camille" not in str(card)


def test_going_is_shown_only_when_a_source_is_given() -> None:
    calls: list[int] = []

    def going(moment_id: int) -> tuple[int, list[str]]:
        calls.append(moment_id)
        return (3, ["Inès", "Yanis"]) if moment_id == 3 else (1, [])

    card = greeting_view(greeting(moment(3, 5), moment(4, 90)), SITE, Language.FR,
                         base_url="http://hub", signer=SIGNER, going=going)  # fmt: skip
    first, second = card["moments"]
    assert (first["going_count"], first["going_names"], first["going_label"]) == (
        3, ["Inès", "Yanis"], "3 inscrits",
    )  # fmt: skip
    assert (second["going_count"], second["going_label"]) == (1, "1 inscrit")
    assert calls == [3, 4]
    english = greeting_view(greeting(moment(3, 5)), SITE, Language.EN,
                            base_url="http://hub", signer=None, going=going)  # fmt: skip
    assert english["moments"][0]["going_label"] == "3 going"
    plain = greeting_view(greeting(moment(3, 5)), SITE, Language.FR, base_url="h", signer=None)
    assert not any(key.startswith("going") for key in plain["moments"][0])


def test_moment_labels_in_the_site_time_zone() -> None:
    soon = moment_view(moment(1, 25), SITE, Language.FR, NOW)
    assert (soon["when"], soon["status"], soon["day"], soon["starts"]) == (
        "Dans 25 min", "soon", None, "10:15",
    )  # fmt: skip
    on = moment_view(moment(1, -5), SITE, Language.FR, NOW)
    assert (on["when"], on["status"]) == ("En cours", "now")
    tomorrow = moment_view(moment(1, 24 * 60), SITE, Language.FR, NOW)
    assert (tomorrow["day"], tomorrow["starts"]) == ("Demain", "09:50")
    later = moment_view(moment(1, 3 * 24 * 60), SITE, Language.FR, NOW)
    assert later["day"] == "dimanche 29 novembre"
    assert moment_view(moment(1, 3 * 24 * 60), SITE, Language.EN, NOW)["day"] == (
        "Sunday 29 November"
    )
