from __future__ import annotations

from datetime import datetime

import strawberry

from db.models import AuditEntry
from graph.scalars import JSON


@strawberry.type(description="One entry of the organization's hash-chained audit trail.")
class AuditLog:
    seq: int = strawberry.field(description="Position in the organization's chain, from 1.")
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None
    before: JSON | None
    after: JSON | None
    request_id: str | None
    created_at: datetime
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditLog:
        return cls(
            seq=entry.seq,
            actor_type=entry.actor_type,
            actor_id=entry.actor_id,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            before=entry.before,
            after=entry.after,
            request_id=entry.request_id,
            created_at=entry.created_at,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )


@strawberry.type
class AuditChainVerification:
    valid: bool
    checked_entries: int
    first_broken_seq: int | None = strawberry.field(description="The first entry that does not verify.")
    reason: str | None
