"""Who is acting: every use case takes one, every audit entry names one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from db.models import Role

ROLE_RANK = {Role.VIEWER: 0, Role.FINANCE: 1, Role.ADMIN: 2, Role.OWNER: 3}


@dataclass(frozen=True)
class Actor:
    organization_id: uuid.UUID
    role: Role
    kind: str  # "api_key", "user", "portal" (a customer portal link), "job", "system" or "anonymous" (a failed login)
    id: str | None
    name: str
    request_id: str | None = None
    session_id: uuid.UUID | None = None  # a user's: the session their token names
    # A portal link's: the one customer it acts as (its external id as it is now).
    customer_id: uuid.UUID | None = None
    customer_external_id: str | None = None

    def has_role(self, needed: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]

    @property
    def bucket(self) -> str:
        """Whose rate limit the actor's requests count against: the API key, or the user across their sessions."""
        return f"{self.kind}:{self.id}"

    @property
    def is_portal(self) -> bool:
        return self.kind == "portal"

    def with_request(self, request_id: str | None) -> Actor:
        return replace(self, request_id=request_id)


def system_actor(organization_id: uuid.UUID, name: str = "system", kind: str = "system") -> Actor:
    """The actor of CLI commands and jobs: all rights within one organization."""
    return Actor(organization_id, Role.OWNER, kind, None, name)
