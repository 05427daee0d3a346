"""insights: daily rollups (members, room hours, nudge facts, rolled days, source marks)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 16:32:30.190149
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insight_rollup_marks",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_insight_rollup_marks")),
    )
    op.create_table(
        "insight_member_days",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("desk_room_id", sa.String(length=64), nullable=True),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("minutes_on_site", sa.Float(), nullable=False),
        sa.Column("minutes_desk", sa.Float(), nullable=False),
        sa.Column("minutes_community", sa.Float(), nullable=False),
        sa.Column("minutes_meeting", sa.Float(), nullable=False),
        sa.Column("minutes_phone_booth", sa.Float(), nullable=False),
        sa.Column("minutes_lobby", sa.Float(), nullable=False),
        sa.Column("moments_attended", sa.Integer(), nullable=False),
        sa.Column("rsvps", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_insight_member_days_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_insight_member_days_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "member_id", "day", name=op.f("pk_insight_member_days")),
    )
    with op.batch_alter_table("insight_member_days", schema=None) as batch_op:
        batch_op.create_index("ix_insight_member_days_site_day", ["site_id", "day"], unique=False)

    op.create_table(
        "insight_rollup_days",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rolled_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_insight_rollup_days_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "day", name=op.f("pk_insight_rollup_days")),
    )
    op.create_table(
        "insight_room_hours",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("member_minutes", sa.Float(), nullable=False),
        sa.Column("peak_members", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "room_id"],
            ["rooms.site_id", "rooms.id"],
            name=op.f("fk_insight_room_hours_site_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "room_id", "day", "hour", name=op.f("pk_insight_room_hours")
        ),
    )
    with op.batch_alter_table("insight_room_hours", schema=None) as batch_op:
        batch_op.create_index("ix_insight_room_hours_site_day", ["site_id", "day"], unique=False)

    op.create_table(
        "insight_nudge_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("timing", sa.String(length=8), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("attended", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id"],
            ["nudge_records.id"],
            name=op.f("fk_insight_nudge_facts_id_nudge_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_insight_nudge_facts_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_insight_nudge_facts_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_nudge_facts")),
    )
    with op.batch_alter_table("insight_nudge_facts", schema=None) as batch_op:
        batch_op.create_index("ix_insight_nudge_facts_site_day", ["site_id", "day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("insight_nudge_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_insight_nudge_facts_site_day")

    op.drop_table("insight_nudge_facts")
    with op.batch_alter_table("insight_room_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_insight_room_hours_site_day")

    op.drop_table("insight_room_hours")
    op.drop_table("insight_rollup_days")
    with op.batch_alter_table("insight_member_days", schema=None) as batch_op:
        batch_op.drop_index("ix_insight_member_days_site_day")

    op.drop_table("insight_member_days")
    op.drop_table("insight_rollup_marks")
