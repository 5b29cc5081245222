"""Customer portal links: created and revoked by staff or an API key (FINANCE or stronger)."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import request_origin, run_use_case
from graph.types.portal_session import PortalSession
from services import portal
from services.errors import CommonCode, Invalid


@strawberry.input
class CreateCustomerPortalSessionInput:
    customer_external_id: str
    expires_in_seconds: int | None = strawberry.field(
        default=None, description="How long the link works: 12 hours unless given (60 s to 7 days)."
    )


@strawberry.type
class CustomerPortalSessionPayload:
    url: str | None = strawberry.field(
        description="PUBLIC_URL/portal/session#<token>: give it to the customer (shown once; the token is in the "
        "fragment, which browsers never send to a server)."
    )
    expires_at: datetime | None
    portal_session: PortalSession | None
    user_errors: list[UserError]


@strawberry.input
class RevokeCustomerPortalSessionInput:
    id: strawberry.ID


@strawberry.type
class RevokeCustomerPortalSessionPayload:
    portal_session: PortalSession | None
    user_errors: list[UserError]


@strawberry.type
class PortalMutations:
    @strawberry.mutation(
        description="A link into the customer portal for one customer (FINANCE): its token reads that customer's "
        "usage, invoices, plan and payment methods and pays its open invoices, nothing else; 12 hours by default."
    )
    async def create_customer_portal_session(
        self, info: Info[Context, None], input: CreateCustomerPortalSessionInput
    ) -> CustomerPortalSessionPayload:
        origin = request_origin(info)

        async def use_case(uow, actor):  # type: ignore[no-untyped-def]
            return await portal.create_portal_session(
                uow, actor, customer_external_id=input.customer_external_id, origin=origin,
                expires_in_seconds=input.expires_in_seconds,
            )

        issued, errors = await run_use_case(info, Role.FINANCE, use_case)
        if issued is None:
            return CustomerPortalSessionPayload(url=None, expires_at=None, portal_session=None, user_errors=errors)
        return CustomerPortalSessionPayload(
            url=issued.url,
            expires_at=issued.session.expires_at,
            portal_session=PortalSession.of(issued.view, info.context.clock.now()),
            user_errors=[],
        )

    @strawberry.mutation(description="End a portal link before it expires (FINANCE); its open pages are refused.")
    async def revoke_customer_portal_session(
        self, info: Info[Context, None], input: RevokeCustomerPortalSessionInput
    ) -> RevokeCustomerPortalSessionPayload:
        async def use_case(uow, actor):  # type: ignore[no-untyped-def]
            try:
                session_id = uuid.UUID(str(input.id))
            except ValueError:
                raise Invalid("not a valid id", field=("id",), code=CommonCode.INVALID_ID) from None
            return await portal.revoke_portal_session(uow, actor, session_id)

        view, errors = await run_use_case(info, Role.FINANCE, use_case)
        return RevokeCustomerPortalSessionPayload(
            portal_session=PortalSession.of(view, info.context.clock.now()) if view else None, user_errors=errors
        )
