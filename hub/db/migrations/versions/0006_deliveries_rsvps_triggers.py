"""nudge triggers fired once, member channel addresses and mutes, RSVPs, deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:33:50.802908
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member_channels",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("created_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_channels_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "channel", name=op.f("pk_member_channels")),
    )
    op.create_table(
        "member_nudge_mutes",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("muted_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_nudge_mutes_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "kind", name=op.f("pk_member_nudge_mutes")),
    )
    op.create_table(
        "nudge_triggers",
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("fired_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_nudge_triggers_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_nudge_triggers")),
    )
    op.create_index("ix_nudge_triggers_fired_at", "nudge_triggers", ["fired_at"])

    op.create_table(
        "rsvps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moment_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_rsvps_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["moment_id"],
            ["moments.id"],
            name=op.f("fk_rsvps_moment_id_moments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rsvps")),
        sa.UniqueConstraint("moment_id", "member_id", name=op.f("uq_rsvps_moment_id")),
    )
    op.create_index(op.f("ix_rsvps_member_id"), "rsvps", ["member_id"])
    op.create_index("ix_rsvps_moment_status", "rsvps", ["moment_id", "status", "created_at"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("nudge_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target_ref", sa.String(length=128), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("send_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("expires_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("next_attempt_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("claimed_until", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("sent_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_deliveries_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["nudge_id"],
            ["nudge_records.id"],
            name=op.f("fk_deliveries_nudge_id_nudge_records"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_deliveries_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("message_id", name=op.f("uq_deliveries_message_id")),
    )
    op.create_index("ix_deliveries_member_id", "deliveries", ["member_id"])
    op.create_index(op.f("ix_deliveries_nudge_id"), "deliveries", ["nudge_id"])
    op.create_index("ix_deliveries_state_send_at", "deliveries", ["state", "send_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_state_send_at", table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_nudge_id"), table_name="deliveries")
    op.drop_index("ix_deliveries_member_id", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_rsvps_moment_status", table_name="rsvps")
    op.drop_index(op.f("ix_rsvps_member_id"), table_name="rsvps")
    op.drop_table("rsvps")
    op.drop_index("ix_nudge_triggers_fired_at", table_name="nudge_triggers")
    op.drop_table("nudge_triggers")
    op.drop_table("member_nudge_mutes")
    op.drop_table("member_channels")
