"""Invoices, their lines, tax rates and the gapless numbering sequence."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.models.base import Base, created_at, uuid_pk
from db.models.customer import Customer


def _org() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"))


class TaxRate(Base):
    __tablename__ = "tax_rates"
    __table_args__ = (
        Index(
            "uq_tax_rates_code", "organization_id", "code", unique=True, postgresql_where=text("archived_at IS NULL")
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    applies_to_organization: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at()
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaxRateAssignment(Base):
    """A tax rate applied to a customer, a plan or a charge (the most specific level wins)."""

    __tablename__ = "tax_rate_assignments"
    __table_args__ = (
        Index("uq_tax_rate_assignments", "tax_rate_id", "target_type", "target_id", unique=True),
        Index("ix_tax_rate_assignments_target", "organization_id", "target_type", "target_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    tax_rate_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("tax_rates.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(String(20))  # CUSTOMER, PLAN, CHARGE
    target_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))

    tax_rate: Mapped[TaxRate] = relationship(lazy="joined")


class InvoiceNumberSequence(Base):
    __tablename__ = "invoice_number_sequences"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        # A billing run never makes a second invoice for a customer's billing date.
        Index(
            "uq_invoices_billing_key",
            "organization_id",
            "customer_id",
            "billing_key",
            unique=True,
            postgresql_where=text("billing_key IS NOT NULL"),
        ),
        Index(
            "uq_invoices_number", "organization_id", "number", unique=True, postgresql_where=text("number IS NOT NULL")
        ),
        Index("ix_invoices_customer", "organization_id", "customer_id", "created_at"),
        # The organization's invoice list, newest first (migration 0012).
        Index("ix_invoices_org_created", "organization_id", "created_at", "id"),
        # What a wire transfer quotes to be matched to its invoice (migration 0016).
        Index(
            "uq_invoices_payment_reference",
            "organization_id",
            "payment_reference",
            unique=True,
            postgresql_where=text("payment_reference IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    number: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # SUBSCRIPTION, PROGRESSIVE, ONE_OFF, CREDIT_PURCHASE
    billing_key: Mapped[str | None] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # What interim (progressive billing) invoices already billed of this period, before tax.
    progressive_credit_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_notes_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    reverse_charge: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    # What finalizing it consumed (coupon periods, credit notes, prepaid credits): given back on void.
    deductions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # Subscription id -> its billed_through before this invoice (for refreshing a draft).
    billed_from: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    seller: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    buyer: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    finalized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    uncollectible_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # kept if paid later
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Collection (migration 0016): domain.payments.InvoicePaymentStatus, the reference for wire transfers.
    payment_status: Mapped[str] = mapped_column(String(20), default="PENDING", server_default="PENDING")
    payment_reference: Mapped[str | None] = mapped_column(String(40))
    next_payment_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Dunning (migration 0017, services/dunning.py): RETRYING, AWAITING_METHOD, EXHAUSTED, RECOVERED; when its
    # first attempt failed (the schedule counts from it) and when the final action applies after a hard decline.
    dunning_status: Mapped[str | None] = mapped_column(String(20))
    dunning_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dunning_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How often staff sent the invoice email again (migration 0023): each resend's email key ends with its count.
    issued_email_resends: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = created_at()

    customer: Mapped[Customer] = relationship(lazy="joined")
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan", lazy="selectin"
    )


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    invoice_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # SUBSCRIPTION, CHARGE, TRUE_UP, ONE_OFF, CREDIT
    description: Mapped[str] = mapped_column(String(300))
    subscription_external_id: Mapped[str | None] = mapped_column(String(200))
    billable_metric_code: Mapped[str | None] = mapped_column(String(100))
    units: Mapped[Decimal | None] = mapped_column(Numeric)
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_rates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
