"""Usage tables (migration 0003): written by db.usage_writer with COPY, read by db.repositories.usage.

They are plain Core tables: no ORM object is ever built per event.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, LargeBinary, Numeric, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID

from db.models.base import Base

SKIP = {"skip_autogenerate": True}  # partitioned: managed by hand-written migrations

usage_event_keys = Table(
    "usage_event_keys",
    Base.metadata,
    Column("organization_id", UUID(as_uuid=True), primary_key=True),
    Column("transaction_id", String(200), primary_key=True),
    info=SKIP,
)

usage_events = Table(
    "usage_events",
    Base.metadata,
    Column("organization_id", UUID(as_uuid=True), nullable=False),
    Column("transaction_id", String(200), nullable=False),
    Column("customer_external_id", String(200), nullable=False),
    Column("subscription_external_id", String(200)),
    Column("metric_code", String(100), nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("properties", JSONB, nullable=False),
    Column("value", Numeric),
    Column("dims", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    info=SKIP,
)

usage_rollups = Table(
    "usage_rollups",
    Base.metadata,
    Column("organization_id", UUID(as_uuid=True), primary_key=True),
    Column("customer_external_id", String(200), primary_key=True),
    Column("metric_code", String(100), primary_key=True),
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("subscription_external_id", String(200), primary_key=True),
    Column("dims", Text, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("value_sum", Numeric, nullable=False),
    Column("value_max", Numeric),
    info=SKIP,
)


# Migration 0012: what kept customerUsage answers are checked against (db/usage_answers.py), and the answers.
usage_versions = Table(
    "usage_versions",
    Base.metadata,
    Column("organization_id", UUID(as_uuid=True), primary_key=True),
    Column("customer_external_id", String(200), primary_key=True),
    Column("version", BigInteger, nullable=False),
    info=SKIP,
)

usage_catalog_versions = Table(
    "usage_catalog_versions",
    Base.metadata,
    Column("organization_id", UUID(as_uuid=True), primary_key=True),
    Column("version", BigInteger, nullable=False),
    info=SKIP,
)

usage_answers = Table(
    "usage_answers",
    Base.metadata,
    Column("organization_id", UUID(as_uuid=True), primary_key=True),
    Column("customer_external_id", String(200), primary_key=True),
    Column("subscription_external_id", String(200), primary_key=True),
    Column("usage_version", BigInteger, nullable=False),
    Column("catalog_version", BigInteger, nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=False),
    Column("answer", LargeBinary, nullable=False),
    info=SKIP,
)
