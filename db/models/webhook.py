"""Outbound webhooks: an organization's endpoints, the events written with each change, and every delivery attempt."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at, uuid_pk


def _org() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"))


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org", "organization_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    description: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The signing secret (whsec_…), sealed with AES-256-GCM (integrations/secrets.py), bound to the id.
    secret_sealed: Mapped[str] = mapped_column(Text)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    # The first failed attempt since the last success: five days of failure disable the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()


class WebhookEvent(Base):
    """One event, written in the transaction of the change it tells of; its body is what every endpoint gets."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_org", "organization_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the stable `webhook-id`: evt_…
    organization_id: Mapped[uuid.UUID] = _org()
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON that is signed and sent
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the use case's clock


class WebhookDelivery(Base):
    """One attempt to deliver one event to one endpoint; never two rows for the same (endpoint, event, attempt)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", "attempt"),
        Index("ix_webhook_deliveries_org", "organization_id", "created_at"),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'PENDING'")),
        Index(
            "ix_webhook_deliveries_test_clock_due",
            "test_clock_id",
            "next_attempt_at",
            postgresql_where=text("status = 'PENDING' AND test_clock_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = _org()
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(100), ForeignKey("webhook_events.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)  # redeliverWebhook's: not retried on the schedule
    # PENDING (due at next_attempt_at), SENDING, SUCCEEDED, FAILED, SKIPPED (the endpoint was disabled or deleted)
    status: Mapped[str] = mapped_column(String(12))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    # PENDING: when it is due. FAILED: when the next attempt goes (None: no further attempt).
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the clock's
    # Raised during a test clock's advance: due by that clock's time, sent by its advances (never by the sweep).
    test_clock_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("test_clocks.id", ondelete="CASCADE")
    )
