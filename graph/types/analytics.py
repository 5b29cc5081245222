"""Revenue analytics: one point per day, week or month of a range, in one currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

from domain.analytics import Granularity as GranularityModel
from services.analytics import CustomerRevenue as CustomerRevenueReport
from services.analytics import PlanRevenue as PlanRevenueReport
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


@strawberry.type(
    description="A customer ranked by usage revenue over a range (topCustomers), in `currency`, never converted."
)
class CustomerRevenue:
    customer_external_id: str
    customer_name: str
    currency: str
    usage_revenue: Decimal = strawberry.field(
        description="Usage fees of the customer's invoices finalized in the range (as revenueMetrics.usageRevenue)."
    )
    invoiced_amount: Decimal = strawberry.field(
        description="Totals (tax included) of the customer's invoices finalized in the range, not voided."
    )
    invoice_count: int
    mrr: Decimal = strawberry.field(description="The customer's MRR at the range's end.")

    @classmethod
    def of(cls, item: CustomerRevenueReport) -> CustomerRevenue:
        return cls(**{name: getattr(item, name) for name in CustomerRevenueReport.__dataclass_fields__})


@strawberry.type(
    description="A plan's recurring revenue and the fees it billed over a range (revenueByPlan), in `currency`."
)
class PlanRevenue:
    plan_code: str
    plan_name: str
    currency: str
    mrr: Decimal = strawberry.field(
        description="Monthly fees of the plan's subscriptions counting at the range's end, before customer coupons."
    )
    active_subscriptions: int = strawberry.field(description="Subscriptions on the plan counting at the range's end.")
    subscription_revenue: Decimal = strawberry.field(
        description="Subscription fee lines billed in the range (before discounts and tax)."
    )
    usage_revenue: Decimal = strawberry.field(description="Usage charge lines billed in the range.")
    true_up_revenue: Decimal = strawberry.field(description="Minimum-commitment true-up lines billed in the range.")
    total_revenue: Decimal = strawberry.field(description="subscriptionRevenue + usageRevenue + trueUpRevenue.")

    @classmethod
    def of(cls, item: PlanRevenueReport) -> PlanRevenue:
        return cls(**{name: getattr(item, name) for name in PlanRevenueReport.__dataclass_fields__})
