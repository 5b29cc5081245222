"""Usage reads: raw events where every event matters, hourly rollups where sums suffice."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.locks import LockNamespace, advisory_xact_lock
from db.models import usage_events, usage_rollups


@dataclass(frozen=True, slots=True)
class StoredEvent:
    transaction_id: str
    metric_code: str
    timestamp: datetime
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rollup:
    metric_code: str
    dims: str
    events: int
    value_sum: Decimal
    value_max: Decimal | None


class UsageEventRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session = session
        self.organization_id = organization_id

    def _belongs(self, table: Any, customer_external_id: str, subscription_external_id: str) -> Any:
        """Events of the customer sent for this subscription or for none."""
        sub = table.c.subscription_external_id
        none = sub.is_(None) if table is usage_events else sub == ""
        return and_(
            table.c.organization_id == self.organization_id,
            table.c.customer_external_id == customer_external_id,
            or_(none, sub == subscription_external_id),
        )

    async def events(
        self,
        *,
        customer_external_id: str,
        subscription_external_id: str,
        metric_codes: Iterable[str],
        start: datetime,
        end: datetime,
    ) -> list[StoredEvent]:
        """Every event in [start, end), in time order."""
        t = usage_events
        rows = await self.session.execute(
            select(t.c.transaction_id, t.c.metric_code, t.c.timestamp, t.c.properties)
            .where(
                self._belongs(t, customer_external_id, subscription_external_id),
                t.c.metric_code.in_(list(metric_codes)),
                t.c.timestamp >= start,
                t.c.timestamp < end,
            )
            .order_by(t.c.timestamp, t.c.transaction_id)
        )
        return [StoredEvent(*row) for row in rows]

    async def rollups(
        self,
        *,
        customer_external_id: str,
        subscription_external_id: str,
        metric_codes: Iterable[str],
        start_hour: datetime,
        end_hour: datetime,
    ) -> list[Rollup]:
        """COUNT, SUM and MAX per metric and filter dimensions over whole hours [start_hour, end_hour)."""
        r = usage_rollups
        rows = await self.session.execute(
            select(r.c.metric_code, r.c.dims, func.sum(r.c.events), func.sum(r.c.value_sum), func.max(r.c.value_max))
            .where(
                self._belongs(r, customer_external_id, subscription_external_id),
                r.c.metric_code.in_(list(metric_codes)),
                r.c.hour >= start_hour,
                r.c.hour < end_hour,
            )
            .group_by(r.c.metric_code, r.c.dims)
        )
        return [Rollup(code, dims, int(n), Decimal(total), peak) for code, dims, n, total, peak in rows]


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
