"""Postures follow the documented thresholds and explain themselves in French and English."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hub.config import Language
from hub.insights.posture import MemberPeriod, Posture, classify
from hub.insights.privacy import Suppressed, guard_counts
from hub.insights.reports.period import MemberWeek, trailing_periods
from hub.insights.settings import PostureSettings

SETTINGS = PostureSettings()


@pytest.mark.parametrize(
    ("period", "posture"),
    [
        (MemberPeriod(28, 2, 0), Posture.ABSENT),
        (MemberPeriod(28, 14, 0, minutes_desk=960, minutes_community=40), Posture.TENANT),
        (MemberPeriod(28, 14, 4, minutes_desk=960), Posture.COWORKER),
        (MemberPeriod(28, 5, 0, minutes_desk=300, minutes_community=200), Posture.COWORKER),
        (MemberPeriod(28, 14, 1, minutes_desk=960), Posture.OCCASIONAL),
        (MemberPeriod(28, 5, 0, minutes_desk=600), Posture.OCCASIONAL),
        (MemberPeriod(28, 9, 0), Posture.TENANT),  # no room data: days and moments decide
    ],
)
def test_thresholds(period: MemberPeriod, posture: Posture) -> None:
    assert classify(period, SETTINGS).posture is posture


def test_a_classification_explains_itself() -> None:
    tenant = classify(MemberPeriod(28, 14, 0, minutes_desk=960, minutes_community=40), SETTINGS)
    assert tenant.explain(Language.FR) == (
        "sur place 14 jours en 4 semaines, 0 moment, 96\xa0% du temps en espace de travail"
    )
    assert tenant.explain(Language.EN) == (
        "on site 14 days in 4 weeks, 0 moments, 96% of the time in desk rooms"
    )
    assert tenant.label(Language.FR) == "locataire"


def test_inconsistent_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="tenant_min_days"):
        PostureSettings(absent_max_days=8, tenant_min_days=8)


def test_a_lonely_hidden_cell_takes_another_one_along() -> None:
    shown = guard_counts({"absent": 3, "tenant": 40, "occasional": 12, "coworker": 0}, 5)
    assert shown == {
        "absent": Suppressed(5),
        "tenant": 40,
        "occasional": Suppressed(5),
        "coworker": 0,
    }


def test_a_window_after_room_time_has_none_left() -> None:
    """Weeks with room time, then weeks without: the later windows know no room time at all
    (a running sum left rounding residues that made room shares out of nothing)."""
    monday = date(2026, 1, 5)
    # Added then subtracted in this order, these leave -2.8e-13 in a running sum.
    minutes = [288.1099417574, 1286.4072317121, 1169.2844665673, 457.0966360352]
    weeks = {
        monday + timedelta(weeks=i): MemberWeek(
            1, monday + timedelta(weeks=i), 3, 0, 0, minutes[i], 0.0, 0.0, None
        )
        for i in range(4)
    }
    ends = [monday + timedelta(weeks=i) for i in range(12)]
    periods = trailing_periods(weeks, ends, 28)
    assert periods[ends[3]].days_on_site == 12
    for end in ends[7:]:
        assert periods[end].days_on_site == 0
        assert periods[end].minutes_in_rooms == 0.0
        assert periods[end].desk_share is None
        assert classify(periods[end], PostureSettings()).posture is Posture.ABSENT
