"""Experiments: a stable random holdout per member and rule, and the rotation of wordings.

A holdout only measures something if a member stays in the same arm over time: a member who
flips between arms mixes both effects. So the arm is not drawn at random on each call but
derived from ``HMAC-SHA-256(salt, rule + member)``, read as a number uniform in [0, 1): the same
inputs always give the same arm, and arms are independent between rules. Changing the salt
reshuffles every experiment (the thing to do when starting a new measurement period).

Variants rotate because, in the evidence on nudges (BRIEF.md), a repeated message wears out while
novel ones hold: a member never gets the wording of their previous nudge of a rule again, meets
unseen wordings first (in an order drawn per member, so every variant is tried by someone early),
then the least recently seen.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum


class Arm(StrEnum):
    """The experiment group of a member for one rule."""

    HOLDOUT = "holdout"  # the control group: recorded, nothing sent
    TREATMENT = "treatment"


def uniform(salt: str, *parts: str) -> float:
    """A number in [0, 1), uniform over inputs and stable for the same *salt* and *parts*."""
    message = "\x1f".join(parts).encode("utf-8")
    digest = hmac.new(salt.encode("utf-8"), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(member_id: str, rule: str, salt: str, share: float) -> Arm:
    """The arm of *member_id* for *rule*: holdout with probability *share*, same on every call."""
    if share <= 0.0:
        return Arm.TREATMENT
    return Arm.HOLDOUT if uniform(salt, "holdout", rule, member_id) < share else Arm.TREATMENT


def choose_variant(
    member_id: str,
    rule: str,
    variant_ids: Sequence[str],
    seen: Sequence[tuple[datetime, str]],
    salt: str,
    not_before: datetime | None = None,
) -> str | None:
    """The wording to use next, or None when only the wording the member just got is left.

    *seen* lists ``(sent_at, variant_id)`` of this member's past nudges of *rule*, in any order,
    possibly with nudges still scheduled (``sent_at`` after now). The new nudge will land at or
    after *not_before*; so that it differs from whatever the member reads just before and just
    after it, it avoids the wording(s) of the latest nudge before *not_before* and of every
    nudge at or after it. Without *not_before*, it avoids the latest nudge.
    """
    last_seen: dict[str, datetime] = {}
    for at, variant_id in seen:
        if variant_id not in last_seen or at > last_seen[variant_id]:
            last_seen[variant_id] = at
    avoid: set[str] = set()
    if seen:
        if not_before is None:
            latest = max(at for at, _ in seen)
            avoid = {v for at, v in seen if at == latest}
        else:
            avoid = {v for at, v in seen if at >= not_before}
            before = [at for at, _ in seen if at < not_before]
            if before:
                latest = max(before)
                avoid |= {v for at, v in seen if at == latest}
    options = [v for v in variant_ids if v not in avoid]
    if not options:
        return None

    def draw(variant_id: str) -> float:
        return uniform(salt, "variant", rule, member_id, variant_id)

    unseen = [v for v in options if v not in last_seen]
    if unseen:
        return min(unseen, key=draw)
    return min(options, key=lambda v: (last_seen[v], draw(v)))
