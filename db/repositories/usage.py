"""Usage events: batched idempotent writes and period reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import UsageEventRow


class UsageEventRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session = session
        self.organization_id = organization_id

    async def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert the rows whose transaction id is new; return the transaction ids inserted."""
        if not rows:
            return set()
        stmt = (
            insert(UsageEventRow)
            .values([{**row, "organization_id": self.organization_id} for row in rows])
            .on_conflict_do_nothing(index_elements=["organization_id", "transaction_id"])
            .returning(UsageEventRow.transaction_id)
        )
        return set((await self.session.scalars(stmt)).all())

    async def for_subscription(
        self,
        *,
        customer_external_id: str,
        subscription_external_id: str,
        metric_codes: Iterable[str],
        start: datetime,
        end: datetime,
    ) -> list[UsageEventRow]:
        """Events of the customer in [start, end) for these metrics that belong to this subscription
        (sent with its external id, or with none)."""
        rows = await self.session.scalars(
            select(UsageEventRow)
            .where(
                UsageEventRow.organization_id == self.organization_id,
                UsageEventRow.customer_external_id == customer_external_id,
                UsageEventRow.metric_code.in_(list(metric_codes)),
                and_(UsageEventRow.timestamp >= start, UsageEventRow.timestamp < end),
                or_(
                    UsageEventRow.subscription_external_id.is_(None),
                    UsageEventRow.subscription_external_id == subscription_external_id,
                ),
            )
            .order_by(UsageEventRow.timestamp, UsageEventRow.transaction_id)
        )
        return list(rows)
