"""moments from calendars: feeds, imported moment identity, tags, capacity, host

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 15:36:23.887973
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.String(length=64), nullable=False),
        sa.Column("url_or_path", sa.String(length=2048), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("default_kind", sa.String(length=16), nullable=True),
        sa.Column("last_sync_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("last_ok_at", hub.db.types.UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id", "room_id"],
            ["rooms.site_id", "rooms.id"],
            name=op.f("fk_calendar_feeds_site_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("site_id", "url_or_path", name=op.f("uq_calendar_feeds_site_id")),
    )
    with op.batch_alter_table("moments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cancelled_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("updated_at", hub.db.types.UtcDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("tags", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("host", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("feed_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("uid", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("recurrence_key", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_moments_feed_id"), ["feed_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_moments_feed_id"), ["feed_id", "uid", "recurrence_key"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_moments_feed_id_calendar_feeds"),
            "calendar_feeds",
            ["feed_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("moments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_moments_feed_id_calendar_feeds"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_moments_feed_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_moments_feed_id"))
        batch_op.drop_column("recurrence_key")
        batch_op.drop_column("uid")
        batch_op.drop_column("feed_id")
        batch_op.drop_column("host")
        batch_op.drop_column("capacity")
        batch_op.drop_column("tags")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("cancelled_by")

    op.drop_table("calendar_feeds")
