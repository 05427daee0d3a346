"""insights: member weeks classified incrementally (posture and value per trailing window)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 23:50:00

The tables start empty: the next rollup refresh finds no classification basis for a site and
builds its weeks from the member days (pages compute them from the days until then).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COVERING = [
    "site_id", "week_start", "member_id", "active", "days_on_site", "moments", "rsvps",
    "minutes_desk", "minutes_community", "minutes_other", "desk_room_id", "posture", "value",
]  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "insight_member_weeks",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("days_on_site", sa.Integer(), nullable=False),
        sa.Column("moments", sa.Integer(), nullable=False),
        sa.Column("rsvps", sa.Integer(), nullable=False),
        sa.Column("minutes_desk", sa.Float(), nullable=False),
        sa.Column("minutes_community", sa.Float(), nullable=False),
        sa.Column("minutes_other", sa.Float(), nullable=False),
        sa.Column("desk_room_id", sa.String(length=64), nullable=True),
        sa.Column("posture", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_insight_member_weeks_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_insight_member_weeks_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "member_id", "week_start", name=op.f("pk_insight_member_weeks")
        ),
    )
    op.create_index("ix_insight_member_weeks_site_week_covering", "insight_member_weeks", COVERING)
    op.create_table(
        "insight_posture_bases",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("basis", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_insight_posture_bases_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_insight_posture_bases")),
    )


def downgrade() -> None:
    op.drop_table("insight_posture_bases")
    op.drop_index("ix_insight_member_weeks_site_week_covering", table_name="insight_member_weeks")
    op.drop_table("insight_member_weeks")
