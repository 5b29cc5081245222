"""Billable metrics and plans with their charges: what is measured and how it is priced."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.models.base import Base, created_at, uuid_pk

PRICE = Numeric(38, 12)


def org_fk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"))


class BillableMetric(Base):
    __tablename__ = "billable_metrics"
    __table_args__ = (
        Index(
            "uq_billable_metrics_code",
            "organization_id",
            "code",
            unique=True,
            postgresql_where=text("archived_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = org_fk()
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    aggregation: Mapped[str] = mapped_column(String(20))
    field_name: Mapped[str | None] = mapped_column(String(100))
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    filters: Mapped[dict[str, list[str]]] = mapped_column(JSONB, default=dict)  # dimension -> allowed values
    created_at: Mapped[datetime] = created_at()
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        Index("uq_plans_code", "organization_id", "code", unique=True, postgresql_where=text("archived_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = org_fk()
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    interval: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(PRICE)
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    trial_period_days: Mapped[int] = mapped_column(Integer, default=0)
    minimum_commitment: Mapped[Decimal | None] = mapped_column(PRICE)
    # Progressive billing: usage amounts that trigger an interim invoice within a period.
    usage_thresholds: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    created_at: Mapped[datetime] = created_at()
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    charges: Mapped[list[Charge]] = relationship(
        back_populates="plan", order_by="Charge.position", cascade="all, delete-orphan", lazy="selectin"
    )


class Charge(Base):
    __tablename__ = "charges"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = org_fk()
    plan_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("plans.id", ondelete="CASCADE"), index=True
    )
    billable_metric_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("billable_metrics.id"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(30))
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)
    min_amount: Mapped[Decimal | None] = mapped_column(PRICE)
    invoice_display_name: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Lago-style filters: [{"values": {dimension: [value, ...]}, "properties": {...}, "invoiceDisplayName": ...}]
    filters: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)

    plan: Mapped[Plan] = relationship(back_populates="charges")
    billable_metric: Mapped[BillableMetric] = relationship(lazy="joined")
