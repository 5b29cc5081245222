"""Usage reads: raw events where every event matters, hourly rollups where sums suffice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db import driver_sql
from db.locks import LockNamespace, advisory_xact_lock
from db.models import usage_events
from db.repositories.base import OrganizationScoped
from db.session import driver_connection


@dataclass(frozen=True, slots=True)
class StoredEvent:
    transaction_id: str
    metric_code: str
    timestamp: datetime
    properties: dict[str, Any] | None  # None: stored JSON that cannot be read back (e.g. nested too deeply)


_properties = msgspec.json.Decoder(float_hook=Decimal)


def _read_properties(text: str) -> dict[str, Any] | None:
    """A stored event's properties, numbers exact; None rather than an error for what cannot be read."""
    try:
        value = _properties.decode(text)
    except (msgspec.DecodeError, RecursionError, ValueError, ArithmeticError):
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True)
class UsageSpan:
    """What to read: events of one customer (sent for this subscription or for none) of some metrics in
    [start, end). `key` tells the answers of several spans apart."""

    key: int
    customer_external_id: str
    subscription_external_id: str
    metric_codes: tuple[str, ...]
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Rollup:
    metric_code: str
    dims: str
    events: int
    value_sum: Decimal
    value_max: Decimal | None


class UsageEventRepository(OrganizationScoped):
    async def events_in(self, spans: Sequence[UsageSpan]) -> dict[int, list[StoredEvent]]:
        """Every event of each span, in time order, by span key: one query for all of them."""
        if not spans:
            return {}
        found: dict[int, list[StoredEvent]] = defaultdict(list)
        for key, tid, code, moment, properties in await self._fetch("usage events in spans", _EVENTS_IN, spans):
            # properties read here, row by row: one unreadable row must not fail the query
            found[key].append(StoredEvent(tid, code, moment, _read_properties(properties)))
        return found

    async def rollups_in(self, spans: Sequence[UsageSpan]) -> dict[int, list[Rollup]]:
        """COUNT, SUM and MAX per metric and filter dimensions over each span's whole hours, by span key."""
        if not spans:
            return {}
        found: dict[int, list[Rollup]] = defaultdict(list)
        for key, code, dims, n, total, peak in await self._fetch("usage rollups in spans", _ROLLUPS_IN, spans):
            found[key].append(Rollup(code, dims, int(n), Decimal(total), peak))
        return found

    async def _fetch(self, shape: str, sql: str, spans: Sequence[UsageSpan]) -> list[Any]:
        """The statement sent as it is on the session's connection (db/driver_sql.py), in its transaction if it has
        one (as `session.execute` of a text statement: nothing pending is flushed first)."""
        return await driver_sql.fetch(await driver_connection(self.session), shape, lambda: text(sql),
                                      org=self.organization_id, **_span_params(spans))


# One row per span and metric code: (key, customer, subscription, code, start_at, end_at).
_SPANS = (
    "unnest(CAST(:keys AS int[]), CAST(:customers AS text[]), CAST(:subscriptions AS text[]), "
    "CAST(:codes AS text[]), CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[])) "
    "AS s(key, customer, subscription, code, start_at, end_at)"
)


def _span_params(spans: Sequence[UsageSpan]) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {k: [] for k in ("keys", "customers", "subscriptions", "codes", "starts", "ends")}
    for span in spans:
        for code in span.metric_codes:
            params["keys"].append(span.key)
            params["customers"].append(span.customer_external_id)
            params["subscriptions"].append(span.subscription_external_id)
            params["codes"].append(code)
            params["starts"].append(span.start)
            params["ends"].append(span.end)
    return params


async def ensure_month_partitions(session: AsyncSession, around: datetime, months_ahead: int = 3) -> list[str]:
    """Create the monthly partitions of usage_events from this month to `months_ahead` on (idempotent).

    They must exist before events arrive: a month's rows would otherwise land in the default
    partition, which then blocks creating that month's partition. Workers starting together
    take turns: `CREATE TABLE IF NOT EXISTS` fails with "already exists" against a concurrent
    create, so the check and the create happen under a lock held until the transaction ends."""
    await advisory_xact_lock(session, LockNamespace.USAGE_PARTITIONS, usage_events.name)
    created = []
    month = datetime(around.year, around.month, 1, tzinfo=around.tzinfo)
    for _ in range(months_ahead + 1):
        following = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=month.tzinfo)
        name = f"usage_events_{month:%Y%m}"
        exists = await session.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name})
        if not exists:
            await session.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF usage_events "
                    f"FOR VALUES FROM ('{month.date()}') TO ('{following.date()}')"
                )
            )
            created.append(name)
        month = following
    return created

_EVENTS_IN = f"""SELECT s.key, e.transaction_id, e.metric_code, e.timestamp, e.properties::text FROM {_SPANS}
JOIN usage_events e ON e.organization_id = :org AND e.customer_external_id = s.customer
 AND e.metric_code = s.code
 AND (e.subscription_external_id IS NULL OR e.subscription_external_id = s.subscription)
 AND e.timestamp >= s.start_at AND e.timestamp < s.end_at
ORDER BY s.key, e.timestamp, e.transaction_id"""

_ROLLUPS_IN = f"""SELECT s.key, r.metric_code, r.dims, sum(r.events), sum(r.value_sum), max(r.value_max)
FROM {_SPANS}
JOIN usage_rollups r ON r.organization_id = :org AND r.customer_external_id = s.customer
 AND r.metric_code = s.code
 AND (r.subscription_external_id = '' OR r.subscription_external_id = s.subscription)
 AND r.hour >= s.start_at AND r.hour < s.end_at
GROUP BY s.key, r.metric_code, r.dims"""
