"""The audit trail: append under the chain lock, read in order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select

from db.locks import LockNamespace, advisory_xact_lock
from db.models import AuditEntry
from db.repositories.base import ScopedRepository
from db.repositories.pagination import Page, paginate

LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM audit_entries WHERE organization_id = $1"


async def last_seq(conn: Any, organization_id: uuid.UUID) -> int:
    """The organization's newest entry's sequence number (0 for none), on an asyncpg connection
    (`Database.driver_read`): the kept answers read it on every request they serve (graph/kept_responses.py)."""
    return int(await conn.fetchval(LAST_SEQ, organization_id))


class AuditRepository(ScopedRepository[AuditEntry]):
    model = AuditEntry

    async def lock_chain(self) -> None:
        """Serialize appends so that each entry links to exactly one predecessor."""
        await advisory_xact_lock(self.session, LockNamespace.AUDIT_CHAIN, self.organization_id)

    async def last_link(self) -> tuple[int, str] | None:
        """(seq, hash) of the newest entry: what the next one links to."""
        row = (
            await self.session.execute(
                select(AuditEntry.seq, AuditEntry.hash)
                .where(AuditEntry.organization_id == self.organization_id)
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def append(self, entries: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert linked entries in one statement; their ids, in order (call under `lock_chain`)."""
        for entry in entries:
            if entry["organization_id"] != self.organization_id:
                raise ValueError("an audit entry of another organization")
        rows = await self.session.execute(
            insert(AuditEntry).returning(AuditEntry.id, sort_by_parameter_order=True), list(entries)
        )
        return list(rows.scalars())

    async def list(
        self,
        *,
        first: int | None,
        after: str | None,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
    ) -> Page[AuditEntry]:
        stmt = select(AuditEntry).where(AuditEntry.organization_id == self.organization_id)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        if target_type:
            stmt = stmt.where(AuditEntry.target_type == target_type)
        if target_id:
            stmt = stmt.where(AuditEntry.target_id == target_id)
        return await paginate(self.session, stmt, (AuditEntry.seq,), first=first, after=after, descending=True)

    async def in_order(self, batch: int = 1000) -> AsyncIterator[AuditEntry]:
        """Every entry of the organization, oldest first, streamed in batches."""
        last_seq = 0
        while True:
            rows = (
                await self.session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.organization_id == self.organization_id, AuditEntry.seq > last_seq)
                    .order_by(AuditEntry.seq)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return
            for row in rows:
                yield row
            last_seq = rows[-1].seq
