from __future__ import annotations

from datetime import datetime

import strawberry

from db.models import ApiKey as ApiKeyModel
from graph.types.enums import Role


@strawberry.type(description="An API key; its secret is shown once, at creation, and stored only as a hash.")
class ApiKey:
    id: strawberry.ID
    name: str
    role: Role
    prefix: str = strawberry.field(description="The first characters of the secret, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(description="Accurate to the minute.")
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKeyModel) -> ApiKey:
        return cls(
            id=strawberry.ID(str(key.id)),
            name=key.name,
            role=key.role,
            prefix=key.prefix,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )
