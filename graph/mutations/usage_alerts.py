"""Usage alerts: set by the organization's staff (FINANCE) or by a customer portal link for its own customer."""

from __future__ import annotations

import uuid
from decimal import Decimal

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import PublicError, UserError
from graph.mutations.common import run_as, run_customer_use_case
from graph.permissions import portal_customer, portal_or_role
from graph.types.usage_alert import UsageAlert, UsageAlertThresholdType
from services import usage_alerts
from services.errors import CommonCode, Invalid, NotFound
from services.usage_alerts import ThresholdType


@strawberry.input
class CreateUsageAlertInput:
    customer_external_id: str
    threshold_type: UsageAlertThresholdType  # type: ignore[valid-type]
    threshold: Decimal = strawberry.field(
        description="AMOUNT: in the currency of the customer's plan (e.g. \"80.00\"); UNITS: a quantity of the metric."
    )
    metric_code: str | None = strawberry.field(
        default=None, description="Required for UNITS; for AMOUNT: only that metric's charges (else all of them)."
    )
    name: str | None = strawberry.field(default=None, description="Shown in the email, e.g. \"80 % of budget\".")


@strawberry.input(description="Unset fields keep their value.")
class UpdateUsageAlertInput:
    id: strawberry.ID
    threshold: Decimal | None = strawberry.field(
        default=None, description="A new threshold: it may fire again in this period when usage reaches it."
    )
    name: str | None = None


@strawberry.input
class UsageAlertIdInput:
    id: strawberry.ID


@strawberry.type
class UsageAlertPayload:
    usage_alert: UsageAlert | None
    user_errors: list[UserError]


def _alert_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid("not a valid id", field=("id",), code=CommonCode.INVALID_ID) from None


@strawberry.type
class UsageAlertQueries:
    @strawberry.field(
        description="A customer's usage alerts, oldest first, with when each last fired (VIEWER; a customer portal "
        "link: its own customer's, customerExternalId may be left out)."
    )
    async def usage_alerts(
        self, info: Info[Context, None], customer_external_id: str | None = None
    ) -> list[UsageAlert]:
        actor, external_id = portal_customer(info, customer_external_id)
        if external_id is None:
            raise PublicError("customerExternalId is required", "REQUIRED")
        async with info.context.db.read() as session:
            try:
                views = await usage_alerts.alerts_of_customer(session, actor, external_id)
            except NotFound:
                return []
        return [UsageAlert.of(v) for v in views]


@strawberry.type
class UsageAlertMutations:
    @strawberry.mutation(
        description="A usage alert for a customer (FINANCE; a customer portal link: its own customer): at most "
        "one email and one customer.usage_alert_triggered webhook event per billing period once usage reaches it."
    )
    async def create_usage_alert(self, info: Info[Context, None], input: CreateUsageAlertInput) -> UsageAlertPayload:
        view, errors = await run_customer_use_case(
            info,
            Role.FINANCE,
            input.customer_external_id,
            lambda uow, actor: usage_alerts.create_alert(
                uow,
                actor,
                customer_external_id=input.customer_external_id,
                threshold_type=ThresholdType(input.threshold_type),
                threshold=input.threshold,
                metric_code=input.metric_code,
                name=input.name,
            ),
        )
        return UsageAlertPayload(usage_alert=UsageAlert.of(view) if view else None, user_errors=errors)

    @strawberry.mutation(description="Change a usage alert's threshold or name (FINANCE; a portal link: its own).")
    async def update_usage_alert(self, info: Info[Context, None], input: UpdateUsageAlertInput) -> UsageAlertPayload:
        actor = portal_or_role(info, Role.FINANCE)
        view, errors = await run_as(
            info,
            actor,
            lambda uow, a: usage_alerts.update_alert(
                uow, a, _alert_id(input.id), threshold=input.threshold, name=input.name
            ),
        )
        return UsageAlertPayload(usage_alert=UsageAlert.of(view) if view else None, user_errors=errors)

    @strawberry.mutation(description="Delete a usage alert (FINANCE; a portal link: its own); returns it as it was.")
    async def delete_usage_alert(self, info: Info[Context, None], input: UsageAlertIdInput) -> UsageAlertPayload:
        actor = portal_or_role(info, Role.FINANCE)
        view, errors = await run_as(
            info, actor, lambda uow, a: usage_alerts.delete_alert(uow, a, _alert_id(input.id))
        )
        return UsageAlertPayload(usage_alert=UsageAlert.of(view) if view else None, user_errors=errors)
