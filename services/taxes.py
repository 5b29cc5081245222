"""Tax rates: define them, attach them to customers, plans and charges."""

from __future__ import annotations

from decimal import Decimal

from db.models import TaxRate
from db.repositories.billing import TaxRateRepository
from db.repositories.catalog import PlanRepository
from db.repositories.customers import CustomerRepository
from db.session import UnitOfWork
from domain import tax
from services import audit
from services.actors import Actor
from services.catalog import check_code, check_name
from services.errors import AlreadyExists, CatalogCode, Invalid, NotFound, found


async def create_tax_rate(
    uow: UnitOfWork, actor: Actor, code: str, name: str, rate: Decimal, applies_to_organization: bool
) -> TaxRate:
    check_code(code, ("code",))
    checked = tax.TaxRate(code=code, name=check_name(name, ("name",)), rate=rate)
    repo = TaxRateRepository(uow.session, actor.organization_id)
    if await repo.by_code(code) is not None:
        raise AlreadyExists(f"a tax rate with code {code!r} exists", field=("code",))
    row = await repo.add(
        TaxRate(code=code, name=checked.name, rate=checked.rate, applies_to_organization=applies_to_organization)
    )
    await audit.record(
        uow,
        actor,
        "tax_rate.created",
        "tax_rate",
        row.id,
        after={"code": code, "name": row.name, "rate": row.rate, "organization": applies_to_organization},
    )
    return row


async def assign_tax_rate(
    uow: UnitOfWork,
    actor: Actor,
    tax_rate_code: str,
    *,
    customer_external_id: str | None,
    plan_code: str | None,
    billable_metric_code: str | None,
) -> TaxRate:
    repo = TaxRateRepository(uow.session, actor.organization_id)
    rate = found(
        await repo.by_code(tax_rate_code),
        NotFound(f"no tax rate with code {tax_rate_code!r}", field=("taxRateCode",)),
    )
    if (customer_external_id is None) == (plan_code is None):
        raise Invalid(
            "give either customerExternalId or planCode (with billableMetricCode for a charge)",
            field=("customerExternalId",),
            code=CatalogCode.ONE_TARGET_REQUIRED,
        )
    if customer_external_id is not None:
        customer = found(
            await CustomerRepository(uow.session, actor.organization_id).by_external_id(customer_external_id),
            NotFound(f"no customer {customer_external_id!r}", field=("customerExternalId",)),
        )
        target_type, target_id = "CUSTOMER", customer.id
    else:
        plan = found(
            await PlanRepository(uow.session, actor.organization_id).by_code(plan_code or ""),
            NotFound(f"no plan {plan_code!r}", field=("planCode",)),
        )
        target_type, target_id = "PLAN", plan.id
        if billable_metric_code is not None:
            charge = next((c for c in plan.charges if c.billable_metric.code == billable_metric_code), None)
            if charge is None:
                raise NotFound(f"the plan has no charge for {billable_metric_code!r}", field=("billableMetricCode",))
            target_type, target_id = "CHARGE", charge.id
    await repo.assign(rate, target_type, target_id)
    await audit.record(
        uow, actor, "tax_rate.assigned", "tax_rate", rate.id, after={"targetType": target_type, "targetId": target_id}
    )
    return rate
