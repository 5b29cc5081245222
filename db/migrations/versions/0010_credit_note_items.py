"""credit notes by line

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 20:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_note_items",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("credit_note_id", sa.UUID(), nullable=False),
        sa.Column("invoice_line_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_credit_note_items_credit_note_id_credit_notes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_line_id"], ["invoice_lines.id"], name=op.f("fk_credit_note_items_invoice_line_id_invoice_lines")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_credit_note_items_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note_items")),
    )
    op.create_index(
        op.f("ix_credit_note_items_credit_note_id"), "credit_note_items", ["credit_note_id"], unique=False
    )
    op.create_index(
        op.f("ix_credit_note_items_invoice_line_id"), "credit_note_items", ["invoice_line_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_credit_note_items_invoice_line_id"), table_name="credit_note_items")
    op.drop_index(op.f("ix_credit_note_items_credit_note_id"), table_name="credit_note_items")
    op.drop_table("credit_note_items")
