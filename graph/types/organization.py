from __future__ import annotations

from datetime import datetime

import strawberry

from db.models import Organization as OrganizationModel


@strawberry.type
class Organization:
    id: strawberry.ID
    name: str
    default_currency: str
    timezone: str
    invoice_prefix: str
    created_at: datetime

    @classmethod
    def of(cls, org: OrganizationModel) -> Organization:
        return cls(
            id=strawberry.ID(str(org.id)),
            name=org.name,
            default_currency=org.default_currency,
            timezone=org.timezone,
            invoice_prefix=org.invoice_prefix,
            created_at=org.created_at,
        )
