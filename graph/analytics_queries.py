"""Revenue analytics (FINANCE or stronger)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from db.models import Role
from domain.errors import DomainError
from graph.context import Context
from graph.errors import PublicError
from graph.permissions import require_role
from graph.types.analytics import CustomerRevenue, Granularity, PlanRevenue, RevenuePoint
from services import analytics


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(
        description="MRR and its movements, customers, retention and cash figures per day, week or month of "
        "[from, to] (both included, at most 5 years, in the organization's time zone), in `currency` "
        "(default: the organization's); amounts are never converted between currencies. FINANCE or stronger."
    )
    async def revenue_metrics(
        self,
        info: Info[Context, None],
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        granularity: Granularity | None = Granularity.MONTH,
        currency: str | None = None,
    ) -> list[RevenuePoint]:
        actor = require_role(info, Role.FINANCE)
        try:
            points, valid_until = await analytics.revenue_answer(
                info.context.db,
                actor.organization_id,
                from_,
                to,
                granularity or Granularity.MONTH,
                currency,
                info.context.clock.now(),
            )
        except DomainError as error:
            raise PublicError(error.message, error.code) from None
        if valid_until is not None:
            info.context.not_after(valid_until)
        return [RevenuePoint.of(point) for point in points]

    @strawberry.field(
        description="The customers with the most usage revenue from invoices finalized in [from, to] (both included, "
        "at most 5 years, in the organization's time zone), in `currency` (default: the organization's), with their "
        "invoiced totals and MRR at the range's end; ties by invoiced amount. `limit` 1 to 100. FINANCE or stronger."
    )
    async def top_customers(
        self,
        info: Info[Context, None],
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        currency: str | None = None,
        limit: int = 10,
    ) -> list[CustomerRevenue]:
        actor = require_role(info, Role.FINANCE)
        try:
            found = await analytics.top_customers(
                info.context.db, actor.organization_id, from_, to, currency, limit, info.context.clock.now()
            )
        except DomainError as error:
            raise PublicError(error.message, error.code) from None
        return [CustomerRevenue.of(item) for item in found]

    @strawberry.field(
        description="Per plan in `currency` (default: the organization's): MRR at the end of [from, to] and the fees "
        "its subscriptions were billed by period invoices finalized in the range, each line on the plan its "
        "subscription was on when the line's period began. Highest total first. FINANCE or stronger."
    )
    async def revenue_by_plan(
        self,
        info: Info[Context, None],
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        currency: str | None = None,
    ) -> list[PlanRevenue]:
        actor = require_role(info, Role.FINANCE)
        try:
            found = await analytics.revenue_by_plan(
                info.context.db, actor.organization_id, from_, to, currency, info.context.clock.now()
            )
        except DomainError as error:
            raise PublicError(error.message, error.code) from None
        return [PlanRevenue.of(item) for item in found]
