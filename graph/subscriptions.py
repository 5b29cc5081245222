"""The Subscription root (named Live: `Subscription` is the billing object)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson
import strawberry
from sqlalchemy import select
from strawberry.types import Info

from db.models import AuditEntry, Role
from graph.context import Context
from graph.permissions import require_role
from graph.types.audit_log import AuditLog
from services.audit import audit_channel


@strawberry.type(name="Live")
class Live:
    @strawberry.subscription(description="Audit entries as they are committed (FINANCE or stronger).")
    async def audit_trail(self, info: Info[Context, None]) -> AsyncGenerator[AuditLog, None]:
        actor = require_role(info, Role.FINANCE)
        broadcast = info.context.services.broadcast
        async with broadcast.subscribe(audit_channel(actor.organization_id)) as subscriber:
            async for event in subscriber:
                entry_id = orjson.loads(event.message)["id"]
                async with info.context.db.read() as session:
                    entry = await session.scalar(
                        select(AuditEntry).where(
                            AuditEntry.id == entry_id, AuditEntry.organization_id == actor.organization_id
                        )
                    )
                if entry is not None:
                    yield AuditLog.of(entry)
