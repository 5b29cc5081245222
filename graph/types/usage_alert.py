from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from services.usage_alerts import AlertView, plain
from services.usage_alerts import ThresholdType as ThresholdTypeModel

UsageAlertThresholdType = strawberry.enum(
    ThresholdTypeModel,
    name="UsageAlertThresholdType",
    description="AMOUNT: the period's usage charges so far (as customerUsage shows them, before tax, without the "
    "subscription fee) in the plan's currency, of all metrics or of metricCode's; UNITS: metricCode's units.",
)


def _plain(value: Decimal) -> Decimal:
    return Decimal(plain(value))


@strawberry.type(description="A usage alert: it tells the customer (email) and the organization (webhook "
                 "customer.usage_alert_triggered) once per billing period when usage reaches its threshold.")
class UsageAlert:
    id: strawberry.ID
    customer_external_id: str
    metric_code: str | None = strawberry.field(description="The metric it measures; null: every usage charge.")
    threshold_type: UsageAlertThresholdType  # type: ignore[valid-type]
    threshold: Decimal
    name: str
    created_at: datetime
    updated_at: datetime
    last_triggered_at: datetime | None = strawberry.field(description="When it last fired (the check's time).")
    last_triggered_value: Decimal | None = strawberry.field(description="What the usage was when it last fired.")
    last_triggered_period_start: datetime | None = strawberry.field(
        description="The start of the billing period it last fired in."
    )

    @classmethod
    def of(cls, view: AlertView) -> UsageAlert:
        alert, last = view.alert, view.last_firing
        return cls(
            id=strawberry.ID(str(alert.id)),
            customer_external_id=view.customer_external_id,
            metric_code=view.metric_code,
            threshold_type=ThresholdTypeModel(alert.threshold_type),
            threshold=_plain(alert.threshold),
            name=alert.name,
            created_at=alert.created_at,
            updated_at=alert.updated_at,
            last_triggered_at=last.triggered_at if last else None,
            last_triggered_value=_plain(last.value) if last else None,
            last_triggered_period_start=last.period_start if last else None,
        )
