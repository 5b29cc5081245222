"""test organizations and test clocks

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12 10:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("organizations", sa.Column("mode", sa.String(4), server_default="LIVE", nullable=False))
    op.create_check_constraint("mode", "organizations", "mode IN ('LIVE', 'TEST')")
    op.create_table(
        "test_clocks",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "organization_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("frozen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(10), server_default="READY", nullable=False),
        sa.Column("advancing_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('READY', 'ADVANCING')", name="status"),
    )
    op.create_index("ix_test_clocks_organization_id", "test_clocks", ["organization_id"])
    op.add_column(
        "customers",
        sa.Column(
            "test_clock_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("test_clocks.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_customers_test_clock_id", "customers", ["test_clock_id"], postgresql_where=sa.text("test_clock_id IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_customers_test_clock_id", table_name="customers")
    op.drop_column("customers", "test_clock_id")
    op.drop_index("ix_test_clocks_organization_id", table_name="test_clocks")
    op.drop_table("test_clocks")
    op.drop_constraint("ck_organizations_mode", "organizations", type_="check")
    op.drop_column("organizations", "mode")
