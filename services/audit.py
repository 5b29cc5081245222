"""The audit trail: every mutation and job appends one hash-chained entry per change."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson

from db.models import AuditEntry
from db.repositories.audit import AuditRepository
from db.session import UnitOfWork
from services.actors import Actor

GENESIS = "0" * 64


def jsonable(value: Any) -> Any:
    """Plain JSON values that survive a JSONB round trip unchanged (no floats, no Decimals)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID | float):
        return str(value)
    return value


def entry_digest(prev_hash: str, entry: AuditEntry) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the entry's content."""
    content = {
        "organizationId": str(entry.organization_id),
        "seq": entry.seq,
        "actorType": entry.actor_type,
        "actorId": entry.actor_id,
        "action": entry.action,
        "targetType": entry.target_type,
        "targetId": entry.target_id,
        "before": entry.before,
        "after": entry.after,
        "requestId": entry.request_id,
        "createdAt": entry.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


async def record(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: Any,
    *,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Append an entry inside the caller's transaction: it commits or rolls back with it."""
    repo = AuditRepository(uow.session, actor.organization_id)
    await repo.lock_chain()
    last = await repo.last()
    entry = AuditEntry(
        organization_id=actor.organization_id,
        seq=(last.seq + 1) if last else 1,
        actor_type=actor.kind,
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=jsonable(before),
        after=jsonable(after),
        request_id=actor.request_id,
        created_at=datetime.now(UTC),
        prev_hash=last.hash if last else GENESIS,
    )
    entry.hash = entry_digest(entry.prev_hash, entry)
    await repo.add(entry)
    uow.publish_after_commit(audit_channel(actor.organization_id), orjson.dumps({"id": entry.id}))
    return entry


def audit_channel(organization_id: uuid.UUID) -> str:
    return f"audit.{organization_id}"


@dataclass(frozen=True)
class ChainVerification:
    valid: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str | None = None


async def verify_chain(uow: UnitOfWork, organization_id: uuid.UUID) -> ChainVerification:
    """Recompute every link; report the first entry whose content or link does not match."""
    repo = AuditRepository(uow.session, organization_id)
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    async for entry in repo.in_order():
        if entry.seq != expected_seq:
            return ChainVerification(False, checked, expected_seq, "an entry is missing")
        if entry.prev_hash != prev_hash:
            return ChainVerification(False, checked, entry.seq, "the link to the previous entry is broken")
        if entry_digest(prev_hash, entry) != entry.hash:
            return ChainVerification(False, checked, entry.seq, "the entry was changed after it was written")
        prev_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    return ChainVerification(True, checked)
