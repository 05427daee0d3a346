"""The definitions behind the insights, with defaults, so an operator can adjust them.

Every threshold is counted over a *period* of ``period_days`` (four weeks by default) at one
site. The defaults separate the four postures of the brief; ``docs/insights.md`` explains them
to managers and :mod:`hub.insights.posture` applies them.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from vivant.config_file import StrictModel

MIN_CELL_FLOOR = 5
"""Smallest group a manager may see (the issue's privacy rule); settings may raise it, not lower."""


class PostureSettings(StrictModel):
    """Thresholds that sort a member's period into absent, tenant, occasional or coworker."""

    period_days: int = Field(
        default=28,
        ge=7,
        le=182,
        multiple_of=7,
        description="Length of the period a posture describes (days, whole weeks).",
    )
    absent_max_days: int = Field(
        default=2, ge=0, le=60, description="On site at most this many days: absent."
    )
    coworker_min_moments: int = Field(
        default=4, ge=1, le=100, description="Took part in at least this many moments: coworker."
    )
    coworker_min_community_share: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Or spent at least this share of the time in community rooms: coworker.",
    )
    tenant_min_days: int = Field(
        default=8, ge=1, le=182, description="A tenant is on site at least this many days …"
    )
    tenant_max_moments: int = Field(
        default=0, ge=0, le=100, description="… takes part in at most this many moments …"
    )
    tenant_min_desk_share: float = Field(
        default=0.8, ge=0.0, le=1.0, description="… and spends this share of the time at a desk."
    )

    @model_validator(mode="after")
    def _consistent(self) -> PostureSettings:
        if self.tenant_min_days <= self.absent_max_days:
            raise ValueError("tenant_min_days must be above absent_max_days")
        if self.tenant_max_moments >= self.coworker_min_moments:
            raise ValueError("tenant_max_moments must be below coworker_min_moments")
        if self.absent_max_days >= self.period_days:
            raise ValueError("absent_max_days must be below period_days")
        return self


class ValueSettings(StrictModel):
    """Weights of the "community value captured" index (they are normalised to sum to 1)."""

    moments_weight: float = Field(default=0.5, ge=0.0, description="Moments taken part in.")
    community_weight: float = Field(default=0.3, ge=0.0, description="Time in community rooms.")
    services_weight: float = Field(default=0.2, ge=0.0, description="Meeting rooms, phone booths.")
    community_share_target: float = Field(
        default=0.25,
        gt=0.0,
        le=1.0,
        description="Share of on-site time in community rooms that counts as using them fully.",
    )

    @model_validator(mode="after")
    def _some_weight(self) -> ValueSettings:
        if self.moments_weight + self.community_weight + self.services_weight <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class InsightsSettings(StrictModel):
    """Everything the insights compute with."""

    posture: PostureSettings = Field(default_factory=PostureSettings)
    value: ValueSettings = Field(default_factory=ValueSettings)
    min_cell_members: int = Field(
        default=MIN_CELL_FLOOR,
        ge=MIN_CELL_FLOOR,
        le=1000,
        description="A figure covering fewer members than this is suppressed.",
    )
    settle_hours: float = Field(
        default=48,
        ge=0,
        le=24 * 30,
        description=(
            "Hours after a day ends during which its rollup is recomputed on each refresh "
            "(late staff marks, closed sessions); afterwards only new rows reopen it."
        ),
    )
    desk_only_max_share: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description=(
            "A desk room is 'used only as a desk' when at most this share of its occupants "
            "reached a community room (15 minutes or more) or a moment in the period."
        ),
    )
    refresh_minutes: float = Field(
        default=15,
        gt=0,
        le=1440,
        description="Minutes between two incremental refreshes of the rollups by the hub.",
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="Confidence level of the uplift intervals."
    )
    cache_entries: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description=(
            "Insights pages (site, period, language) kept computed; an entry is dropped when "
            "new rollups touch its days, after refresh_minutes, or when the least recently used."
        ),
    )
