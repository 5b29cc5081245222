"""Usage alerts and their firings, one organization's."""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from db.models import BillableMetric, Customer, UsageAlert, UsageAlertFiring
from db.repositories.base import ScopedRepository
from db.repositories.subscriptions import _on_clock


class UsageAlertRepository(ScopedRepository[UsageAlert]):
    model = UsageAlert

    async def of_customer(self, customer_id: uuid.UUID) -> builtins.list[UsageAlert]:
        rows = await self.session.scalars(
            self._scoped().where(UsageAlert.customer_id == customer_id).order_by(UsageAlert.created_at, UsageAlert.id)
        )
        return list(rows)

    async def count_of_customer(self, customer_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(UsageAlert).where(
                    UsageAlert.organization_id == self.organization_id, UsageAlert.customer_id == customer_id
                )
            )
            or 0
        )

    async def metric_codes(self, metric_ids: builtins.list[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not metric_ids:
            return {}
        rows = await self.session.execute(
            select(BillableMetric.id, BillableMetric.code).where(
                BillableMetric.organization_id == self.organization_id, BillableMetric.id.in_(metric_ids)
            )
        )
        return {row_id: code for row_id, code in rows}

    async def customers_with_alerts(self, test_clock_id: uuid.UUID | None = None) -> builtins.list[uuid.UUID]:
        """Customers (not deleted) with at least one alert: those on real time, or those on the test clock
        `test_clock_id`."""
        rows = await self.session.scalars(
            select(UsageAlert.customer_id)
            .where(
                UsageAlert.organization_id == self.organization_id,
                UsageAlert.customer_id.in_(
                    _on_clock(self.organization_id, test_clock_id).where(Customer.deleted_at.is_(None))
                ),
            )
            .distinct()
        )
        return list(rows)

    async def fire(self, values: dict[str, Any]) -> uuid.UUID | None:
        """Record a firing unless one of the same alert, subscription period and threshold exists: its id when
        this call made it, None when it was there already (a concurrent or repeated check)."""
        inserted = await self.session.scalar(
            insert(UsageAlertFiring)
            .values(organization_id=self.organization_id, **values)
            .on_conflict_do_nothing(constraint="uq_usage_alert_firings_once_per_period")
            .returning(UsageAlertFiring.id)
        )
        return inserted

    async def fired_keys(
        self, alert_ids: builtins.list[uuid.UUID], subscription_id: uuid.UUID, period_start: Any
    ) -> set[tuple[uuid.UUID, Any]]:
        """(alert, threshold) pairs that fired already for this subscription period."""
        if not alert_ids:
            return set()
        rows = await self.session.execute(
            select(UsageAlertFiring.alert_id, UsageAlertFiring.threshold).where(
                UsageAlertFiring.organization_id == self.organization_id,
                UsageAlertFiring.alert_id.in_(alert_ids),
                UsageAlertFiring.subscription_id == subscription_id,
                UsageAlertFiring.period_start == period_start,
            )
        )
        return {(alert_id, threshold) for alert_id, threshold in rows}

    async def last_firings(self, alert_ids: builtins.list[uuid.UUID]) -> dict[uuid.UUID, UsageAlertFiring]:
        """Each alert's latest firing."""
        if not alert_ids:
            return {}
        rows = await self.session.scalars(
            select(UsageAlertFiring)
            .where(UsageAlertFiring.organization_id == self.organization_id, UsageAlertFiring.alert_id.in_(alert_ids))
            .distinct(UsageAlertFiring.alert_id)
            .order_by(UsageAlertFiring.alert_id, UsageAlertFiring.triggered_at.desc(), UsageAlertFiring.id)
        )
        return {row.alert_id: row for row in rows}

    async def firing(self, firing_id: uuid.UUID) -> UsageAlertFiring | None:
        return await self.session.scalar(
            select(UsageAlertFiring).where(
                UsageAlertFiring.organization_id == self.organization_id, UsageAlertFiring.id == firing_id
            )
        )



