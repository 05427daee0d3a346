"""insights: covering indexes for the reports, site-level posture weeks kept past retention

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Every report reads a site and a range of days, then only these columns: with them in the
# index the rows are never looked up in the table (SQLite; PostgreSQL's index-only scans).
COVERING = {
    "insight_member_days": [
        "site_id", "day", "member_id", "week_start", "sessions", "moments_attended", "rsvps",
        "minutes_desk", "minutes_community", "minutes_meeting", "minutes_phone_booth",
        "minutes_lobby", "desk_room_id",
    ],
    "insight_room_hours": [
        "site_id", "day", "room_id", "hour", "weekday", "member_minutes", "peak_members",
        "members",
    ],
    "insight_nudge_facts": [
        "site_id", "day", "rule", "arm", "member_id", "channel", "variant", "timing", "rank",
        "month", "week_start", "attended",
    ],
}  # fmt: skip


def upgrade() -> None:
    for table, columns in COVERING.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_site_day")
            batch_op.create_index(f"ix_{table}_site_day_covering", columns, unique=False)
    op.create_table(
        "insight_posture_weeks",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("absent", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.Integer(), nullable=False),
        sa.Column("occasional", sa.Integer(), nullable=False),
        sa.Column("coworker", sa.Integer(), nullable=False),
        sa.Column("value_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_insight_posture_weeks_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "week_start", name=op.f("pk_insight_posture_weeks")),
    )


def downgrade() -> None:
    op.drop_table("insight_posture_weeks")
    for table in COVERING:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_site_day_covering")
            batch_op.create_index(f"ix_{table}_site_day", ["site_id", "day"], unique=False)
