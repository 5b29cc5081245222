from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db.models import Organization as OrganizationModel
from graph.types.rate_limit import RateLimit
from services.rate_limits import effective_limit


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
    mode: str = strawberry.field(description="LIVE or TEST (test provider keys only; test clocks may move time).")
    created_at: datetime
    rate_limit_override: strawberry.Private[tuple[int | None, int | None]]

    @strawberry.field(description="The limit of each API key and staff user (HTTP 429 beyond it).")
    def rate_limit(self, info: Info) -> RateLimit:
        limiter = info.context.services.limiter
        rule = effective_limit(limiter.config.per_credential, *self.rate_limit_override)
        return RateLimit(
            requests_per_second=int(rule.per_second),
            burst=rule.burst,
            is_default=self.rate_limit_override == (None, None),
        )

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
            mode=org.mode,
            created_at=org.created_at,
            rate_limit_override=(org.rate_limit_per_second, org.rate_limit_burst),
        )
