"""Nudge rules: what may be sent, when, on which channel, in which words. Edited by staff in YAML.

The defaults ship in ``defaults.yaml`` next to this module; a site that wants other wording or
timing starts from a copy of that file (:func:`load_rules`). Every setting is checked when the
file is read, with the file and line of the mistake (:mod:`vivant.config_file`), so a typo never
silently turns a guardrail off.

Why the settings look the way they do (BRIEF.md, "Evidence on nudges"):

- *A repeated message wears out while novel ones hold*: every member-facing rule carries several
  wordings (variants) that rotate, each with a stable ``id`` shared by its French and English text
  so that insights can compare variants whatever the member's language.
- *A short delay after the trigger can beat instant delivery*: each rule has a delay window
  (``delay_minutes``); the message is delivered at a moment inside it, not at the trigger.
- *Effects fade over weeks*: caps per day and per week keep the channel worth reading, and every
  rule can hold out a share of members (``holdout_share``) to measure what it really adds.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import time
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from hub.config import Language, RoomKind
from vivant.config_file import StrictModel, load_yaml, parse_yaml


class NudgeKind(StrEnum):
    """The rules of issue 5; also the *kind* a member consents to, one by one."""

    ARRIVAL_GREETING = "arrival_greeting"  # the lobby screen greets the member by name
    ARRIVAL_MESSAGE = "arrival_message"  # a message on arrival when a moment starts within the hour
    MOMENT_SOON = "moment_soon"  # invitation to a moment about to start
    LOW_ATTENDANCE_STAFF = "low_attendance_staff"  # staff: few people came to a moment
    TENANT_STREAK_STAFF = "tenant_streak_staff"  # staff: suggest a personal introduction
    WELCOME_FIRST_DAY = "welcome_first_day"  # a member's first day
    WELCOME_BACK = "welcome_back"  # back after a long absence


class Channel(StrEnum):
    """Where a nudge goes. ``staff`` is the staff dashboard and alerts, never a member."""

    SCREEN = "screen"  # lobby screen, shown when the member badges in
    EMAIL = "email"
    APPRISE = "apprise"  # any Apprise URL kind (Signal, Telegram, ntfy, …)
    WEBHOOK = "webhook"
    STAFF = "staff"


STAFF_KINDS: frozenset[NudgeKind] = frozenset(
    {NudgeKind.LOW_ATTENDANCE_STAFF, NudgeKind.TENANT_STREAK_STAFF}
)
"""Rules whose nudge goes to staff: they never reach a member's own channels."""

MEMBER_KINDS: frozenset[NudgeKind] = frozenset(NudgeKind) - STAFF_KINDS
"""Rules whose nudge reaches the member."""

MESSAGE_CHANNELS: frozenset[Channel] = frozenset({Channel.EMAIL, Channel.APPRISE, Channel.WEBHOOK})
"""Channels that reach a member away from the screen: quiet hours and caps apply to them."""


class Variant(StrictModel):
    """One wording of a rule, in both languages, under an id that insights keep over time.

    Each rule has its own subclass naming the ``{placeholders}`` its wording may use; anything
    else is refused on load, at the line of the text (``{first_name.__class__}`` or ``{0}`` must
    never reach ``str.format``).
    """

    placeholders: ClassVar[frozenset[str]] = frozenset()

    id: str = Field(
        pattern=r"^[a-z0-9_-]{1,40}$", description="Stable id (kept when the text is edited)."
    )
    fr: str = Field(min_length=1, max_length=500, description="French text.")
    en: str = Field(min_length=1, max_length=500, description="English text.")

    @field_validator("fr", "en")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            names = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
        except ValueError as error:
            raise ValueError(f"malformed braces: {error}") from None
        unknown = sorted(names - cls.placeholders)
        if unknown:
            raise ValueError(
                f"unknown placeholder {', '.join('{' + u + '}' for u in unknown)}; "
                f"allowed: {', '.join('{' + a + '}' for a in sorted(cls.placeholders))}"
            )
        return value

    def text(self, language: Language) -> str:
        """The wording in *language*."""
        return self.fr if language is Language.FR else self.en


class GreetingVariant(Variant):
    """A screen greeting."""

    placeholders: ClassVar[frozenset[str]] = frozenset({"first_name", "site"})


class MomentVariant(Variant):
    """An invitation to a moment."""

    placeholders: ClassVar[frozenset[str]] = frozenset(
        {"first_name", "site", "title", "room", "time", "minutes"}
    )


class LowAttendanceVariant(Variant):
    """A staff alert about a moment."""

    placeholders: ClassVar[frozenset[str]] = frozenset(
        {"title", "room", "time", "count", "expected"}
    )


class StreakVariant(Variant):
    """A staff suggestion about a member."""

    placeholders: ClassVar[frozenset[str]] = frozenset({"first_name", "days"})


class WelcomeVariant(Variant):
    """A welcome (first day)."""

    placeholders: ClassVar[frozenset[str]] = frozenset({"first_name", "site"})


class WelcomeBackVariant(Variant):
    """A welcome back."""

    placeholders: ClassVar[frozenset[str]] = frozenset({"first_name", "site", "days"})


class DelayWindow(StrictModel):
    """Minutes after the trigger between which the nudge is delivered (never instantly)."""

    min: int = Field(default=1, ge=0, le=240, description="Earliest delivery, minutes after.")
    max: int = Field(default=10, ge=0, le=240, description="Latest delivery, minutes after.")

    @model_validator(mode="after")
    def _ordered(self) -> DelayWindow:
        if self.min > self.max:
            raise ValueError(f"delay min ({self.min}) is after max ({self.max})")
        return self


class RuleSettings(StrictModel):
    """Settings every rule shares; one subclass per :class:`NudgeKind`."""

    kind: ClassVar[NudgeKind]

    enabled: bool = Field(default=True, description="A disabled rule never sends.")
    channels: list[Channel] = Field(
        min_length=1, description="Channels in order of preference; the first consented wins."
    )
    delay_minutes: DelayWindow = Field(default_factory=DelayWindow)
    holdout_share: float = Field(
        default=0.2, ge=0.0, le=0.9, description="Share of members held out to measure the rule."
    )
    variants: Sequence[Variant] = Field(min_length=1, description="Wordings, rotated per member.")

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[Channel]) -> list[Channel]:
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        if cls.kind in STAFF_KINDS:
            allowed = {Channel.STAFF}
        elif cls.kind is NudgeKind.ARRIVAL_GREETING:
            allowed = {Channel.SCREEN}
        else:
            allowed = set(MESSAGE_CHANNELS)
        wrong = [c.value for c in value if c not in allowed]
        if wrong:
            raise ValueError(
                f"{cls.kind.value} cannot use {', '.join(wrong)}; "
                f"allowed: {', '.join(sorted(a.value for a in allowed))}"
            )
        return value

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: Sequence[Variant]) -> Sequence[Variant]:
        ids = [v.id for v in value]
        if len(set(ids)) != len(ids):
            raise ValueError("two variants share an id")
        return value

    def variant(self, variant_id: str) -> Variant | None:
        """The variant with this id, if any."""
        return next((v for v in self.variants if v.id == variant_id), None)


class ArrivalGreetingRule(RuleSettings):
    """The lobby screen greets the member by name (the screen lists the moments itself)."""

    kind: ClassVar[NudgeKind] = NudgeKind.ARRIVAL_GREETING
    variants: Sequence[GreetingVariant] = Field(min_length=1, description="Wordings, rotated.")


class ArrivalMessageRule(RuleSettings):
    """A message on arrival when a moment starts soon (optional: off by default)."""

    kind: ClassVar[NudgeKind] = NudgeKind.ARRIVAL_MESSAGE
    variants: Sequence[MomentVariant] = Field(min_length=1, description="Wordings, rotated.")
    within_minutes: int = Field(
        default=60, ge=1, le=480, description="Only when a moment starts within this many minutes."
    )


class MomentSoonRule(RuleSettings):
    """Invitation to members on site who have not joined a moment that is about to start."""

    kind: ClassVar[NudgeKind] = NudgeKind.MOMENT_SOON
    variants: Sequence[MomentVariant] = Field(min_length=1, description="Wordings, rotated.")
    lead_minutes: int = Field(
        default=10, ge=1, le=240, description="The trigger fires this many minutes before start."
    )

    @model_validator(mode="after")
    def _before_start(self) -> MomentSoonRule:
        if self.delay_minutes.max >= self.lead_minutes:
            raise ValueError(
                f"delay_minutes.max ({self.delay_minutes.max}) must be below lead_minutes "
                f"({self.lead_minutes}): the invitation would arrive after the start"
            )
        return self


class LowAttendanceRule(RuleSettings):
    """Staff are alerted when few people came to a moment, a few minutes after its start."""

    kind: ClassVar[NudgeKind] = NudgeKind.LOW_ATTENDANCE_STAFF
    variants: Sequence[LowAttendanceVariant] = Field(min_length=1, description="Wordings, rotated.")
    after_start_minutes: int = Field(default=5, ge=0, le=120, description="When to look.")
    min_attendees: int = Field(default=3, ge=1, le=1000, description="Fewer than this: alert.")
    min_share_of_rsvps: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Fewer than this share of RSVPs came: alert."
    )


class TenantStreakRule(RuleSettings):
    """Staff get a suggestion to introduce a member who comes often but joins nothing."""

    kind: ClassVar[NudgeKind] = NudgeKind.TENANT_STREAK_STAFF
    variants: Sequence[StreakVariant] = Field(min_length=1, description="Wordings, rotated.")
    streak_days: int = Field(default=5, ge=2, le=60, description="Days on site in a row.")
    cooldown_days: int = Field(
        default=14, ge=1, le=365, description="Do not suggest the same member again within this."
    )


class WelcomeFirstDayRule(RuleSettings):
    """A welcome on a member's first day."""

    kind: ClassVar[NudgeKind] = NudgeKind.WELCOME_FIRST_DAY
    variants: Sequence[WelcomeVariant] = Field(min_length=1, description="Wordings, rotated.")


class WelcomeBackRule(RuleSettings):
    """A welcome back after a long absence."""

    kind: ClassVar[NudgeKind] = NudgeKind.WELCOME_BACK
    variants: Sequence[WelcomeBackVariant] = Field(min_length=1, description="Wordings, rotated.")
    absence_days: int = Field(default=21, ge=2, le=365, description="Absent at least this long.")


class Rules(StrictModel):
    """One entry per rule (every rule is present, so nothing depends on a hidden default)."""

    arrival_greeting: ArrivalGreetingRule
    arrival_message: ArrivalMessageRule
    moment_soon: MomentSoonRule
    low_attendance_staff: LowAttendanceRule
    tenant_streak_staff: TenantStreakRule
    welcome_first_day: WelcomeFirstDayRule
    welcome_back: WelcomeBackRule

    def get(self, kind: NudgeKind) -> RuleSettings:
        """The settings of the rule *kind*."""
        rule: RuleSettings = getattr(self, kind.value)
        return rule


class QuietHours(StrictModel):
    """Site-local hours when no message leaves (the screen still greets who badges in)."""

    start: time = Field(default=time(20, 0), description="Local time quiet hours begin (HH:MM).")
    end: time = Field(default=time(8, 0), description="Local time they end; may be next day.")

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end are equal; write quiet_hours: null instead")
        return self

    def contains(self, local: time) -> bool:
        """Whether the site-local time *local* is quiet."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def label(self) -> str:
        """``20:00–08:00``."""
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


class Caps(StrictModel):
    """How many messages a member may receive, over any rolling 24 hours and 7 days."""

    per_day: int = Field(default=1, ge=0, le=20, description="Messages in any 24 hours.")
    per_week: int = Field(default=3, ge=0, le=100, description="Messages in any 7 days.")


class RulesConfig(StrictModel):
    """The nudge configuration of a hub: global guardrails plus one entry per rule."""

    paused: bool = Field(default=False, description="Global pause: nothing is sent at all.")
    dry_run: bool = Field(
        default=False, description="Decide and explain, but deliver nothing (for trying rules)."
    )
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    caps: Caps = Field(default_factory=Caps)
    do_not_disturb_rooms: list[RoomKind] = Field(
        default_factory=lambda: [RoomKind.MEETING, RoomKind.PHONE_BOOTH],
        description="No message while the member is in a room of these kinds.",
    )
    experiment_salt: str = Field(
        default="vivant-1",
        min_length=1,
        max_length=80,
        description="Seeds holdout and variant draws; changing it reshuffles every experiment.",
    )
    staff_language: Language = Field(default=Language.FR, description="Language of staff nudges.")
    rules: Rules


DEFAULTS_NAME = "defaults.yaml"


@cache
def default_rules() -> RulesConfig:
    """The shipped rules (``hub/nudges/defaults.yaml``), read once (the model is frozen)."""
    text = resources.files("hub.nudges").joinpath(DEFAULTS_NAME).read_text(encoding="utf-8")
    return parse_yaml(text, RulesConfig, f"hub/nudges/{DEFAULTS_NAME}")


def load_rules(path: Path | None = None) -> RulesConfig:
    """The rules in *path* (a full copy of the defaults, edited), or the defaults."""
    if path is None:
        return default_rules()
    return load_yaml(path, RulesConfig)
