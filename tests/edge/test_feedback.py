"""Reader LEDs and buzzer on gpiozero's MockFactory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from edge.feedback import GpioFeedback
from edge.source_settings import FeedbackSettings
from tests.support.waiting import wait_until
from vivant.wire.payloads import Feedback

GREEN, RED, BLUE, BUZZER = 5, 6, 13, 19


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    made = MockFactory()
    yield made
    made.reset()


@pytest.fixture
def feedback(factory: MockFactory) -> Iterator[GpioFeedback]:
    settings = FeedbackSettings(green_led=GREEN, red_led=RED, blue_led=BLUE, buzzer=BUZZER)
    made = GpioFeedback(settings, factory)
    yield made
    made.close()


def pin(factory: MockFactory, number: int) -> MockPin:
    made: Any = factory.pin(number)
    return made


def test_accepted_lights_green_and_beeps_once(factory: MockFactory, feedback: GpioFeedback) -> None:
    feedback.show(Feedback.ACCEPTED)
    wait_until(lambda: pin(factory, GREEN).state, within=0.3, what="green LED on")
    assert not pin(factory, RED).state
    wait_until(lambda: not pin(factory, GREEN).state, within=2, what="green LED off after 1 s")
    beeps = [s.state for s in pin(factory, BUZZER).states]
    assert beeps[:3] == [False, True, False]
    assert beeps.count(True) == 1


def test_unknown_lights_red_and_beeps_twice(factory: MockFactory, feedback: GpioFeedback) -> None:
    feedback.show(Feedback.UNKNOWN)
    wait_until(lambda: pin(factory, RED).state, within=0.3, what="red LED on")
    assert not pin(factory, GREEN).state
    wait_until(lambda: [s.state for s in pin(factory, BUZZER).states].count(True) == 2, within=1)


def test_a_new_verdict_replaces_the_one_shown(factory: MockFactory, feedback: GpioFeedback) -> None:
    feedback.show(Feedback.UNKNOWN)
    wait_until(lambda: pin(factory, RED).state, within=0.3)
    feedback.show(Feedback.ACCEPTED)
    wait_until(lambda: pin(factory, GREEN).state, within=0.3)
    assert not pin(factory, RED).state


def test_enrolment_blinks_blue(factory: MockFactory, feedback: GpioFeedback) -> None:
    feedback.enrol_mode(3)
    wait_until(lambda: pin(factory, BLUE).state, within=0.3)
    feedback.show(Feedback.ENROLLED)
    wait_until(lambda: pin(factory, BLUE).state, within=0.3)
    assert not pin(factory, GREEN).state


def test_active_low_wiring(factory: MockFactory) -> None:
    made = GpioFeedback(FeedbackSettings(green_led=GREEN, active_high=False), factory)
    try:
        assert pin(factory, GREEN).state, "off is HIGH when the LED is wired to 3.3 V"
        made.show(Feedback.ACCEPTED)
        wait_until(lambda: not pin(factory, GREEN).state, within=0.3)
    finally:
        made.close()
