"""Usage alerts a customer (or the organization's staff for it) sets, and each time one fired."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import DateTime, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at, uuid_pk

QUANTITY = Numeric(38, 12)


class UsageAlert(Base):
    """Tell the customer when its usage of the current billing period reaches `threshold`: an amount of its
    usage charges so far (AMOUNT, in the plan's currency) or a quantity of one metric (UNITS)."""

    __tablename__ = "usage_alerts"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # AMOUNT: all usage charges, or those of this metric; UNITS: this metric's units (required then).
    billable_metric_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("billable_metrics.id", ondelete="CASCADE")
    )
    threshold_type: Mapped[str] = mapped_column(String(16))  # AMOUNT or UNITS
    threshold: Mapped[Decimal] = mapped_column(QUANTITY)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UsageAlertFiring(Base):
    """An alert that fired: at most one per alert, subscription period and threshold (the unique key is the
    "once per period": a concurrent second check inserts nothing and so sends nothing)."""

    __tablename__ = "usage_alert_firings"
    __table_args__ = (
        UniqueConstraint("alert_id", "subscription_id", "period_start", "threshold",
                         name="uq_usage_alert_firings_once_per_period"),
        Index("ix_usage_alert_firings_alert_id_triggered_at", "alert_id", "triggered_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    alert_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("usage_alerts.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id", ondelete="CASCADE")
    )
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("subscriptions.id", ondelete="CASCADE")
    )
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    threshold: Mapped[Decimal] = mapped_column(QUANTITY)
    value: Mapped[Decimal] = mapped_column(QUANTITY)  # what the usage was when the check saw it crossed
    currency: Mapped[str] = mapped_column(String(3))
    triggered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
