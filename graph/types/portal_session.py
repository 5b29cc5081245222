from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.permissions import current_actor
from graph.types.customer import Customer
from graph.types.payments import PaymentProvider
from services.portal import PortalSessionView


@strawberry.type(description="A customer portal link's session: the one customer it reads and acts for, until when.")
class PortalSession:
    id: strawberry.ID
    customer_external_id: str
    customer: Customer
    organization_name: str = strawberry.field(description="The supplier: the organization that issued the link.")
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool = strawberry.field(description="Neither revoked nor expired.")
    created_by_name: strawberry.Private[str]

    @strawberry.field(
        description="Who made the link: the staff user's email or the API key's name (not for a portal link itself)."
    )
    def created_by(self, info: Info[Context, None]) -> str | None:
        current_actor(info)
        return self.created_by_name or None

    @strawberry.field(
        description="Where the customer can save a payment method on the provider's own page "
        "(createPaymentSetupSession): the providers the organization configured that have one (STRIPE, PAYPAL)."
    )
    async def payment_setup_providers(self, info: Info) -> list[PaymentProvider]:  # type: ignore[valid-type]
        found = await info.context.loaders.hosted_setup_providers.load(info.context.actor.organization_id)
        return [PaymentProvider(p.value) for p in found]

    @classmethod
    def of(cls, view: PortalSessionView, now: datetime) -> PortalSession:
        record = view.session
        return cls(
            id=strawberry.ID(str(record.id)),
            customer_external_id=view.customer.external_id,
            customer=Customer.of(view.customer),
            organization_name=view.organization_name,
            created_at=record.created_at,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            active=record.revoked_at is None and record.expires_at > now,
            created_by_name=record.created_by,
        )
