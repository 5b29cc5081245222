from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from db.models import StaffSession as StaffSessionModel
from graph.types.staff_user import StaffUser


@strawberry.type(description="A staff user's signed-in session (what a session token stands for).")
class StaffSession:
    id: strawberry.ID
    staff_user: StaffUser
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = strawberry.field(description="When it was ended: logout, revoked, user disabled.")
    last_seen_at: datetime | None = strawberry.field(description="Accurate to the minute.")
    ip: str | None = strawberry.field(description="The address the login came from.")
    user_agent: str | None
    active: bool = strawberry.field(description="Neither ended nor expired.")
    current: bool = strawberry.field(description="The session of this request.")

    @classmethod
    def of(cls, record: StaffSessionModel, current: uuid.UUID | None, now: datetime) -> StaffSession:
        return cls(
            id=strawberry.ID(str(record.id)),
            staff_user=StaffUser.of(record.user),
            created_at=record.created_at,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            last_seen_at=record.last_seen_at,
            ip=record.ip,
            user_agent=record.user_agent,
            active=record.revoked_at is None and record.expires_at > now,
            current=record.id == current,
        )
