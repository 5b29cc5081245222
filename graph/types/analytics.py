"""Revenue analytics: one point per day, week or month of a range, in one currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

from domain.analytics import Granularity as GranularityModel
from services.analytics import RevenuePoint as RevenuePointReport

Granularity = strawberry.enum(
    GranularityModel, name="Granularity", description="Buckets of a range: days, Monday weeks or calendar months."
)


@strawberry.type(
    description="Revenue figures of one bucket (docs/analytics.md). Money is in `currency`, never converted; "
    "MRR is the value at the bucket's end, movements compare each customer's MRR at its start and end."
)
class RevenuePoint:
    period_start: date = strawberry.field(description="The bucket's first day, in the organization's time zone.")
    period_end: date = strawberry.field(description="The bucket's last day (included).")
    currency: str
    mrr: Decimal
    arr: Decimal = strawberry.field(description="12 x mrr.")
    new_mrr: Decimal
    expansion_mrr: Decimal
    contraction_mrr: Decimal
    churned_mrr: Decimal
    reactivation_mrr: Decimal
    active_customers: int = strawberry.field(description="Customers with MRR above 0 at the bucket's end.")
    new_customers: int
    churned_customers: int
    arpu: Decimal = strawberry.field(description="mrr / activeCustomers, rounded to the currency (0 with none).")
    net_revenue_retention: Decimal | None = strawberry.field(
        description="(start MRR + expansion - contraction - churned) / start MRR, in percent; null without start MRR."
    )
    gross_revenue_retention: Decimal | None = strawberry.field(
        description="(start MRR - contraction - churned) / start MRR, in percent; null without start MRR."
    )
    invoiced_amount: Decimal = strawberry.field(description="Totals of the invoices finalized in the bucket.")
    collected_amount: Decimal = strawberry.field(description="Payments received in the bucket, less refunds.")
    overdue_amount: Decimal = strawberry.field(
        description="Amount due of open invoices past their due date at the bucket's end."
    )
    usage_revenue: Decimal = strawberry.field(description="Usage fees of the invoices finalized in the bucket.")

    @classmethod
    def of(cls, point: RevenuePointReport) -> RevenuePoint:
        return cls(**{name: getattr(point, name) for name in RevenuePointReport.__dataclass_fields__})
