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
    country: str | None
    legal_name: str | None
    address: str | None
    tax_identification_number: str | None
    net_payment_term_days: int
    invoice_grace_period_days: int
    created_at: datetime

    @classmethod
    def of(cls, org: OrganizationModel) -> Organization:
        return cls(
            id=strawberry.ID(str(org.id)),
            name=org.name,
            default_currency=org.default_currency,
            timezone=org.timezone,
            invoice_prefix=org.invoice_prefix,
            country=org.country,
            legal_name=org.legal_name,
            address=org.address,
            tax_identification_number=org.tax_identification_number,
            net_payment_term_days=org.net_payment_term_days,
            invoice_grace_period_days=org.invoice_grace_period_days,
            created_at=org.created_at,
        )
