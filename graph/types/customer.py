from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from db.models import Customer as CustomerModel
from graph.context import Context
from graph.scalars import JSON
from graph.types.payments import PaymentMethod

if TYPE_CHECKING:
    from graph.types.subscription import Subscription


@strawberry.type
class Customer:
    id: strawberry.ID
    external_id: str = strawberry.field(description="Your own id of the customer, unique in the organization.")
    name: str
    legal_name: str | None
    email: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2.")
    currency: str | None = strawberry.field(description="ISO 4217; set by the first subscription if not given.")
    timezone: str | None = strawberry.field(description="IANA name; periods and proration use it.")
    tax_identification_number: str | None
    tax_exempt: bool
    metadata: JSON
    created_at: datetime
    test_clock_id: strawberry.ID | None = strawberry.field(description="The test clock the customer lives on.")
    row: strawberry.Private[CustomerModel]

    @strawberry.field(description="Every subscription of the customer, oldest first.")
    async def subscriptions(
        self, info: Info[Context, None]
    ) -> list[Annotated[Subscription, strawberry.lazy("graph.types.subscription")]]:
        from graph.types.subscription import Subscription

        rows = await info.context.loaders.subscriptions_of_customer.load(self.row.id)
        return [Subscription.of(s) for s in rows]

    @strawberry.field(description="Saved payment methods, oldest first.")
    async def payment_methods(self, info: Info[Context, None]) -> list[PaymentMethod]:
        return [PaymentMethod.of(m) for m in await info.context.loaders.payment_methods_of_customer.load(self.row.id)]

    @strawberry.field(description="What collection charges.")
    async def default_payment_method(self, info: Info[Context, None]) -> PaymentMethod | None:
        methods = await info.context.loaders.payment_methods_of_customer.load(self.row.id)
        return next((PaymentMethod.of(m) for m in methods if m.is_default), None)

    @classmethod
    def of(cls, c: CustomerModel) -> Customer:
        return cls(
            id=strawberry.ID(str(c.id)),
            external_id=c.external_id,
            name=c.name,
            legal_name=c.legal_name,
            email=c.email,
            address_line1=c.address_line1,
            address_line2=c.address_line2,
            city=c.city,
            state=c.state,
            postal_code=c.postal_code,
            country=c.country,
            currency=c.currency,
            timezone=c.timezone,
            tax_identification_number=c.tax_identification_number,
            tax_exempt=c.tax_exempt,
            metadata=c.metadata_ or {},
            created_at=c.created_at,
            test_clock_id=strawberry.ID(str(c.test_clock_id)) if c.test_clock_id else None,
            row=c,
        )
