"""privacy: consent audit trail and anonymous daily presence counts (retention)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 16:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_consent_events_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    op.create_index("ix_consent_events_member_at", "consent_events", ["member_id", "at"])
    op.create_table(
        "presence_daily",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("taps", sa.Integer(), nullable=False),
        sa.Column("unknown_taps", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_presence_daily_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "room_id", "day", name=op.f("pk_presence_daily")),
    )


def downgrade() -> None:
    op.drop_table("presence_daily")
    op.drop_index("ix_consent_events_member_at", table_name="consent_events")
    op.drop_table("consent_events")
