"""The audit trail: every mutation and job appends one hash-chained entry per change."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, cast

import orjson

from db.models import AuditEntry
from db.repositories.audit import AuditRepository
from db.session import UnitOfWork
from services import webhook_events
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


_CHAINED = (
    ("organizationId", "organization_id"),
    ("seq", "seq"),
    ("actorType", "actor_type"),
    ("actorId", "actor_id"),
    ("action", "action"),
    ("targetType", "target_type"),
    ("targetId", "target_id"),
    ("before", "before"),
    ("after", "after"),
    ("requestId", "request_id"),
)


def entry_digest(prev_hash: str, entry: Mapping[str, Any] | AuditEntry) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the entry's content."""
    value = entry.get if isinstance(entry, Mapping) else lambda name: getattr(entry, name)
    content = {key: value(name) for key, name in _CHAINED}
    content["organizationId"] = str(content["organizationId"])
    created_at = cast(datetime, value("created_at"))
    content["createdAt"] = created_at.astimezone(UTC).isoformat(timespec="microseconds")
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
) -> None:
    """Append an entry to the caller's transaction: it commits or rolls back with it.

    Entries are linked into the organization's chain just before COMMIT (`_seal`), so the chain's
    lock is held only for that last step, not across the whole use case."""
    org = actor.organization_id
    pending = uow.pending.setdefault(("audit", org), [])
    entry = {
        "organization_id": org,
        "actor_type": actor.kind,
        "actor_id": actor.id,
        "action": action,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "before": jsonable(before),
        "after": jsonable(after),
        "request_id": actor.request_id,
    }
    pending.append(entry)
    uow.before_commit(f"audit:{org}", lambda: _seal(uow, org))
    # The entries that are webhook events (invoice.finalized, customer.created, …) go out with the change.
    webhook_events.note(uow, org, action, target_type, entry["target_id"], entry["before"], entry["after"])


async def _seal(uow: UnitOfWork, organization_id: uuid.UUID) -> None:
    """Number, link and store the transaction's pending entries, under the chain's lock until COMMIT."""
    entries = uow.pending.pop(("audit", organization_id), [])
    if not entries:
        return
    repo = AuditRepository(uow.session, organization_id)
    await repo.lock_chain()
    seq, prev_hash = await repo.last_link() or (0, GENESIS)
    now = uow.wall_clock.now()
    for entry in entries:
        seq += 1
        entry.update(seq=seq, created_at=now, prev_hash=prev_hash)
        entry["hash"] = prev_hash = entry_digest(prev_hash, entry)
    for entry_id in await repo.append(entries):
        uow.publish_after_commit(audit_channel(organization_id), orjson.dumps({"id": entry_id}))


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
