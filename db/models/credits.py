"""What reduces an invoice after its fees: coupons, prepaid credits (wallets) and credit notes."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.models.base import Base, created_at, uuid_pk

if TYPE_CHECKING:
    from db.models.invoice import Invoice


def _org() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"))


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        Index("uq_coupons_code", "organization_id", "code", unique=True, postgresql_where=text("archived_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(12))  # FIXED, PERCENTAGE
    amount: Mapped[Decimal | None] = mapped_column(Numeric(38, 12))
    percentage: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    currency: Mapped[str | None] = mapped_column(String(3))
    duration: Mapped[str] = mapped_column(String(12))  # ONCE, REPEATING, FOREVER
    duration_periods: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AppliedCoupon(Base):
    __tablename__ = "applied_coupons"
    __table_args__ = (
        Index(
            "uq_applied_coupons_active",
            "coupon_id",
            "customer_id",
            unique=True,
            postgresql_where=text("terminated_at IS NULL"),
        ),
        Index("ix_applied_coupons_customer", "organization_id", "customer_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    coupon_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("coupons.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    periods_used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at()
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    coupon: Mapped[Coupon] = relationship(lazy="joined")


class Wallet(Base):
    """A customer's prepaid credits, in the customer's currency; never negative."""

    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint("balance_minor >= 0", name="balance_not_negative"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = created_at()


class WalletTransaction(Base):
    __tablename__ = "wallet_transactions"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    wallet_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("wallets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # GRANTED, PAID, PENDING_PAYMENT, APPLIED
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("invoices.id"))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()

    # Never loaded: it tells a flush to write the invoice before the transactions that refer to it.
    invoice: Mapped[Invoice | None] = relationship(lazy="raise")


class CreditNote(Base):
    __tablename__ = "credit_notes"
    __table_args__ = (
        Index("uq_credit_notes_number", "organization_id", "number", unique=True),
        Index("ix_credit_notes_customer", "organization_id", "customer_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    number: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(10))  # CREDIT (future invoices / unpaid balance), REFUND
    reason: Mapped[str] = mapped_column(String(300))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # CREDIT on a paid invoice: what is left to take off the customer's next invoices.
    remaining_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = created_at()

    # A credit note by line: what it gives back of each invoice line (none for one by amount).
    items: Mapped[list[CreditNoteItem]] = relationship(
        order_by="CreditNoteItem.position", cascade="all, delete-orphan", lazy="selectin"
    )


class CreditNoteItem(Base):
    """The part of one invoice line that a credit note gives back: before tax, and its tax."""

    __tablename__ = "credit_note_items"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    credit_note_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("credit_notes.id", ondelete="CASCADE"), index=True
    )
    invoice_line_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("invoice_lines.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)
