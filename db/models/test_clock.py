"""Test clocks: a TEST organization's own time for the customers created on it (docs/api.md, "Test clocks")."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, created_at, uuid_pk


class TestClockStatus(enum.StrEnum):
    READY = "READY"
    ADVANCING = "ADVANCING"


class TestClock(Base):
    __tablename__ = "test_clocks"
    __table_args__ = (CheckConstraint("status IN ('READY', 'ADVANCING')", name="status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    frozen_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default=TestClockStatus.READY.value, server_default="READY")
    # While ADVANCING: where the advance goes (an interrupted advance is resumed by asking for it again).
    advancing_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
