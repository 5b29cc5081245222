"""Getting paid: provider credentials, provider customers, payment methods, payments and collection attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at, uuid_pk


def _org() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"))


def _customer() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("customers.id", ondelete="CASCADE"))


class PaymentProviderConfig(Base):
    """An organization's credentials for one provider, sealed with AES-GCM (integrations/secrets.py)."""

    __tablename__ = "payment_provider_configs"
    __table_args__ = (UniqueConstraint("organization_id", "provider"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    provider: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))  # TEST, LIVE
    credentials: Mapped[str] = mapped_column(Text)  # sealed JSON: never returned
    last4: Mapped[str | None] = mapped_column(String(4))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProviderCustomer(Base):
    """Our customer at a provider (Stripe's cus_…), created once."""

    __tablename__ = "provider_customers"
    __table_args__ = (UniqueConstraint("customer_id", "provider"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    customer_id: Mapped[uuid.UUID] = _customer()
    provider: Mapped[str] = mapped_column(String(16))
    provider_customer_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at()


class PaymentMethod(Base):
    __tablename__ = "payment_methods"
    __table_args__ = (
        UniqueConstraint("customer_id", "provider", "provider_payment_method_id"),
        Index("uq_payment_methods_default", "customer_id", unique=True, postgresql_where=text("is_default")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    customer_id: Mapped[uuid.UUID] = _customer()
    provider: Mapped[str] = mapped_column(String(16))
    provider_payment_method_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    brand: Mapped[str | None] = mapped_column(String(64))
    last4: Mapped[str | None] = mapped_column(String(4))
    expires_at: Mapped[str | None] = mapped_column(String(7))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at()


class PaymentAttempt(Base):
    """One charge of an invoice at a provider: (invoice, number) and the idempotency key are unique, so an
    attempt is made once whatever runs it twice."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        UniqueConstraint("invoice_id", "number"),
        UniqueConstraint("idempotency_key"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    invoice_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("invoices.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(16))
    payment_method_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payment_methods.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(20))  # PENDING, SUCCEEDED, PROCESSING, REQUIRES_ACTION, FAILED
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    provider_charge_id: Mapped[str | None] = mapped_column(String(255))
    decline_code: Mapped[str | None] = mapped_column(String(100))
    hard_decline: Mapped[bool] = mapped_column(Boolean, default=False)
    retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_message: Mapped[str | None] = mapped_column(Text)
    action_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Payment(Base):
    """Money received for an invoice (a provider charge, or recorded by hand)."""

    __tablename__ = "payments"
    __table_args__ = (
        Index(
            "uq_payments_provider_payment",
            "organization_id",
            "provider",
            "provider_payment_id",
            unique=True,
            postgresql_where=text("provider_payment_id IS NOT NULL"),
        ),
        Index("ix_payments_invoice", "invoice_id"),
        Index("ix_payments_customer", "organization_id", "customer_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("invoices.id", ondelete="CASCADE")
    )
    customer_id: Mapped[uuid.UUID] = _customer()
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payment_attempts.id", ondelete="SET NULL")
    )
    provider: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(32))  # card, us_bank_account, WIRE, CHECK, …
    status: Mapped[str] = mapped_column(String(16))  # PROCESSING, SUCCEEDED, FAILED, RETURNED
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # what was received
    applied_minor: Mapped[int] = mapped_column(BigInteger)  # what the invoice took (the rest went to the wallet)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    provider_charge_id: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(200))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class ProviderEventReceipt(Base):
    """A provider webhook handled: its event id is unique, so a replayed event changes nothing."""

    __tablename__ = "provider_event_receipts"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = created_at()


class DunningCampaign(Base):
    """An organization's dunning settings (none stored: the defaults of domain/dunning.py)."""

    __tablename__ = "dunning_campaigns"
    __table_args__ = (UniqueConstraint("organization_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    retry_intervals: Mapped[list] = mapped_column(JSONB, default=list)  # ISO 8601 durations
    max_attempts: Mapped[int] = mapped_column(Integer)
    reminder_emails: Mapped[bool] = mapped_column(Boolean, default=True)
    final_action: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmailDelivery(Base):
    """An email sent (or logged) once: its key names the event it tells of, so a job run twice sends once."""

    __tablename__ = "email_deliveries"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    message_id: Mapped[str | None] = mapped_column(String(300))
    logged_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at()
