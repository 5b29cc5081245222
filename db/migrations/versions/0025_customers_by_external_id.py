"""customers by external id, deleted ones included: an index on (organization_id, external_id)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 15:30:00.000000

The unique index on the same columns is partial (`WHERE deleted_at IS NULL`: a deleted customer's external id may
be taken again), so a read that must also find deleted customers, as a customer's invoice list does (a deleted
customer's invoices stay readable), scanned the whole table. This one serves those reads.
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_customers_external_id", "customers", ["organization_id", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_customers_external_id", table_name="customers")
