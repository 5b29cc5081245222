"""GraphQL enums, named as clients (and Lago migrations) expect them."""

import strawberry

from db.models import Role as RoleModel
from domain.aggregation import Aggregation as AggregationModel
from domain.periods import BillingTime as BillingTimeModel
from domain.periods import Interval as IntervalModel
from domain.pricing import BreakdownKind as BreakdownKindModel
from domain.pricing import ChargeModel as ChargeModelModel
from domain.subscriptions import SubscriptionStatus as SubscriptionStatusModel

Role = strawberry.enum(RoleModel, name="Role", description="Staff and API-key roles, strongest first.")
Aggregation = strawberry.enum(
    AggregationModel, name="Aggregation", description="How a billable metric aggregates the events of a period."
)
ChargeModel = strawberry.enum(ChargeModelModel, name="ChargeModel", description="How a charge prices its units.")
PlanInterval = strawberry.enum(IntervalModel, name="PlanInterval")
BillingTime = strawberry.enum(
    BillingTimeModel,
    name="BillingTime",
    description="CALENDAR aligns periods to calendar weeks/months/quarters/years "
    "(first period prorated); ANNIVERSARY starts them on the start date.",
)
SubscriptionStatus = strawberry.enum(SubscriptionStatusModel, name="SubscriptionStatus")
BreakdownKind = strawberry.enum(BreakdownKindModel, name="FeeBreakdownKind")
