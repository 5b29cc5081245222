"""Billable metrics and plans of one organization."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import exists, select

from db.models import BillableMetric, Charge, Plan, SubscriptionPhase
from db.repositories.base import ScopedRepository
from db.repositories.pagination import Page, paginate


class BillableMetricRepository(ScopedRepository[BillableMetric]):
    model = BillableMetric

    def _live(self):
        return select(BillableMetric).where(
            BillableMetric.organization_id == self.organization_id, BillableMetric.archived_at.is_(None)
        )

    async def by_code(self, code: str) -> BillableMetric | None:
        return await self.session.scalar(self._live().where(BillableMetric.code == code))

    async def by_codes(self, codes: Iterable[str]) -> dict[str, BillableMetric]:
        rows = await self.session.scalars(self._live().where(BillableMetric.code.in_(list(codes))))
        return {m.code: m for m in rows}

    async def all(self) -> list[BillableMetric]:
        return list(await self.session.scalars(self._live()))

    async def is_charged(self, metric_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(
                select(
                    exists().where(
                        Charge.billable_metric_id == metric_id, Charge.organization_id == self.organization_id
                    )
                )
            )
        )

    async def list(self, *, first: int | None, after: str | None) -> Page[BillableMetric]:
        return await paginate(
            self.session, self._live(), (BillableMetric.created_at, BillableMetric.id), first=first, after=after
        )


class PlanRepository(ScopedRepository[Plan]):
    model = Plan

    def _live(self):
        return select(Plan).where(Plan.organization_id == self.organization_id, Plan.archived_at.is_(None))

    async def add(self, plan: Plan) -> Plan:
        plan.organization_id = self.organization_id
        for charge in plan.charges:
            charge.organization_id = self.organization_id
        self.session.add(plan)
        await self.session.flush()
        return plan

    async def by_code(self, code: str) -> Plan | None:
        return await self.session.scalar(self._live().where(Plan.code == code))

    async def by_id(self, plan_id: uuid.UUID) -> Plan | None:
        return await self.get(plan_id)

    async def is_subscribed(self, plan_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(
                select(
                    exists().where(
                        SubscriptionPhase.plan_id == plan_id, SubscriptionPhase.organization_id == self.organization_id
                    )
                )
            )
        )

    async def list(self, *, first: int | None, after: str | None) -> Page[Plan]:
        return await paginate(self.session, self._live(), (Plan.created_at, Plan.id), first=first, after=after)
