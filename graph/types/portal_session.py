from __future__ import annotations

from datetime import datetime

import strawberry

from graph.types.customer import Customer
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
        )
