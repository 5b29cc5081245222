"""Subscriptions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from db.models import Role
from domain.periods import BillingTime as BillingTimeModel
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_rehearsal, run_use_case
from graph.types.charge_properties import ChargePropertiesInput
from graph.types.enums import BillingTime
from graph.types.plan_change_preview import SubscriptionPlanChangePreview
from graph.types.subscription import Subscription
from services import plan_changes, subscriptions


@strawberry.input
class ChargeOverrideInput:
    billable_metric_code: str
    properties: ChargePropertiesInput


@strawberry.input(description="This subscription's own prices (an enterprise deal); left out: the plan's.")
class PlanOverridesInput:
    amount: Decimal | None = None
    minimum_commitment: Decimal | None = None
    trial_period_days: int | None = None
    charges: list[ChargeOverrideInput] | None = None


@strawberry.input
class CreateSubscriptionInput:
    customer_external_id: str
    plan_code: str
    external_id: str | None = strawberry.field(default=None, description="Generated when left out.")
    name: str | None = None
    started_at: datetime | None = strawberry.field(
        default=None, description="Now when left out; may be past or future."
    )
    billing_time: BillingTime = BillingTimeModel.CALENDAR
    plan_overrides: PlanOverridesInput | None = None


@strawberry.input
class UpdateSubscriptionInput:
    external_id: str
    name: str | None = None


@strawberry.input(description="An upgrade (dearer per year) applies now; a downgrade at the period end.")
class ChangeSubscriptionPlanInput:
    external_id: str
    plan_code: str
    plan_overrides: PlanOverridesInput | None = None


@strawberry.input
class EndSubscriptionInput:
    external_id: str


@strawberry.type
class SubscriptionPayload:
    subscription: Subscription | None
    user_errors: list[UserError]


def _overrides(input: PlanOverridesInput | None) -> subscriptions.PlanOverrides | None:
    if input is None:
        return None
    charges = {c.billable_metric_code: c.properties.as_raw() for c in input.charges or []}
    return subscriptions.PlanOverrides(input.amount, input.minimum_commitment, input.trial_period_days, charges or None)


def _payload(result: object, errors: list[UserError]) -> SubscriptionPayload:
    return SubscriptionPayload(subscription=Subscription.of(result) if result else None, user_errors=errors)


@strawberry.type
class SubscriptionMutations:
    @strawberry.mutation(description="Subscribe a customer to a plan (FINANCE).")
    async def create_subscription(
        self, info: Info[Context, None], input: CreateSubscriptionInput
    ) -> SubscriptionPayload:
        spec = subscriptions.SubscriptionSpec(
            customer_external_id=input.customer_external_id,
            plan_code=input.plan_code,
            external_id=input.external_id,
            name=input.name,
            started_at=input.started_at,
            billing_time=BillingTimeModel(input.billing_time),
            overrides=_overrides(input.plan_overrides),
        )
        return _payload(
            *await run_use_case(info, Role.FINANCE, lambda uow, a: subscriptions.create_subscription(uow, a, spec))
        )

    @strawberry.mutation(description="Rename a subscription (FINANCE).")
    async def update_subscription(
        self, info: Info[Context, None], input: UpdateSubscriptionInput
    ) -> SubscriptionPayload:
        return _payload(
            *await run_use_case(
                info,
                Role.FINANCE,
                lambda uow, a: subscriptions.update_subscription(uow, a, input.external_id, name=input.name),
            )
        )

    @strawberry.mutation(description="Move to another plan: upgrades now, downgrades at period end (FINANCE).")
    async def change_subscription_plan(
        self, info: Info[Context, None], input: ChangeSubscriptionPlanInput
    ) -> SubscriptionPayload:
        return _payload(
            *await run_use_case(
                info,
                Role.FINANCE,
                lambda uow, a: plan_changes.change_subscription_plan(
                    uow, a, input.external_id, input.plan_code, _overrides(input.plan_overrides)
                ),
            )
        )

    @strawberry.mutation(description="End now, billed to today (FINANCE).")
    async def terminate_subscription(
        self, info: Info[Context, None], input: EndSubscriptionInput
    ) -> SubscriptionPayload:
        return _payload(
            *await run_use_case(
                info, Role.FINANCE, lambda uow, a: plan_changes.terminate_subscription(uow, a, input.external_id)
            )
        )

    @strawberry.mutation(description="End at the end of the current period (FINANCE).")
    async def cancel_subscription(self, info: Info[Context, None], input: EndSubscriptionInput) -> SubscriptionPayload:
        return _payload(
            *await run_use_case(
                info, Role.FINANCE, lambda uow, a: subscriptions.cancel_subscription(uow, a, input.external_id)
            )
        )


@strawberry.type
class SubscriptionPlanChangePreviewPayload:
    preview: SubscriptionPlanChangePreview | None
    user_errors: list[UserError]


@strawberry.type
class SubscriptionPreviewQueries:
    @strawberry.field(
        description="What changeSubscriptionPlan would do now (its credit notes, the invoice it would issue, when it "
        "takes effect), with nothing written: the same use case, rolled back (FINANCE)."
    )
    async def preview_subscription_plan_change(
        self, info: Info[Context, None], input: ChangeSubscriptionPlanInput
    ) -> SubscriptionPlanChangePreviewPayload:
        async def use_case(uow, actor):
            outcome = await plan_changes.plan_change(
                uow, actor, input.external_id, input.plan_code, _overrides(input.plan_overrides)
            )
            return SubscriptionPlanChangePreview.of(outcome)  # read now: the rollback takes the rows away

        preview, errors = await run_rehearsal(info, Role.FINANCE, use_case)
        return SubscriptionPlanChangePreviewPayload(preview=preview, user_errors=errors)
