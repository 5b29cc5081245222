"""Bank statement lines as imported: one row per statement entry, so that a statement imported twice pays once."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at, uuid_pk


class BankTransaction(Base):
    """A line of an imported bank statement and what became of it: MATCHED (a payment recorded on an invoice),
    UNMATCHED (kept for review, with the reason) or IGNORED (dismissed by staff, its reason kept, with who, when and
    why: `ignored_*`, cleared when it is restored). `fingerprint` names the entry whatever file it comes in."""

    __tablename__ = "bank_transactions"
    __table_args__ = (
        UniqueConstraint("organization_id", "fingerprint"),
        Index("ix_bank_transactions_status", "organization_id", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    import_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))  # the importBankStatement call
    fingerprint: Mapped[str] = mapped_column(String(64))
    statement_format: Mapped[str] = mapped_column(String(8))  # CAMT053, CSV
    account: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    booked_on: Mapped[date] = mapped_column(Date)
    direction: Mapped[str] = mapped_column(String(8))  # CREDIT, DEBIT
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str | None] = mapped_column(String(200))  # the matched one, else the most specific
    references: Mapped[list[str]] = mapped_column(JSONB, default=list)
    remittance: Mapped[str | None] = mapped_column(Text)
    counterparty: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # MATCHED, UNMATCHED, IGNORED
    reason: Mapped[str | None] = mapped_column(String(32))
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("invoices.id", ondelete="SET NULL")
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payments.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at()
    ignored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ignored_by: Mapped[str | None] = mapped_column(String(300))  # the actor's name when it was ignored
    ignore_note: Mapped[str | None] = mapped_column(String(500))
