"""Subscriptions and their phases: which plan (with which overrides) applies when."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.models.base import Base, created_at, uuid_pk
from db.models.catalog import Plan
from db.models.customer import Customer


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("organization_id", "external_id"),
        Index("ix_subscriptions_customer", "organization_id", "customer_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("customers.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    billing_time: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trial_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the subscription will end at a period end (cancel) ...
    ending_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    # ... or when it was ended at once (terminate), or canceled before it started.
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_status: Mapped[str | None] = mapped_column(String(12))  # TERMINATED or CANCELED once ended
    past_due: Mapped[bool] = mapped_column(Boolean, default=False)
    # Billing progress: every boundary up to here has its invoice (arrears and in-advance fees alike).
    billed_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()

    customer: Mapped[Customer] = relationship(lazy="joined")
    phases: Mapped[list[SubscriptionPhase]] = relationship(
        back_populates="subscription",
        order_by="SubscriptionPhase.starts_at",
        lazy="selectin",
        cascade="all, delete-orphan",
    )


class SubscriptionPhase(Base):
    """A stretch of time on one plan. Upgrades close a phase at once, downgrades open one at period end."""

    __tablename__ = "subscription_phases"

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("plans.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Enterprise deal: {"amount": "…", "minimumCommitment": "…", "charges": {"<metric code>": {properties}}}
    overrides: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = created_at()

    subscription: Mapped[Subscription] = relationship(back_populates="phases")
    plan: Mapped[Plan] = relationship(lazy="selectin")
