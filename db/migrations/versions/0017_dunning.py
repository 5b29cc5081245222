"""dunning: campaigns per organization, an invoice's dunning state, emails sent once

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 12:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "dunning_campaigns",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("retry_intervals", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("reminder_emails", sa.Boolean(), nullable=False),
        sa.Column("final_action", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_dunning_campaigns_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_campaigns")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_dunning_campaigns_organization_id")),
    )
    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("logged_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_email_deliveries_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
        sa.UniqueConstraint("organization_id", "key", name=op.f("uq_email_deliveries_organization_id")),
    )
    op.add_column("invoices", sa.Column("dunning_status", sa.String(length=20), nullable=True))
    op.add_column("invoices", sa.Column("dunning_started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("invoices", sa.Column("dunning_ends_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_invoices_dunning",
        "invoices",
        ["organization_id", "dunning_status"],
        unique=False,
        postgresql_where=sa.text("dunning_status IN ('RETRYING', 'AWAITING_METHOD')"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_invoices_dunning", table_name="invoices")
    op.drop_column("invoices", "dunning_ends_at")
    op.drop_column("invoices", "dunning_started_at")
    op.drop_column("invoices", "dunning_status")
    op.drop_table("email_deliveries")
    op.drop_table("dunning_campaigns")
