"""leases of site groups, for several hub processes sharing one database

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 16:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_leases",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.Column("acquired_at", hub.db.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_hub_leases")),
    )


def downgrade() -> None:
    op.drop_table("hub_leases")
