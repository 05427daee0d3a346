"""Holdout and variant assignment: stable per member and rule, with the configured share."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from hub.nudges.experiment import Arm, assign, choose_variant, uniform

MEMBERS = [f"member-{i}" for i in range(5000)]
T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)


@pytest.mark.parametrize("share", [0.1, 0.2, 0.5])
def test_holdout_share_matches_the_setting(share: float) -> None:
    held = sum(assign(m, "moment_soon", "salt", share) is Arm.HOLDOUT for m in MEMBERS)
    assert held / len(MEMBERS) == pytest.approx(share, abs=0.03)


def test_assignment_is_stable_across_calls_and_independent_between_rules() -> None:
    first = [assign(m, "moment_soon", "salt", 0.2) for m in MEMBERS]
    assert first == [assign(m, "moment_soon", "salt", 0.2) for m in MEMBERS]
    other = [assign(m, "welcome_back", "salt", 0.2) for m in MEMBERS]
    both = sum(a is b is Arm.HOLDOUT for a, b in zip(first, other, strict=True))
    assert both / len(MEMBERS) == pytest.approx(0.04, abs=0.015)  # 0.2 x 0.2: independent


def test_a_larger_share_only_adds_members_to_the_holdout() -> None:
    small = {m for m in MEMBERS if assign(m, "r", "s", 0.1) is Arm.HOLDOUT}
    large = {m for m in MEMBERS if assign(m, "r", "s", 0.3) is Arm.HOLDOUT}
    assert small <= large


def test_a_new_salt_reshuffles() -> None:
    a = [assign(m, "r", "salt-1", 0.2) for m in MEMBERS]
    b = [assign(m, "r", "salt-2", 0.2) for m in MEMBERS]
    assert a != b


def test_zero_share_holds_out_no_one() -> None:
    assert all(assign(m, "r", "s", 0.0) is Arm.TREATMENT for m in MEMBERS[:500])


def test_uniform_is_in_the_unit_interval() -> None:
    values = [uniform("s", m) for m in MEMBERS]
    assert 0.0 <= min(values) < 0.01
    assert 0.99 < max(values) < 1.0


def test_variants_start_unseen_then_least_recently_used_and_never_repeat() -> None:
    ids = ["a", "b", "c"]
    seen: list[tuple[datetime, str]] = []
    picked = []
    for day in range(9):
        choice = choose_variant("m1", "moment_soon", ids, seen, "salt")
        assert choice is not None
        seen.append((T0 + timedelta(days=day), choice))
        picked.append(choice)
    assert sorted(picked[:3]) == ids  # every wording once before any comes back
    assert picked[3:6] == picked[:3] == picked[6:]  # then the least recently used
    assert all(a != b for a, b in itertools.pairwise(picked))


def test_first_wording_differs_between_members() -> None:
    firsts = {choose_variant(m, "moment_soon", ["a", "b", "c"], [], "s") for m in MEMBERS[:50]}
    assert firsts == {"a", "b", "c"}


def test_one_wording_cannot_be_sent_twice_in_a_row() -> None:
    assert choose_variant("m1", "r", ["only"], [], "s") == "only"
    assert choose_variant("m1", "r", ["only"], [(T0, "only")], "s") is None


def test_a_removed_variant_in_history_does_not_block_rotation() -> None:
    assert choose_variant("m1", "r", ["a", "b"], [(T0, "old")], "s") in {"a", "b"}
