"""usage alerts: thresholds a customer sets on its period's usage, and each firing (once per period, by a unique key)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 09:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_alerts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("billable_metric_id", sa.UUID(), nullable=True),
        sa.Column("threshold_type", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Numeric(38, 12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_usage_alerts_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_usage_alerts_customer_id_customers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["billable_metric_id"], ["billable_metrics.id"],
                                name=op.f("fk_usage_alerts_billable_metric_id_billable_metrics"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_alerts")),
    )
    op.create_index(op.f("ix_usage_alerts_organization_id"), "usage_alerts", ["organization_id"], unique=False)
    op.create_index(op.f("ix_usage_alerts_customer_id"), "usage_alerts", ["customer_id"], unique=False)
    op.create_table(
        "usage_alert_firings",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("threshold", sa.Numeric(38, 12), nullable=False),
        sa.Column("value", sa.Numeric(38, 12), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"],
                                name=op.f("fk_usage_alert_firings_organization_id_organizations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["alert_id"], ["usage_alerts.id"],
                                name=op.f("fk_usage_alert_firings_alert_id_usage_alerts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_usage_alert_firings_customer_id_customers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"],
                                name=op.f("fk_usage_alert_firings_subscription_id_subscriptions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_alert_firings")),
        sa.UniqueConstraint("alert_id", "subscription_id", "period_start", "threshold",
                            name="uq_usage_alert_firings_once_per_period"),
    )
    op.create_index(op.f("ix_usage_alert_firings_organization_id"), "usage_alert_firings", ["organization_id"],
                    unique=False)
    op.create_index("ix_usage_alert_firings_alert_id_triggered_at", "usage_alert_firings",
                    ["alert_id", "triggered_at"], unique=False)


def downgrade() -> None:
    op.drop_table("usage_alert_firings")
    op.drop_table("usage_alerts")
