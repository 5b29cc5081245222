from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.permissions import current_actor
from graph.types.enums import Role
from graph.types.organization import Organization
from graph.types.second_factor import SecondFactorStatus
from services import reads, second_factor


@strawberry.enum
class PrincipalKind(Enum):
    API_KEY = "api_key"
    USER = "user"
    PORTAL = "portal"  # a customer portal link: see portalSession


@strawberry.type(description="Who is calling: the principal behind the credentials of this request.")
class Viewer:
    kind: PrincipalKind
    id: strawberry.ID
    name: str
    role: Role
    organization_id: strawberry.Private[str]

    @strawberry.field(description="A staff user's own second factor; null for an API key.")
    async def second_factor(self, info: Info[Context, None]) -> SecondFactorStatus | None:
        actor = info.context.actor
        if actor is None:
            return None
        async with info.context.db.read() as session:
            found = await second_factor.status(session, actor)
        return SecondFactorStatus.of(found) if found else None

    @strawberry.field(description="Not for a customer portal link (portalSession names its supplier).")
    async def organization(self, info: Info[Context, None]) -> Organization:
        current_actor(info)
        async with info.context.db.read() as session:
            org = await reads.organization(session, info.context.actor.organization_id)
        return Organization.of(org)
