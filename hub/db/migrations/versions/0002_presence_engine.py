"""presence engine: dwells, occupancy rollups, hub state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 14:52:03.716724
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_state",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("saved_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_hub_state")),
    )
    op.create_table(
        "occupancy_rollups",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("count_sum", sa.Integer(), nullable=False),
        sa.Column("count_max", sa.Integer(), nullable=False),
        sa.Column("identified_max", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id", "room_id"],
            ["rooms.site_id", "rooms.id"],
            name=op.f("fk_occupancy_rollups_site_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "site_id", "room_id", "bucket_start", name=op.f("pk_occupancy_rollups")
        ),
    )
    op.create_table(
        "room_dwells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("entered_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("left_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_room_dwells_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "room_id"],
            ["rooms.site_id", "rooms.id"],
            name=op.f("fk_room_dwells_site_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_dwells")),
    )
    with op.batch_alter_table("room_dwells", schema=None) as batch_op:
        batch_op.create_index("ix_room_dwells_member_open", ["member_id", "left_at"], unique=False)
        batch_op.create_index(
            "ix_room_dwells_site_entered", ["site_id", "entered_at"], unique=False
        )

    with op.batch_alter_table("presence_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_presence_one_open",
            ["member_id", "site_id"],
            unique=True,
            sqlite_where=sa.text("departed_at IS NULL"),
            postgresql_where=sa.text("departed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("presence_sessions", schema=None) as batch_op:
        batch_op.drop_index("uq_presence_one_open")
    with op.batch_alter_table("room_dwells", schema=None) as batch_op:
        batch_op.drop_index("ix_room_dwells_site_entered")
        batch_op.drop_index("ix_room_dwells_member_open")

    op.drop_table("room_dwells")
    op.drop_table("occupancy_rollups")
    op.drop_table("hub_state")
