from __future__ import annotations

from datetime import datetime

import strawberry

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
