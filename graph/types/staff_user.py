from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry.types import Info

from db.models import StaffUser as StaffUserModel
from graph.types.enums import Role


@strawberry.type
class StaffUser:
    id: strawberry.ID
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime

    @strawberry.field(description="Whether their second factor (TOTP) is on.")
    async def second_factor_enabled(self, info: Info) -> bool:
        return await info.context.loaders.second_factor_on.load(uuid.UUID(str(self.id)))

    @classmethod
    def of(cls, user: StaffUserModel) -> StaffUser:
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            name=user.name,
            role=user.role,
            active=user.active,
            created_at=user.created_at,
        )
