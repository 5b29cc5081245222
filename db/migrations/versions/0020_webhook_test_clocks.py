"""webhook deliveries raised during a test clock's advance are scheduled on that clock

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 12:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "webhook_deliveries",
        sa.Column("test_clock_id", sa.UUID(), sa.ForeignKey("test_clocks.id", ondelete="CASCADE"), nullable=True),
    )
    op.create_index(
        "ix_webhook_deliveries_test_clock_due",
        "webhook_deliveries",
        ["test_clock_id", "next_attempt_at"],
        postgresql_where=sa.text("status = 'PENDING' AND test_clock_id IS NOT NULL"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_webhook_deliveries_test_clock_due", table_name="webhook_deliveries")
    op.drop_column("webhook_deliveries", "test_clock_id")
