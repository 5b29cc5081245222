"""bank statement lines ignored by staff: ignored_at, ignored_by, ignore_note on bank_transactions

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 19:00:00.000000

An UNMATCHED line that will never be matched (a refund from a supplier, a transfer between own accounts) can be
dismissed (`ignoreBankTransaction`): its status becomes IGNORED (`status` is a String(16): no type to change), its
reason is kept, and these say who ignored it, when and why. `restoreBankTransaction` clears them again. The
existing (organization_id, status, created_at) index serves `bankTransactions(status: IGNORED)`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bank_transactions", sa.Column("ignored_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bank_transactions", sa.Column("ignored_by", sa.String(length=300), nullable=True))
    op.add_column("bank_transactions", sa.Column("ignore_note", sa.String(length=500), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE bank_transactions SET status = 'UNMATCHED' WHERE status = 'IGNORED'")
    op.drop_column("bank_transactions", "ignore_note")
    op.drop_column("bank_transactions", "ignored_by")
    op.drop_column("bank_transactions", "ignored_at")
