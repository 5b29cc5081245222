from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.types.enums import Role
from graph.types.organization import Organization
from services import reads


@strawberry.enum
class PrincipalKind(Enum):
    API_KEY = "api_key"
    USER = "user"


@strawberry.type(description="Who is calling: the principal behind the credentials of this request.")
class Viewer:
    kind: PrincipalKind
    id: strawberry.ID
    name: str
    role: Role
    organization_id: strawberry.Private[str]

    @strawberry.field
    async def organization(self, info: Info[Context, None]) -> Organization:
        async with info.context.db.read() as session:
            org = await reads.organization(session, info.context.actor.organization_id)
        return Organization.of(org)
