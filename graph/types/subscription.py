from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db.models import Subscription as SubscriptionModel
from domain.periods import BillingTime as BillingTimeModel
from graph.context import Context
from graph.dataloaders import customer_now
from graph.scalars import JSON
from graph.types.customer import Customer
from graph.types.enums import BillingTime, SubscriptionStatus
from graph.types.plan import Plan
from services import subscriptions as rules


@strawberry.type(description="A customer on a plan: the billing object (the live root type is `Live`).")
class Subscription:
    id: strawberry.ID
    external_id: str
    name: str | None
    billing_time: BillingTime
    started_at: datetime
    trial_ends_at: datetime | None
    ending_at: datetime | None = strawberry.field(description="When a cancel takes effect (a period end).")
    terminated_at: datetime | None
    cancel_at_period_end: bool
    row: strawberry.Private[SubscriptionModel]

    @strawberry.field
    async def status(self, info: Info[Context, None]) -> SubscriptionStatus:
        return rules.status_now(self.row, await customer_now(info, self.row.customer))

    @strawberry.field
    def customer(self) -> Customer:
        return Customer.of(self.row.customer)

    @strawberry.field(description="The plan in effect now (the first one if not started yet).")
    async def plan(self, info: Info[Context, None]) -> Plan:
        return Plan.of(rules.phase_at(self.row, await customer_now(info, self.row.customer)).plan)

    @strawberry.field(description="The plan of a downgrade scheduled at the period end.")
    async def next_plan(self, info: Info[Context, None]) -> Plan | None:
        upcoming = rules.upcoming_phase(self.row, await customer_now(info, self.row.customer))
        return Plan.of(upcoming.plan) if upcoming else None

    @strawberry.field(description="When the scheduled downgrade takes effect.")
    async def downgrade_at(self, info: Info[Context, None]) -> datetime | None:
        upcoming = rules.upcoming_phase(self.row, await customer_now(info, self.row.customer))
        return upcoming.starts_at if upcoming else None

    @strawberry.field(description="This customer's own prices, overriding the plan's (enterprise deals).")
    async def plan_overrides(self, info: Info[Context, None]) -> JSON | None:
        return rules.phase_at(self.row, await customer_now(info, self.row.customer)).overrides or None

    @strawberry.field
    async def current_period_start(self, info: Info[Context, None]) -> datetime | None:
        period = await _period(self, info)
        return period.start if period else None

    @strawberry.field
    async def current_period_end(self, info: Info[Context, None]) -> datetime | None:
        period = await _period(self, info)
        return period.end if period else None

    @classmethod
    def of(cls, s: SubscriptionModel) -> Subscription:
        return cls(
            id=strawberry.ID(str(s.id)),
            external_id=s.external_id,
            name=s.name,
            billing_time=BillingTimeModel(s.billing_time),
            started_at=s.started_at,
            trial_ends_at=s.trial_ends_at,
            ending_at=s.ending_at,
            terminated_at=s.terminated_at,
            cancel_at_period_end=s.cancel_at_period_end,
            row=s,
        )


async def _period(subscription: Subscription, info: Info[Context, None]):
    now = await customer_now(info, subscription.row.customer)
    if not rules.is_live(rules.status_now(subscription.row, now)):
        return None
    organization = await info.context.loaders.organization.load(subscription.row.organization_id)
    return rules.current_period(
        subscription.row, rules.customer_timezone(subscription.row.customer, organization), now
    )
