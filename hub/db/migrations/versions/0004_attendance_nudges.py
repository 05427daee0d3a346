"""attendance of moments and the nudge log (decisions, arms, outcomes)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:03:15.989828
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attendances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moment_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("first_seen_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("minutes_present", sa.Float(), nullable=False),
        sa.Column("recorded_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_attendances_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["moment_id"],
            ["moments.id"],
            name=op.f("fk_attendances_moment_id_moments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendances")),
        sa.UniqueConstraint("moment_id", "member_id", name=op.f("uq_attendances_moment_id")),
    )
    op.create_index(op.f("ix_attendances_member_id"), "attendances", ["member_id"])

    op.create_table(
        "nudge_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("variant_id", sa.String(length=64), nullable=True),
        sa.Column("arm", sa.String(length=16), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("moment_id", sa.Integer(), nullable=True),
        sa.Column("triggered_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("not_before", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("not_after", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("sent_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_nudge_records_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["moment_id"],
            ["moments.id"],
            name=op.f("fk_nudge_records_moment_id_moments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_nudge_records_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nudge_records")),
    )
    op.create_index(
        "ix_nudge_records_member_triggered", "nudge_records", ["member_id", "triggered_at"]
    )
    op.create_index(op.f("ix_nudge_records_moment_id"), "nudge_records", ["moment_id"])
    op.create_index("ix_nudge_records_outcome_moment", "nudge_records", ["outcome", "moment_id"])
    op.create_index(
        "ix_nudge_records_site_rule_triggered",
        "nudge_records",
        ["site_id", "rule", "triggered_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_nudge_records_site_rule_triggered", table_name="nudge_records")
    op.drop_index("ix_nudge_records_outcome_moment", table_name="nudge_records")
    op.drop_index(op.f("ix_nudge_records_moment_id"), table_name="nudge_records")
    op.drop_index("ix_nudge_records_member_triggered", table_name="nudge_records")
    op.drop_table("nudge_records")
    op.drop_index(op.f("ix_attendances_member_id"), table_name="attendances")
    op.drop_table("attendances")
