"""Small cells are suppressed: a manager never sees a figure about fewer than five members.

A suppressed figure is a :class:`Suppressed` marker, not a zero: a page shows it as « < 5 » and
a CSV as an empty cell, and nobody can add it into a total by mistake. The marker never carries
the real count.

Distributions that sum to a total shown elsewhere (postures of a site) get a *secondary*
suppression too: when exactly one cell is hidden, the smallest other non-zero cell is hidden as
well, otherwise the hidden one is the total minus the others. Zeros are shown: "nobody" is not a
figure about a member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar, Union

T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True)
class Suppressed:
    """A figure hidden because it covers fewer than *minimum* members."""

    minimum: int

    def __str__(self) -> str:
        return f"< {self.minimum}"


Guarded = Union[T, Suppressed]  # noqa: UP007 (a generic alias needs Union on Python 3.11)
"""A figure, or the marker that replaces it."""


def guard(value: T, members: int, minimum: int) -> T | Suppressed:
    """*value*, unless it covers fewer than *minimum* members."""
    return Suppressed(minimum) if members < minimum else value


def guard_counts(counts: Mapping[K, int], minimum: int) -> dict[K, int | Suppressed]:
    """Member counts of a distribution with primary and secondary suppression."""
    hidden = {key for key, count in counts.items() if 0 < count < minimum}
    if len(hidden) == 1:
        others = [(count, str(key), key) for key, count in counts.items() if key not in hidden]
        others = [o for o in others if o[0] > 0]
        if others:
            hidden.add(min(others)[2])
    return {key: (Suppressed(minimum) if key in hidden else count) for key, count in counts.items()}


def shown(value: object) -> bool:
    """Whether *value* is a figure rather than a suppression marker."""
    return not isinstance(value, Suppressed)
