"""Billable metrics and plans."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.types import Info

from db.models import Role
from domain.aggregation import Aggregation as AggregationModel
from domain.errors import DomainError
from domain.periods import Interval
from domain.pricing import ChargeModel as ChargeModelEnum
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_use_case
from graph.scalars import JSON
from graph.types.billable_metric import BillableMetric
from graph.types.charge_properties import ChargePropertiesInput
from graph.types.enums import Aggregation, ChargeModel, PlanInterval
from graph.types.plan import Plan
from services import catalog
from services.errors import CatalogCode, Invalid


@strawberry.input
class BillableMetricFilterInput:
    key: str
    values: list[str]


@strawberry.input
class CreateBillableMetricInput:
    code: str
    name: str
    aggregation: Aggregation
    field_name: str | None = None
    recurring: bool = False
    description: str = ""
    filters: list[BillableMetricFilterInput] | None = None


@strawberry.input
class UpdateBillableMetricInput:
    code: str
    name: str | None = None
    description: str | None = None
    filters: list[BillableMetricFilterInput] | None = None


@strawberry.input
class DeleteBillableMetricInput:
    code: str


@strawberry.type
class BillableMetricPayload:
    billable_metric: BillableMetric | None
    user_errors: list[UserError]


@strawberry.input
class ChargeFilterInput:
    values: JSON = strawberry.field(description='Dimension → values, e.g. {"region": ["eu"]}.')
    properties: ChargePropertiesInput
    invoice_display_name: str | None = None


@strawberry.input
class ChargeInput:
    billable_metric_code: str
    model: ChargeModel
    properties: ChargePropertiesInput
    pay_in_advance: bool = False
    prorated: bool = strawberry.field(
        default=False,
        description="Bill each unit of a recurring COUNT or SUM metric for the days it was in use "
        "(STANDARD, GRADUATED or VOLUME, billed in arrears).",
    )
    min_amount: Decimal | None = None
    invoice_display_name: str | None = None
    filters: list[ChargeFilterInput] | None = None


@strawberry.input
class CreatePlanInput:
    code: str
    name: str
    interval: PlanInterval
    currency: str
    amount: Decimal
    pay_in_advance: bool = False
    trial_period_days: int = 0
    minimum_commitment: Decimal | None = None
    description: str = ""
    charges: list[ChargeInput] | None = None
    usage_thresholds: list[Decimal] | None = strawberry.field(
        default=None, description="Progressive billing: an interim invoice when current usage reaches each amount.")


@strawberry.input(
    description="Fields left out stay as they are. `charges`, when given, is the new list: a charge of a metric "
    "charged before keeps its id and tax rates and takes the new price; the other charges are removed, with theirs."
)
class UpdatePlanInput:
    code: str
    name: str | None = None
    description: str | None = None
    amount: Decimal | None = None
    trial_period_days: int | None = None
    minimum_commitment: Decimal | None = None
    charges: list[ChargeInput] | None = None


@strawberry.input
class DeletePlanInput:
    code: str


@strawberry.type
class PlanPayload:
    plan: Plan | None
    user_errors: list[UserError]


def _filters(items: list[BillableMetricFilterInput] | None) -> dict[str, list[str]]:
    return {f.key: list(f.values) for f in items or []}


def _charge_filter_values(raw: object, index: int) -> dict[str, list[str]]:
    if not isinstance(raw, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in raw.values()
    ):
        raise Invalid(
            'values is an object of string lists, e.g. {"region": ["eu"]}',
            field=("filters", str(index), "values"),
            code=CatalogCode.INVALID_FILTER_VALUES,
        )
    return raw


def _charges(items: list[ChargeInput] | None) -> list[catalog.ChargeSpec]:
    specs = []
    for index, c in enumerate(items or []):
        try:
            filters = [
                catalog.ChargeFilterSpec(
                    _charge_filter_values(f.values, i), f.properties.as_raw(), f.invoice_display_name
                )
                for i, f in enumerate(c.filters or [])
            ]
        except DomainError as exc:
            raise exc.at("charges", str(index)) from None
        specs.append(
            catalog.ChargeSpec(
                c.billable_metric_code,
                ChargeModelEnum(c.model),
                c.properties.as_raw(),
                c.pay_in_advance,
                c.prorated,
                c.min_amount,
                c.invoice_display_name,
                filters,
            )
        )
    return specs


@strawberry.type
class CatalogMutations:
    @strawberry.mutation(description="Define what is measured (ADMIN).")
    async def create_billable_metric(
        self, info: Info[Context, None], input: CreateBillableMetricInput
    ) -> BillableMetricPayload:
        spec = catalog.MetricSpec(
            code=input.code,
            name=input.name,
            aggregation=AggregationModel(input.aggregation),
            field_name=input.field_name,
            recurring=input.recurring,
            description=input.description,
            filters=_filters(input.filters),
        )
        metric, errors = await run_use_case(info, Role.ADMIN, lambda uow, a: catalog.create_metric(uow, a, spec))
        return BillableMetricPayload(billable_metric=BillableMetric.of(metric) if metric else None, user_errors=errors)

    @strawberry.mutation(description="Rename, describe or change a metric's filters (ADMIN).")
    async def update_billable_metric(
        self, info: Info[Context, None], input: UpdateBillableMetricInput
    ) -> BillableMetricPayload:
        metric, errors = await run_use_case(
            info,
            Role.ADMIN,
            lambda uow, a: catalog.update_metric(
                uow,
                a,
                input.code,
                name=input.name,
                description=input.description,
                filters=_filters(input.filters) if input.filters is not None else None,
            ),
        )
        return BillableMetricPayload(billable_metric=BillableMetric.of(metric) if metric else None, user_errors=errors)

    @strawberry.mutation(description="Delete a metric, or archive it if a plan charges it (ADMIN).")
    async def delete_billable_metric(
        self, info: Info[Context, None], input: DeleteBillableMetricInput
    ) -> BillableMetricPayload:
        metric, errors = await run_use_case(info, Role.ADMIN, lambda uow, a: catalog.delete_metric(uow, a, input.code))
        return BillableMetricPayload(billable_metric=BillableMetric.of(metric) if metric else None, user_errors=errors)

    @strawberry.mutation(description="Define a plan and its charges (ADMIN).")
    async def create_plan(self, info: Info[Context, None], input: CreatePlanInput) -> PlanPayload:
        async def use_case(uow, actor):
            spec = catalog.PlanSpec(
                code=input.code,
                name=input.name,
                interval=Interval(input.interval),
                currency=input.currency,
                amount=input.amount,
                pay_in_advance=input.pay_in_advance,
                trial_period_days=input.trial_period_days,
                minimum_commitment=input.minimum_commitment,
                description=input.description,
                charges=_charges(input.charges),
                usage_thresholds=input.usage_thresholds or (),
            )
            return await catalog.create_plan(uow, actor, spec)

        plan, errors = await run_use_case(info, Role.ADMIN, use_case)
        return PlanPayload(plan=Plan.of(plan) if plan else None, user_errors=errors)

    @strawberry.mutation(
        description="Change a plan; current usage and every invoice not yet issued use the new prices (ADMIN)."
    )
    async def update_plan(self, info: Info[Context, None], input: UpdatePlanInput) -> PlanPayload:
        async def use_case(uow, actor):
            return await catalog.update_plan(
                uow,
                actor,
                input.code,
                name=input.name,
                description=input.description,
                amount=input.amount,
                trial_period_days=input.trial_period_days,
                minimum_commitment=input.minimum_commitment,
                charges=_charges(input.charges) if input.charges is not None else None,
            )

        plan, errors = await run_use_case(info, Role.ADMIN, use_case)
        return PlanPayload(plan=Plan.of(plan) if plan else None, user_errors=errors)

    @strawberry.mutation(description="Delete a plan, or archive it if anyone subscribed to it (ADMIN).")
    async def delete_plan(self, info: Info[Context, None], input: DeletePlanInput) -> PlanPayload:
        plan, errors = await run_use_case(info, Role.ADMIN, lambda uow, a: catalog.delete_plan(uow, a, input.code))
        return PlanPayload(plan=Plan.of(plan) if plan else None, user_errors=errors)
