"""Current usage: what each charge of the current period would cost if invoiced now."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain.pricing import ChargeFee, FeeBreakdownLine
from graph.scalars import JSON
from graph.types.enums import BreakdownKind, ChargeModel
from services.usage.rating import ChargeUsage as ChargeUsageReport
from services.usage.rating import UsageReport


@strawberry.type(description="One step of a fee's math, e.g. a graduated range: units x perUnitAmount + flatAmount.")
class FeeBreakdown:
    kind: BreakdownKind
    units: Decimal
    amount: Decimal = strawberry.field(description="Unrounded; the fee is rounded once, as an invoice line.")
    from_value: Decimal | None
    to_value: Decimal | None
    per_unit_amount: Decimal | None
    rate: Decimal | None
    flat_amount: Decimal
    package_size: Decimal | None
    packages: Decimal | None
    events: int | None
    fixed_amount: Decimal | None

    @classmethod
    def of(cls, line: FeeBreakdownLine) -> FeeBreakdown:
        return cls(
            kind=line.kind,
            units=line.units,
            amount=line.amount,
            from_value=line.from_value,
            to_value=line.to_value,
            per_unit_amount=line.per_unit_amount,
            rate=line.rate,
            flat_amount=line.flat_amount,
            package_size=line.package_size,
            packages=line.packages,
            events=line.events,
            fixed_amount=line.fixed_amount,
        )


def _breakdown(fee: ChargeFee | None) -> list[FeeBreakdown]:
    return [FeeBreakdown.of(line) for line in fee.breakdown] if fee else []


@strawberry.type
class ChargeFilterUsage:
    values: JSON | None = strawberry.field(description="null: the events that match no filter of the charge.")
    invoice_display_name: str | None
    units: Decimal
    amount: Decimal
    breakdown: list[FeeBreakdown]


@strawberry.type
class ChargeUsage:
    billable_metric_code: str
    billable_metric_name: str
    model: ChargeModel
    units: Decimal
    amount: Decimal = strawberry.field(description="Rounded like an invoice line (per filter, then summed).")
    breakdown: list[FeeBreakdown]
    filters: list[ChargeFilterUsage]

    @classmethod
    def of(cls, c: ChargeUsageReport) -> ChargeUsage:
        return cls(
            billable_metric_code=c.metric_code,
            billable_metric_name=c.metric_name,
            model=c.model,
            units=c.units,
            amount=c.amount,
            breakdown=_breakdown(c.fee),
            filters=[
                ChargeFilterUsage(
                    values=f.values,
                    invoice_display_name=f.invoice_display_name,
                    units=f.units,
                    amount=f.amount,
                    breakdown=_breakdown(f.fee),
                )
                for f in c.filters
            ],
        )


@strawberry.type
class CustomerUsage:
    from_datetime: datetime
    to_datetime: datetime
    currency: str
    amount: Decimal
    subscription_external_id: str
    charges: list[ChargeUsage]

    @classmethod
    def of(cls, r: UsageReport) -> CustomerUsage:
        return cls(
            from_datetime=r.from_datetime,
            to_datetime=r.to_datetime,
            currency=r.currency,
            amount=r.amount,
            subscription_external_id=r.subscription.external_id,
            charges=[ChargeUsage.of(c) for c in r.charges],
        )
