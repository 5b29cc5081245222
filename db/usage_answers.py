"""Kept `customerUsage` answers (migration 0012): read back only while nothing they follow from changed.

An answer is kept with the versions it was computed under: the customer's usage version (bumped in the
same transaction as new events, by the usage writer, and as changes to the customer, its subscriptions and
their phases, by triggers) and the organization's catalog version (bumped by triggers on metrics, plans,
charges and the organization's time zone). It is reused only while both versions are still those and the
moment asked about lies in the stretch of time its subscription's period, phase and status hold for.

The versions are read in the same statement as the kept answer, and before anything the answer is computed
from: whatever changed after that read has bumped a version, so an answer computed from newer data than its
versions say is never reused (a miss), and one reused is exactly what computing it again would give.
Plain asyncpg on the read session's connection: the hit path is one statement, no ORM.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from db.session import driver_connection

# The moment asked about (the customer's test clock's time if it lives on one, else $4), the versions, and either
# the kept answer (if computed under them, holding at that moment and kept by this code: its first bytes are $5)
# or, to keep a new one, every moment at which the customer's subscriptions change status or phase (their periods
# follow from these too).
LOOKUP = """
WITH asked AS (
    SELECT coalesce((SELECT t.frozen_time FROM customers c JOIN test_clocks t ON t.id = c.test_clock_id
                     WHERE c.organization_id = $1 AND t.organization_id = $1 AND c.external_id = $2
                       AND c.deleted_at IS NULL LIMIT 1), $4::timestamptz) AS at
), versions AS (
    SELECT coalesce((SELECT version FROM usage_versions
                     WHERE organization_id = $1 AND customer_external_id = $2), 0) AS usage_version,
           coalesce((SELECT version FROM usage_catalog_versions WHERE organization_id = $1), 0) AS catalog_version
), kept AS (
    SELECT a.answer FROM usage_answers a, versions v, asked
    WHERE a.organization_id = $1 AND a.customer_external_id = $2 AND a.subscription_external_id = $3
      AND a.usage_version = v.usage_version AND a.catalog_version = v.catalog_version
      AND a.valid_from <= asked.at AND asked.at < a.valid_until AND substr(a.answer, 1, length($5::bytea)) = $5::bytea
)
SELECT asked.at, v.usage_version, v.catalog_version, (SELECT answer FROM kept) AS answer,
       CASE WHEN NOT EXISTS (SELECT FROM kept) THEN ARRAY(
           SELECT m FROM customers c
           JOIN subscriptions s ON s.organization_id = c.organization_id AND s.customer_id = c.id
           LEFT JOIN subscription_phases p ON p.subscription_id = s.id,
           unnest(ARRAY[s.started_at, s.trial_ends_at, s.ending_at, p.starts_at, p.ends_at]) AS m
           WHERE c.organization_id = $1 AND c.external_id = $2 AND c.deleted_at IS NULL AND m > asked.at
       ) END AS moments
FROM versions v, asked
"""

KEEP = """
INSERT INTO usage_answers AS a (organization_id, customer_external_id, subscription_external_id, usage_version,
                                catalog_version, valid_from, valid_until, answer)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (organization_id, customer_external_id, subscription_external_id) DO UPDATE
SET usage_version = excluded.usage_version, catalog_version = excluded.catalog_version,
    valid_from = excluded.valid_from, valid_until = excluded.valid_until, answer = excluded.answer
WHERE a.usage_version <= excluded.usage_version AND a.catalog_version <= excluded.catalog_version
"""


class Versions(NamedTuple):
    usage: int
    catalog: int


class Lookup(NamedTuple):
    at: datetime  # the moment asked about: the customer's test clock's time if it lives on one
    versions: Versions
    answer: bytes | None  # the kept answer, if it holds for the moment asked about
    moments: list[datetime]  # without one: the moments after `at` at which the customer's subscriptions change


async def lookup(
    session: AsyncSession, organization_id: uuid.UUID, customer: str, subscription: str | None, at: datetime,
    code: bytes,
) -> Lookup:
    """The moment asked about (the customer's test clock's time, else `at`), the current versions, and the kept answer
    if it was computed under them, holds at that moment and starts with `code` (which names the code that computed
    it), in one statement."""
    return await lookup_on(await driver_connection(session), organization_id, customer, subscription, at, code)


async def lookup_on(
    conn: asyncpg.Connection, organization_id: uuid.UUID, customer: str, subscription: str | None, at: datetime,
    code: bytes,
) -> Lookup:
    """`lookup` on an asyncpg connection (`Database.driver_read`)."""
    row = await conn.fetchrow(LOOKUP, organization_id, customer, subscription or "", at, code)
    return Lookup(row["at"], Versions(row["usage_version"], row["catalog_version"]), row["answer"],
                  row["moments"] or [])


async def keep(
    session: AsyncSession,
    organization_id: uuid.UUID,
    customer: str,
    subscription: str | None,
    versions: Versions,
    valid_from: datetime,
    valid_until: datetime,
    answer: bytes,
) -> None:
    """Keep an answer computed after `versions` were read, for [valid_from, valid_until) (one statement)."""
    conn: asyncpg.Connection = await driver_connection(session)
    await conn.execute(KEEP, organization_id, customer, subscription or "", versions.usage, versions.catalog,
                       valid_from, valid_until, answer)
