"""invoices.uncollectible_at: when an invoice was marked uncollectible

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 22:20:00.000000

Stamped when an invoice becomes UNCOLLECTIBLE (markInvoiceUncollectible, or dunning's final action), and kept if
it is paid later. Until now the moment was not stored, so revenue analytics counted an uncollectible invoice as
closed when it was finalized (never overdue); now it is overdue from its due date until it was given up on.
Invoices marked before this migration have none: they are counted as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("uncollectible_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("invoices", "uncollectible_at")
