"""The outbox: what a committed transaction still has to tell Redis (live messages) and the queue (jobs)."""

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Table, func, text
from sqlalchemy.dialects.postgresql import JSONB

from db.models.base import Base

# One row per unit of work that published or enqueued anything, written last in its transaction.
# messages: [[channel, message text], ...]; jobs: [[function, [args...], job id], ...].
outbox = Table(
    "outbox",
    Base.metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    # clock_timestamp(): the time of the INSERT, which is the transaction's last statement (now() would be
    # the transaction's start, long before COMMIT for a billing batch).
    Column("created_at", DateTime(timezone=True), server_default=func.clock_timestamp(), nullable=False),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("messages", JSONB, server_default=text("'[]'::jsonb"), nullable=False),
    Column("jobs", JSONB, server_default=text("'[]'::jsonb"), nullable=False),
    Index("ix_outbox_undispatched", "id", postgresql_where=text("dispatched_at IS NULL")),
    Index("ix_outbox_created_at", "created_at"),
)
