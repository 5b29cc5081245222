"""Billable metrics and plans: create, update, delete (archive when referenced)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, overload

from db.models import BillableMetric, Charge, Plan
from db.repositories.billing import TaxRateRepository
from db.repositories.catalog import BillableMetricRepository, PlanRepository
from db.session import UnitOfWork
from domain import aggregation, money, pricing
from domain.errors import DomainError, NegativeUnits
from domain.periods import Interval
from services import audit
from services.actors import Actor
from services.catalog_changes import catalog_changed
from services.errors import AlreadyExists, CatalogCode, CommonCode, Invalid, NotFound, found

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")


def check_code(code: str, field: tuple[str, ...]) -> str:
    if not CODE.match(code or ""):
        raise Invalid(
            "a code is 1 to 100 letters, digits, '_', '-', '.', ':' and starts with a letter or digit",
            field=field,
            code=CatalogCode.INVALID_CODE,
        )
    return code


def check_name(name: str, field: tuple[str, ...]) -> str:
    if not (name or "").strip():
        raise Invalid("a name is required", field=field, code=CommonCode.REQUIRED)
    return name.strip()


# --- billable metrics ---------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    code: str
    name: str
    aggregation: str
    field_name: str | None = None
    recurring: bool = False
    description: str = ""
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _check_metric_filters(filters: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    checked: dict[str, list[str]] = {}
    for index, (key, values) in enumerate(filters.items()):
        if not key.strip():
            raise Invalid("a filter needs a key", field=("filters", str(index), "key"), code=CommonCode.REQUIRED)
        if not values or len(set(values)) != len(values):
            raise Invalid(
                "a filter needs distinct values",
                field=("filters", str(index), "values"),
                code=CatalogCode.INVALID_FILTER_VALUES,
            )
        checked[key] = list(values)
    return checked


def metric_view(metric: BillableMetric) -> dict[str, Any]:
    return {
        "code": metric.code,
        "name": metric.name,
        "aggregation": metric.aggregation,
        "fieldName": metric.field_name,
        "recurring": metric.recurring,
        "filters": metric.filters,
    }


async def create_metric(uow: UnitOfWork, actor: Actor, spec: MetricSpec) -> BillableMetric:
    repo = BillableMetricRepository(uow.session, actor.organization_id)
    check_code(spec.code, ("code",))
    kind = aggregation.Aggregation(spec.aggregation)
    aggregation.validate_metric(kind, spec.field_name or None, spec.recurring)
    filters = _check_metric_filters(spec.filters)
    if await repo.by_code(spec.code) is not None:
        raise AlreadyExists(f"a billable metric with code {spec.code!r} exists", field=("code",))
    metric = await repo.add(
        BillableMetric(
            code=spec.code,
            name=check_name(spec.name, ("name",)),
            description=spec.description or "",
            aggregation=kind.value,
            field_name=spec.field_name or None,
            recurring=spec.recurring,
            filters=filters,
        )
    )
    await audit.record(uow, actor, "billable_metric.created", "billable_metric", metric.id, after=metric_view(metric))
    return metric


async def update_metric(
    uow: UnitOfWork,
    actor: Actor,
    code: str,
    *,
    name: str | None,
    description: str | None,
    filters: Mapping[str, Sequence[str]] | None,
) -> BillableMetric:
    """Name, description and filters may change; what is aggregated may not (it would rewrite history)."""
    repo = BillableMetricRepository(uow.session, actor.organization_id)
    metric = found(
        await repo.by_code(code),
        NotFound(f"no billable metric with code {code!r}", field=("code",)),
    )
    before = metric_view(metric)
    if name is not None:
        metric.name = check_name(name, ("name",))
    if description is not None:
        metric.description = description
    if filters is not None:
        metric.filters = _check_metric_filters(filters)
    await audit.record(
        uow, actor, "billable_metric.updated", "billable_metric", metric.id, before=before, after=metric_view(metric)
    )
    await catalog_changed(uow, actor.organization_id)  # the filters decide the rollup key of each event
    return metric


async def delete_metric(uow: UnitOfWork, actor: Actor, code: str) -> BillableMetric:
    """Deleted when no plan charges it, archived otherwise (its code is then free again)."""
    repo = BillableMetricRepository(uow.session, actor.organization_id)
    metric = found(
        await repo.by_code(code),
        NotFound(f"no billable metric with code {code!r}", field=("code",)),
    )
    if await repo.is_charged(metric.id):
        metric.archived_at = uow.clock.now()
        action = "billable_metric.archived"
    else:
        await repo.delete(metric)
        action = "billable_metric.deleted"
    await audit.record(uow, actor, action, "billable_metric", metric.id, before=metric_view(metric))
    await catalog_changed(uow, actor.organization_id)  # its events are refused from now on
    return metric


# --- plans ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeFilterSpec:
    values: Mapping[str, Sequence[str]]
    properties: Mapping[str, Any]
    invoice_display_name: str | None = None


@dataclass(frozen=True)
class ChargeSpec:
    billable_metric_code: str
    model: str
    properties: Mapping[str, Any]
    pay_in_advance: bool = False
    prorated: bool = False
    min_amount: Decimal | None = None
    invoice_display_name: str | None = None
    filters: Sequence[ChargeFilterSpec] = ()


@dataclass(frozen=True)
class PlanSpec:
    code: str
    name: str
    interval: str
    currency: str
    amount: Decimal
    pay_in_advance: bool = False
    trial_period_days: int = 0
    minimum_commitment: Decimal | None = None
    description: str = ""
    charges: Sequence[ChargeSpec] = ()
    usage_thresholds: Sequence[Decimal] = ()


def _thresholds(values: Sequence[Any]) -> list[str]:
    """Progressive billing: usage amounts (before tax) that trigger an interim invoice, strictly increasing."""
    checked: list[Decimal] = []
    for index, value in enumerate(values):
        amount = _amount(value, ("usageThresholds", str(index)))
        if amount <= 0 or (checked and amount <= checked[-1]):
            raise Invalid(
                "thresholds are positive and strictly increasing",
                field=("usageThresholds", str(index)),
                code=CatalogCode.INVALID_THRESHOLDS,
            )
        checked.append(amount)
    return [str(v) for v in checked]


@overload
def _amount(value: Any, field: tuple[str, ...]) -> Decimal: ...
@overload
def _amount(value: Any, field: tuple[str, ...], *, optional: bool) -> Decimal | None: ...
def _amount(value: Any, field: tuple[str, ...], *, optional: bool = False) -> Decimal | None:
    if value is None and optional:
        return None
    parsed = money.parse_decimal(value, field=field)
    if parsed < 0:
        raise Invalid("must not be negative", field=field, code=CommonCode.NEGATIVE_AMOUNT)
    return parsed


def parse_charge_properties(
    model: pricing.ChargeModel, raw: Mapping[str, Any], at: tuple[str, ...]
) -> pricing.ChargeProperties:
    try:
        return pricing.parse_properties(model, raw)
    except DomainError as exc:
        raise exc.at(*at) from None


def _check_charge_filters(
    metric: BillableMetric, model: pricing.ChargeModel, filters: Sequence[ChargeFilterSpec], at: tuple[str, ...]
) -> list[dict[str, Any]]:
    checked = []
    for index, spec in enumerate(filters):
        here = (*at, "filters", str(index))
        if not spec.values:
            raise Invalid(
                "a charge filter needs at least one dimension", field=(*here, "values"), code=CommonCode.REQUIRED
            )
        for key, values in spec.values.items():
            allowed = metric.filters.get(key)
            if allowed is None:
                raise Invalid(
                    f"the metric {metric.code!r} has no filter {key!r}",
                    field=(*here, "values"),
                    code=CatalogCode.UNKNOWN_FILTER,
                )
            unknown = [v for v in values if v not in allowed]
            if unknown or not values:
                raise Invalid(
                    f"values {unknown} are not allowed for {key!r} (allowed: {allowed})",
                    field=(*here, "values"),
                    code=CatalogCode.UNKNOWN_FILTER_VALUE,
                )
        props = parse_charge_properties(model, spec.properties, (*here, "properties"))
        checked.append(
            {
                "values": {k: list(v) for k, v in spec.values.items()},
                "properties": pricing.properties_as_json(props),
                "invoiceDisplayName": spec.invoice_display_name,
            }
        )
    return checked


PRORATED_MODELS = (pricing.ChargeModel.STANDARD, pricing.ChargeModel.GRADUATED, pricing.ChargeModel.VOLUME)


def _check_proration(metric: BillableMetric, model: pricing.ChargeModel, in_advance: bool, at: tuple[str, ...]) -> None:
    """A prorated charge prices a recurring level of units by days in use (as Lago does)."""
    try:
        aggregation.validate_proration(aggregation.Aggregation(metric.aggregation), metric.recurring)
    except DomainError as exc:
        raise Invalid(exc.message, field=at, code=exc.code) from None
    if model not in PRORATED_MODELS or in_advance:
        raise Invalid(
            "only STANDARD, GRADUATED and VOLUME charges billed in arrears can be prorated",
            field=at,
            code=CatalogCode.PRORATION_NOT_SUPPORTED,
        )


@dataclass(frozen=True)
class ChargePricePreview:
    currency: str
    fee: pricing.ChargeFee  # unrounded, with its breakdown
    amount: Decimal  # rounded once, as an invoice line


def preview_charge_price(model: str, properties: Mapping[str, Any], quantity: Any, currency: str) -> ChargePricePreview:
    """A charge's price for a quantity: its properties read and checked as createPlan reads them, priced by the
    rule billing uses (`pricing.quantity_fee`), rounded as an invoice line. Nothing is read or written."""
    checked_currency = _currency(currency)
    units = money.parse_decimal(quantity, field=("quantity",))
    if units < 0:
        raise NegativeUnits("quantity must not be negative", field=("quantity",))
    charge_model = pricing.ChargeModel(model)
    props = parse_charge_properties(charge_model, properties, ("properties",))
    fee = pricing.quantity_fee(charge_model, props, units)
    return ChargePricePreview(checked_currency, fee, pricing.rounded_fee(fee, checked_currency))


async def _checked_charges(uow: UnitOfWork, actor: Actor, specs: Sequence[ChargeSpec]) -> list[dict[str, Any]]:
    """The column values of each charge, checked, in the order given."""
    metrics = await BillableMetricRepository(uow.session, actor.organization_id).by_codes(
        {c.billable_metric_code for c in specs}
    )
    charges = []
    for index, spec in enumerate(specs):
        at = ("charges", str(index))
        metric = metrics.get(spec.billable_metric_code)
        if metric is None:
            raise NotFound(
                f"no billable metric with code {spec.billable_metric_code!r}",
                field=(*at, "billableMetricCode"),
                code=CatalogCode.UNKNOWN_METRIC,
            )
        model = pricing.ChargeModel(spec.model)
        if model is pricing.ChargeModel.PERCENTAGE and metric.aggregation != aggregation.Aggregation.SUM:
            raise Invalid(
                "a PERCENTAGE charge prices each event's amount: its metric must aggregate with SUM",
                field=(*at, "model"),
                code=CatalogCode.PERCENTAGE_REQUIRES_SUM,
            )
        if spec.prorated:
            _check_proration(metric, model, spec.pay_in_advance, (*at, "prorated"))
        props = parse_charge_properties(model, spec.properties, (*at, "properties"))
        charges.append(
            {
                "billable_metric": metric,
                "billable_metric_id": metric.id,
                "position": index,
                "model": model.value,
                "pay_in_advance": spec.pay_in_advance,
                "prorated": spec.prorated,
                "min_amount": _amount(spec.min_amount, (*at, "minAmount"), optional=True),
                "invoice_display_name": spec.invoice_display_name,
                "properties": pricing.properties_as_json(props),
                "filters": _check_charge_filters(metric, model, spec.filters, at),
            }
        )
    return charges


def _reconcile_charges(
    current: Sequence[Charge], wanted: Sequence[dict[str, Any]], organization_id: uuid.UUID
) -> tuple[list[Charge], list[Charge]]:
    """The plan's charges after an update, and those removed.

    A charge whose metric is still charged is updated in place and keeps its id, so what refers to
    it stays with it: its tax rates, the billing keys of its pay-in-advance interim invoices. When a
    metric is charged more than once, the n-th charge of it in the new list is its n-th one before."""
    unclaimed: dict[uuid.UUID, list[Charge]] = {}
    for charge in current:  # in position order
        unclaimed.setdefault(charge.billable_metric_id, []).append(charge)
    charges = []
    for fields in wanted:
        same_metric = unclaimed.get(fields["billable_metric_id"])
        if same_metric:
            charge = same_metric.pop(0)
            for name, value in fields.items():
                setattr(charge, name, value)
        else:
            charge = Charge(organization_id=organization_id, **fields)
        charges.append(charge)
    return charges, [charge for rest in unclaimed.values() for charge in rest]


def plan_view(plan: Plan) -> dict[str, Any]:
    return {
        "code": plan.code,
        "name": plan.name,
        "interval": plan.interval,
        "currency": plan.currency,
        "amount": plan.amount,
        "payInAdvance": plan.pay_in_advance,
        "trialPeriodDays": plan.trial_period_days,
        "minimumCommitment": plan.minimum_commitment,
        "usageThresholds": plan.usage_thresholds,
        "charges": [
            {
                "billableMetricCode": c.billable_metric.code,
                "model": c.model,
                "properties": c.properties,
                "filters": c.filters,
            }
            for c in plan.charges
        ],
    }


def _currency(value: str) -> str:
    currency = (value or "").strip().upper()
    try:
        return money.validate_currency(currency)
    except DomainError as exc:
        raise Invalid(exc.message, field=("currency",), code=exc.code) from None


def _check_trial(days: int) -> int:
    if days < 0 or days > 3650:
        raise Invalid(
            "trialPeriodDays is between 0 and 3650", field=("trialPeriodDays",), code=CatalogCode.INVALID_TRIAL
        )
    return days


async def create_plan(uow: UnitOfWork, actor: Actor, spec: PlanSpec) -> Plan:
    repo = PlanRepository(uow.session, actor.organization_id)
    check_code(spec.code, ("code",))
    currency = _currency(spec.currency)
    plan = Plan(
        code=spec.code,
        name=check_name(spec.name, ("name",)),
        description=spec.description or "",
        interval=Interval(spec.interval).value,
        currency=currency,
        amount=_amount(spec.amount, ("amount",)),
        pay_in_advance=spec.pay_in_advance,
        trial_period_days=_check_trial(spec.trial_period_days),
        minimum_commitment=_amount(spec.minimum_commitment, ("minimumCommitment",), optional=True),
        charges=[Charge(**fields) for fields in await _checked_charges(uow, actor, spec.charges)],
        usage_thresholds=_thresholds(spec.usage_thresholds),
    )
    if await repo.by_code(spec.code) is not None:
        raise AlreadyExists(f"a plan with code {spec.code!r} exists", field=("code",))
    await repo.add(plan)
    await audit.record(uow, actor, "plan.created", "plan", plan.id, after=plan_view(plan))
    return plan


async def update_plan(
    uow: UnitOfWork,
    actor: Actor,
    code: str,
    *,
    name: str | None = None,
    description: str | None = None,
    amount: Decimal | None = None,
    trial_period_days: int | None = None,
    minimum_commitment: Decimal | None = None,
    charges: Sequence[ChargeSpec] | None = None,
) -> Plan:
    """Changes apply to every subscription on the plan: current usage and every invoice not issued yet.

    `charges` replaces the list: a charge of a metric still charged keeps its id and tax rates; a
    charge removed loses its tax-rate assignments."""
    repo = PlanRepository(uow.session, actor.organization_id)
    plan = found(
        await repo.by_code(code),
        NotFound(f"no plan with code {code!r}", field=("code",)),
    )
    before = plan_view(plan)
    if name is not None:
        plan.name = check_name(name, ("name",))
    if description is not None:
        plan.description = description
    if amount is not None:
        plan.amount = _amount(amount, ("amount",))
    if trial_period_days is not None:
        plan.trial_period_days = _check_trial(trial_period_days)
    if minimum_commitment is not None:
        plan.minimum_commitment = _amount(minimum_commitment, ("minimumCommitment",))
    removed: list[Charge] = []
    if charges is not None:
        plan.charges, removed = _reconcile_charges(
            plan.charges, await _checked_charges(uow, actor, charges), actor.organization_id
        )
    await uow.session.flush()
    if removed:
        await TaxRateRepository(uow.session, actor.organization_id).unassign_all("CHARGE", [c.id for c in removed])
    await audit.record(uow, actor, "plan.updated", "plan", plan.id, before=before, after=plan_view(plan))
    return plan


async def delete_plan(uow: UnitOfWork, actor: Actor, code: str) -> Plan:
    repo = PlanRepository(uow.session, actor.organization_id)
    plan = found(
        await repo.by_code(code),
        NotFound(f"no plan with code {code!r}", field=("code",)),
    )
    before = plan_view(plan)
    if await repo.is_subscribed(plan.id):
        plan.archived_at = uow.clock.now()
        action = "plan.archived"
    else:
        await repo.delete(plan)
        action = "plan.deleted"
    await audit.record(uow, actor, action, "plan", plan.id, before=before)
    return plan
