from __future__ import annotations

from datetime import datetime

import strawberry

from db.models import BillableMetric as BillableMetricModel
from domain.aggregation import Aggregation as AggregationModel
from graph.types.enums import Aggregation


@strawberry.type(description="A dimension of a metric's events that charges may price differently.")
class BillableMetricFilter:
    key: str
    values: list[str]


@strawberry.type
class BillableMetric:
    id: strawberry.ID
    code: str
    name: str
    description: str
    aggregation: Aggregation
    field_name: str | None
    recurring: bool = strawberry.field(description="The value carries into the next period (e.g. seats).")
    filters: list[BillableMetricFilter]
    created_at: datetime

    @classmethod
    def of(cls, m: BillableMetricModel) -> BillableMetric:
        return cls(
            id=strawberry.ID(str(m.id)),
            code=m.code,
            name=m.name,
            description=m.description,
            aggregation=AggregationModel(m.aggregation),
            field_name=m.field_name,
            recurring=m.recurring,
            filters=[BillableMetricFilter(key=k, values=v) for k, v in (m.filters or {}).items()],
            created_at=m.created_at,
        )
