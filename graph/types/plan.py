from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from db.models import Charge as ChargeModelRow
from db.models import Plan as PlanModel
from domain.periods import Interval
from domain.pricing import ChargeModel as ChargeModelEnum
from graph.scalars import JSON, price
from graph.types.billable_metric import BillableMetric
from graph.types.charge_properties import ChargeProperties
from graph.types.enums import ChargeModel, PlanInterval


@strawberry.type(description="A price for the events of a metric whose dimensions match `values`.")
class ChargeFilter:
    values: JSON = strawberry.field(description='Dimension → allowed values, e.g. {"region": ["eu"]}.')
    properties: ChargeProperties
    invoice_display_name: str | None


@strawberry.type
class Charge:
    id: strawberry.ID
    billable_metric: BillableMetric
    model: ChargeModel
    pay_in_advance: bool
    prorated: bool
    min_amount: Decimal | None = strawberry.field(description="A charge minimum: a true-up fee tops it up.")
    invoice_display_name: str | None
    properties: ChargeProperties
    filters: list[ChargeFilter]

    @classmethod
    def of(cls, c: ChargeModelRow) -> Charge:
        return cls(
            id=strawberry.ID(str(c.id)),
            billable_metric=BillableMetric.of(c.billable_metric),
            model=ChargeModelEnum(c.model),
            pay_in_advance=c.pay_in_advance,
            prorated=c.prorated,
            min_amount=price(c.min_amount),
            invoice_display_name=c.invoice_display_name,
            properties=ChargeProperties.of(c.properties),
            filters=[
                ChargeFilter(
                    values=f["values"],
                    properties=ChargeProperties.of(f["properties"]),
                    invoice_display_name=f.get("invoiceDisplayName"),
                )
                for f in c.filters or []
            ],
        )


@strawberry.type
class Plan:
    id: strawberry.ID
    code: str
    name: str
    description: str
    interval: PlanInterval
    currency: str
    amount: Decimal = strawberry.field(description="The recurring subscription fee per interval.")
    pay_in_advance: bool
    trial_period_days: int
    minimum_commitment: Decimal | None
    charges: list[Charge]
    usage_thresholds: list[Decimal] = strawberry.field(description="Progressive billing thresholds.")
    created_at: datetime
    archived_at: datetime | None

    @classmethod
    def of(cls, p: PlanModel) -> Plan:
        return cls(
            id=strawberry.ID(str(p.id)),
            code=p.code,
            name=p.name,
            description=p.description,
            interval=Interval(p.interval),
            currency=p.currency,
            amount=price(p.amount),
            pay_in_advance=p.pay_in_advance,
            trial_period_days=p.trial_period_days,
            minimum_commitment=price(p.minimum_commitment),
            charges=[Charge.of(c) for c in p.charges],
            usage_thresholds=[Decimal(t) for t in p.usage_thresholds or []],
            created_at=p.created_at,
            archived_at=p.archived_at,
        )
