"""Configuration of a node's hardware besides the node itself: readers, feedback, BLE, GPIO, air.

:mod:`edge.config` assembles these into :class:`~edge.config.EdgeConfig` and checks what spans
sections (a room the node does not serve, a GPIO pin wired twice). Each model here only checks
itself, so an error message points at the exact key of the YAML file.

Hardware facts that shape the defaults:

* GPIO pins are BCM numbers (``GPIO17`` is ``17``), the numbering gpiozero and every pinout
  chart use; physical header positions are error-prone and not accepted.
* A reed switch (door contact) is wired between the pin and ground with the internal pull-up:
  a closed door pulls the pin low, an open one lets it float high.
* Break-beam receivers have an open-collector output: LOW while the beam is broken.
* A PIR module (HC-SR501, AM312) drives its output HIGH while it sees motion; it re-triggers,
  so the agent adds its own hold time to avoid a message every few seconds.
* I2C addresses: SCD40/SCD41 answer at 0x62, a BME280 at 0x76 (SDO to ground) or 0x77,
  a PN532 at 0x24.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from vivant.config_file import Secret, StrictModel
from vivant.wire.payloads import TagId
from vivant.wire.topics import SegmentId

Pin = Annotated[int, Field(ge=0, le=27, description="BCM GPIO number (GPIO17 is 17).")]
I2cAddress = Annotated[int, Field(ge=0x03, le=0x77, description="7-bit I2C address, e.g. 0x62.")]

IRK_HEX_DIGITS = 32


class FeedbackSettings(StrictModel):
    """LEDs and a buzzer next to a reader, answering the hub's ``feedback`` commands."""

    green_led: Pin | None = Field(default=None, description="LED lit when a badge is accepted.")
    red_led: Pin | None = Field(default=None, description="LED lit when a badge is unknown.")
    blue_led: Pin | None = Field(
        default=None,
        description="LED for enrolment (blinks in enrolment mode); the green LED if unset.",
    )
    buzzer: Pin | None = Field(default=None, description="Active buzzer (on/off, not a speaker).")
    active_high: bool = Field(
        default=True, description="Whether a HIGH pin turns the LED or buzzer on."
    )

    def pins(self) -> dict[str, int]:
        """Pins in use, by role."""
        roles = {
            "green_led": self.green_led,
            "red_led": self.red_led,
            "blue_led": self.blue_led,
            "buzzer": self.buzzer,
        }
        return {role: pin for role, pin in roles.items() if pin is not None}


class EvdevSettings(StrictModel):
    """A USB keyboard-wedge reader: it types the UID and Enter, read through evdev."""

    device: Path = Field(
        description=(
            "Input device, best by id so it survives reboots and replugging: "
            "/dev/input/by-id/usb-<vendor>_<model>-event-kbd."
        )
    )
    uid_format: Literal["hex", "decimal"] = Field(
        default="hex",
        description=(
            "How the reader types the UID: hex digits (most NFC readers) or a decimal number "
            "(most 125 kHz readers print the 32-bit card number as 10 digits)."
        ),
    )
    grab: bool = Field(
        default=True,
        description="Take the device exclusively so the typed UIDs never reach a console.",
    )


class SerialSettings(StrictModel):
    """A reader on a serial port (UART, USB-serial), read through pyserial."""

    port: str = Field(
        description="Device (/dev/serial0, /dev/ttyUSB0) or a pyserial URL (loop:// in tests)."
    )
    baudrate: int = Field(default=9600, ge=300, le=1_000_000, description="Bits per second.")
    protocol: Literal["rdm6300", "line"] = Field(
        default="rdm6300",
        description=(
            "rdm6300: 125 kHz EM4100 frames (STX, 10 hex digits, checksum, ETX); "
            "line: the UID in hex (or decimal) followed by a line break."
        ),
    )
    uid_bytes: Literal[4, 5] = Field(
        default=5,
        description=(
            "rdm6300: bytes of the EM4100 id kept; 4 drops the version byte so the UID matches "
            "what a keyboard-wedge reader at the same site prints (as decimal)."
        ),
    )
    uid_format: Literal["hex", "decimal"] = Field(
        default="hex", description="line: how the UID is written."
    )


class PcscSettings(StrictModel):
    """A PC/SC reader (ACR122U, ACR1252U, …) through pcscd and pyscard."""

    reader_name: str | None = Field(
        default=None,
        description="Part of the PC/SC reader name (e.g. ACR122); the first reader if unset.",
    )
    poll_s: float = Field(default=0.2, gt=0, le=5, description="Seconds between card polls.")
    reader_feedback: bool = Field(
        default=True,
        description="Drive the reader's own LED and buzzer (ACR122U escape APDU) on feedback.",
    )


class Pn532Settings(StrictModel):
    """A PN532 NFC module on I2C or UART, through Adafruit's CircuitPython driver."""

    interface: Literal["i2c", "uart"] = Field(default="i2c", description="How it is wired.")
    i2c_address: I2cAddress = Field(default=0x24, description="I2C address (0x24 on PN532).")
    port: str = Field(default="/dev/serial0", description="Serial device, for ``uart``.")
    poll_s: float = Field(
        default=0.2, gt=0, le=5, description="Seconds each poll waits for a card."
    )


class IrkSettings(StrictModel):
    """An enrolled phone's Identity Resolving Key: resolves its rotating BLE addresses."""

    id: str = Field(
        pattern=r"^[a-z0-9._-]{1,64}$",
        description="Enrolled id; the phone is reported as ``irk:<id>``.",
    )
    key: Secret = Field(
        description=(
            "The IRK, 32 hex digits, most significant byte first (as the Bluetooth Core spec "
            "prints it); {env: NAME} or {file: PATH}. A secret: never logged, never sent."
        )
    )

    @field_validator("key")
    @classmethod
    def _hex_key(cls, value: Secret) -> Secret:
        text = value.get_secret_value().replace(" ", "").replace(":", "")
        if len(text) != IRK_HEX_DIGITS or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError(f"an IRK is {IRK_HEX_DIGITS} hex digits")
        return value

    def key_bytes(self) -> bytes:
        """The IRK as 16 bytes, most significant first."""
        text = self.key.get_secret_value().replace(" ", "").replace(":", "")
        return bytes.fromhex(text)


class BleSettings(StrictModel):
    """The node's BLE scanner (through bleak and BlueZ)."""

    room: SegmentId = Field(description="Room the scanner covers; one of the node's rooms.")
    adapter: str | None = Field(
        default=None, pattern=r"^hci[0-9]{1,2}$", description="BlueZ adapter (hci0 if unset)."
    )
    scanning_mode: Literal["auto", "active", "passive"] = Field(
        default="auto",
        description=(
            "passive listens only (no scan requests, less radio, needs BlueZ 5.56+ with "
            "experimental features); auto tries passive and falls back to active."
        ),
    )
    window_s: float = Field(
        default=5,
        gt=0,
        le=3600,
        description="Seconds per ble message until the hub's config sets ble_window_s.",
    )
    enrolled_tags: list[TagId] = Field(
        default_factory=list,
        description="Tags reported by id until the hub's config (enrolled_tags) arrives.",
    )
    irks: list[IrkSettings] = Field(
        default_factory=list, description="Phones resolved through their IRK."
    )
    min_rssi: int = Field(
        default=-100, ge=-127, le=20, description="Advertisements weaker than this are ignored."
    )
    salt_rotation_h: float = Field(
        default=24,
        gt=0,
        le=24,
        description="Hours before the in-memory salt of anonymous counting is replaced (≤ 24).",
    )


class MotionSettings(StrictModel):
    """A PIR motion sensor."""

    id: SegmentId = Field(description="Source id, unique on this node (logs).")
    room: SegmentId = Field(description="Room it watches; one of the node's rooms.")
    pin: Pin
    hold_s: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="Motion is reported over only after this many seconds without any.",
    )
    active_high: bool = Field(default=True, description="Whether HIGH means motion.")


class DoorSettings(StrictModel):
    """A door contact (reed switch)."""

    id: SegmentId = Field(description="Source id, unique on this node (logs).")
    room: SegmentId = Field(description="Room of the door; one of the node's rooms.")
    pin: Pin
    open_when: Literal["high", "low"] = Field(
        default="high",
        description="Pin level of an open door (high for a switch to ground with pull-up).",
    )
    pull_up: bool = Field(default=True, description="Use the internal pull-up (else pull-down).")
    bounce_s: float = Field(
        default=0.05, ge=0, le=2, description="Ignore contact bounce shorter than this."
    )


class PeopleCounterSettings(StrictModel):
    """Two break-beam sensors across a doorway, a few centimetres apart: direction by order."""

    id: SegmentId = Field(description="Source id, unique on this node (logs).")
    room: SegmentId = Field(description="Room people enter; one of the node's rooms.")
    outer_pin: Pin = Field(description="Beam on the corridor side (broken first when entering).")
    inner_pin: Pin = Field(description="Beam on the room side (broken first when leaving).")
    broken_when: Literal["low", "high"] = Field(
        default="low", description="Pin level while a beam is broken (low: open collector)."
    )
    pull_up: bool = Field(default=True, description="Use the internal pull-up (else pull-down).")
    max_transit_s: float = Field(
        default=3, gt=0, le=30, description="A crossing must complete within this many seconds."
    )
    report_s: float = Field(
        default=10,
        gt=0,
        le=3600,
        description="Seconds between people_in / people_out messages (sent only when non-zero).",
    )


class GpioSettings(StrictModel):
    """Sensors wired to the Raspberry Pi's GPIO header, through gpiozero."""

    pin_factory: Literal["lgpio", "rpigpio", "pigpio", "native", "mock"] | None = Field(
        default=None,
        description=(
            "gpiozero pin factory; gpiozero's choice if unset (lgpio on Raspberry Pi OS "
            "bookworm, the only one that drives a Pi 5). ``mock`` drives nothing."
        ),
    )
    motion: list[MotionSettings] = Field(default_factory=list, description="PIR sensors.")
    doors: list[DoorSettings] = Field(default_factory=list, description="Door contacts.")
    people_counters: list[PeopleCounterSettings] = Field(
        default_factory=list, description="Break-beam pairs counting people in and out."
    )


class EnvironmentSensorSettings(StrictModel):
    """One I2C environment sensor."""

    id: SegmentId = Field(description="Source id, unique on this node (logs).")
    room: SegmentId = Field(description="Room it measures; one of the node's rooms.")
    kind: Literal["scd4x", "bme280", "fake", "simulated"] = Field(
        description=(
            "scd4x: Sensirion SCD40/41, CO2 + temperature + humidity; bme280: Bosch BME280, "
            "temperature + humidity + pressure; fake: readings set by code; simulated: a "
            "random walk for demos."
        )
    )
    bus: int = Field(default=1, ge=0, le=31, description="I2C bus (/dev/i2c-1 on a Pi header).")
    address: I2cAddress | None = Field(
        default=None, description="I2C address; the chip's usual one if unset."
    )
    seed: int | None = Field(default=None, description="Seed of a simulated sensor.")


class EnvironmentSettings(StrictModel):
    """Periodic environment readings."""

    interval_s: float = Field(
        default=60,
        ge=1,
        le=3600,
        description="Seconds between readings until the hub's config sets sensors.interval_s.",
    )
    sensors: list[EnvironmentSensorSettings] = Field(
        default_factory=list, description="I2C sensors."
    )
