from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.permissions import current_actor
from graph.types.enums import Role
from graph.types.organization import Organization
from services import reads


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

    @strawberry.field(description="Not for a customer portal link (portalSession names its supplier).")
    async def organization(self, info: Info[Context, None]) -> Organization:
        current_actor(info)
        async with info.context.db.read() as session:
            org = await reads.organization(session, info.context.actor.organization_id)
        return Organization.of(org)
