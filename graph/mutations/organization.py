from __future__ import annotations

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_use_case
from graph.types.organization import Organization
from services import organizations, rate_limits, reads


@strawberry.input
class UpdateOrganizationInput:
    name: str | None = None
    default_currency: str | None = None
    timezone: str | None = None
    invoice_prefix: str | None = None
    country: str | None = strawberry.field(default=None, description="The seller's country (taxes, reverse charge).")
    legal_name: str | None = None
    address: str | None = None
    tax_identification_number: str | None = None
    net_payment_term_days: int | None = None
    invoice_grace_period_days: int | None = strawberry.field(
        default=None, description="Days invoices stay refreshable drafts before they are finalized (0: at once)."
    )


@strawberry.input
class UpdateRateLimitsInput:
    requests_per_second: int | None = strawberry.field(
        default=None, description="Per API key and per staff user; at most the server's default. null: the default."
    )
    burst: int | None = strawberry.field(
        default=None, description="Requests at once (default: twice requestsPerSecond); at most the server's."
    )


@strawberry.type
class OrganizationPayload:
    organization: Organization | None
    user_errors: list[UserError]


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(description="Change the organization's settings (ADMIN).")
    async def update_organization(
        self, info: Info[Context, None], input: UpdateOrganizationInput
    ) -> OrganizationPayload:
        org, errors = await run_use_case(
            info,
            Role.ADMIN,
            lambda uow, actor: organizations.update_organization(
                uow,
                actor,
                name=input.name,
                default_currency=input.default_currency,
                timezone=input.timezone,
                invoice_prefix=input.invoice_prefix,
                country=input.country,
                legal_name=input.legal_name,
                address=input.address,
                tax_identification_number=input.tax_identification_number,
                net_payment_term_days=input.net_payment_term_days,
                invoice_grace_period_days=input.invoice_grace_period_days,
            ),
        )
        return OrganizationPayload(organization=Organization.of(org) if org else None, user_errors=errors)

    @strawberry.mutation(
        description="Tighten the organization's rate limit per API key and staff user (ADMIN); both null: the "
        "server's default. Takes effect within seconds."
    )
    async def update_rate_limits(self, info: Info[Context, None], input: UpdateRateLimitsInput) -> OrganizationPayload:
        limiter = info.context.services.limiter

        async def update(uow, actor):
            await rate_limits.update_rate_limits(
                uow, actor, limiter.config, per_second=input.requests_per_second, burst=input.burst
            )
            return await reads.organization(uow.session, actor.organization_id)

        org, errors = await run_use_case(info, Role.ADMIN, update)
        return OrganizationPayload(organization=Organization.of(org) if org else None, user_errors=errors)
