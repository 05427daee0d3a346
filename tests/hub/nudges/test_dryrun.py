"""The dry run reads like a note from a colleague: who, what, when, or why not."""

from __future__ import annotations

from hub.config import Language, RoomKind
from hub.nudges.dryrun import REASON_LABELS, describe, explain, explain_both
from hub.nudges.guardrails import Decision, Holdout, ReasonCode, Send, decide
from hub.nudges.rules import Channel, NudgeKind
from tests.hub.nudges.helpers import PARIS, Clock, member, moment, rules, trigger

K = NudgeKind


def day_of_decisions() -> list[tuple[str, Decision]]:
    """A few decisions around a 14:00 workshop, in dry-run mode."""
    clock = Clock()
    config = rules(dry_run=True)
    workshop = moment(clock.at(14, 0), title="Atelier vélo", room="Rooftop")
    soon = trigger(K.MOMENT_SOON, clock.at(13, 50), moment=workshop)
    camille = member("c", "Camille")
    lina = member("l", "Lina", room_kind=RoomKind.MEETING)
    noor = member("n", "Noor", kinds=frozenset())
    late = trigger(K.WELCOME_FIRST_DAY, clock.at(19, 50))
    return [
        ("Camille", decide(soon, camille, config, clock.at(13, 50))),
        ("Lina", decide(soon, lina, config, clock.now)),
        ("Noor", decide(soon, noor, config, clock.now)),
        ("Sam", decide(late, member("s", "Sam", first_visit=True), config, clock.at(19, 50))),
    ]


def test_french_dry_run_says_who_what_when_and_why_not() -> None:
    text = explain(day_of_decisions(), PARIS)
    lines = text.splitlines()
    assert lines[0] == "Moment imminent (moment_soon)"
    assert lines[1].startswith("  Camille : envoi par message (Apprise) entre 13:51 et 13:53")
    assert "Atelier vélo" in lines[1]
    assert lines[1].endswith("[simulation : rien n’est envoyé]")
    assert lines[2] == "  Lina : pas d’envoi — occupé·e (salle de réunion)"
    assert lines[3] == (
        "  Noor : pas d’envoi — pas de consentement pour ce type de message (Moment imminent)"
    )
    assert "Bienvenue, premier jour (welcome_first_day)" in lines
    assert "  Sam : pas d’envoi — heures calmes (20:00–08:00)" in lines


def test_english_follows_french() -> None:
    text = explain_both(day_of_decisions(), PARIS)
    french, english = text.split("— English —")
    assert french.startswith("— Français —")
    assert "Sam: not sent — quiet hours (20:00–08:00)" in english
    assert "Lina: not sent — busy (meeting room)" in english
    assert "Moment starting soon (moment_soon)" in english


def test_holdout_and_instant_sends_are_explained() -> None:
    held = Holdout(K.WELCOME_BACK, "m", Channel.EMAIL, "retour", 0.2)
    assert describe("Camille", held, PARIS, Language.FR) == (
        "Camille : groupe témoin (20 % retenus pour la mesure) — rien n’est envoyé "
        "(aurait été envoyé par e-mail, variante « retour »)"
    )
    clock = Clock()
    screen = Send(
        K.ARRIVAL_GREETING,
        "m",
        Channel.SCREEN,
        "bonjour",
        "Bonjour Camille !",
        clock.at(9, 0),
        clock.now,
    )
    assert describe("Camille", screen, PARIS, Language.EN) == (
        "Camille: sent on the lobby screen at 09:00, variant “bonjour” — “Bonjour Camille !”"
    )


def test_every_reason_has_words_in_both_languages() -> None:
    assert set(REASON_LABELS) == set(ReasonCode)
    assert all(fr.strip() and en.strip() for fr, en in REASON_LABELS.values())
