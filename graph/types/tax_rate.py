from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from db.models import TaxRate as TaxRateModel
from graph.scalars import price


@strawberry.type
class TaxRate:
    id: strawberry.ID
    code: str
    name: str
    rate: Decimal = strawberry.field(description="Percent.")
    applies_to_organization: bool
    created_at: datetime

    @classmethod
    def of(cls, r: TaxRateModel) -> TaxRate:
        return cls(
            id=strawberry.ID(str(r.id)),
            code=r.code,
            name=r.name,
            rate=price(r.rate),
            applies_to_organization=r.applies_to_organization,
            created_at=r.created_at,
        )
