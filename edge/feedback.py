"""LEDs and a buzzer beside a reader: the member's answer to a tap, within a blink.

The hub answers every badge message with a ``feedback`` command (``accepted``, ``unknown``,
``enrolled``); :class:`GpioFeedback` shows it with the signals ``firmware-config/PROTOCOL.md``
suggests, so every node of a site behaves the same:

==========  ===================  ==========================
result      LED                  buzzer
==========  ===================  ==========================
accepted    green, 1 s           one short beep
unknown     red, 1 s             two short beeps
enrolled    blue (or green), 2 s two beeps
enrol mode  blue slow blink      none
==========  ===================  ==========================

gpiozero's ``blink`` and ``beep`` run in a background thread, so :meth:`GpioFeedback.show`
returns at once and the pins change within milliseconds of the command: the budget from tap to
light is 300 ms, most of it the network and the hub. A new signal replaces the one in progress.
The buzzer must be an *active* buzzer (it sounds when powered); a passive one needs PWM tones.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from edge.source_settings import FeedbackSettings
from vivant.wire.payloads import Feedback

if TYPE_CHECKING:
    from gpiozero.pins import Factory

log = logging.getLogger(__name__)

SHOW_S: Final = {Feedback.ACCEPTED: 1.0, Feedback.UNKNOWN: 1.0, Feedback.ENROLLED: 2.0}
BEEPS: Final = {Feedback.ACCEPTED: 1, Feedback.UNKNOWN: 2, Feedback.ENROLLED: 2}
BEEP_S: Final = 0.1
ENROL_BLINK_S: Final = 0.5


class GpioFeedback:
    """The LEDs and buzzer of one reader."""

    def __init__(self, settings: FeedbackSettings, factory: Factory) -> None:
        from gpiozero import LED, Buzzer

        self.settings = settings
        self._outputs: list[Any] = []

        def output(kind: type[Any], pin: int | None) -> Any:
            if pin is None:
                return None
            device = kind(pin, active_high=settings.active_high, pin_factory=factory)
            self._outputs.append(device)
            return device

        try:
            self.green = output(LED, settings.green_led)
            self.red = output(LED, settings.red_led)
            self.blue = output(LED, settings.blue_led)
            self.buzzer = output(Buzzer, settings.buzzer)
        except BaseException:
            self.close()
            raise

    def _led_for(self, result: Feedback) -> Any:
        if result is Feedback.ACCEPTED:
            return self.green
        if result is Feedback.UNKNOWN:
            return self.red
        return self.blue or self.green

    def show(self, result: Feedback) -> None:
        """Signal the hub's verdict on a tap; returns at once."""
        led = self._led_for(result)
        for other in (self.green, self.red, self.blue):
            if other is not None and other is not led:
                other.off()
        if led is not None:
            led.blink(on_time=SHOW_S[result], off_time=0, n=1, background=True)
        if self.buzzer is not None:
            self.buzzer.beep(on_time=BEEP_S, off_time=BEEP_S, n=BEEPS[result], background=True)

    def enrol_mode(self, seconds: float) -> None:
        """Blink slowly for *seconds* (enrolment mode: the next tap enrols a badge)."""
        led = self.blue or self.green
        if led is None or seconds <= 0:
            return
        blinks = max(1, round(seconds / (2 * ENROL_BLINK_S)))
        led.blink(on_time=ENROL_BLINK_S, off_time=ENROL_BLINK_S, n=blinks, background=True)

    def close(self) -> None:
        """Turn everything off and release the pins."""
        for device in self._outputs:
            try:
                device.off()  # stops a blink; a released pin would otherwise keep its level
                device.close()
            except Exception:
                log.exception("closing a feedback output failed")
        self._outputs.clear()
