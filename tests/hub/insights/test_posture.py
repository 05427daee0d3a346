"""Postures follow the documented thresholds and explain themselves in French and English."""

from __future__ import annotations

import pytest

from hub.config import Language
from hub.insights.posture import MemberPeriod, Posture, classify
from hub.insights.privacy import Suppressed, guard_counts
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
