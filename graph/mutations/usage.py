"""Usage ingestion over GraphQL (high-volume senders: POST /v1/events)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db.models import Role
from db.usage_writer import WriterUnavailable
from domain.errors import DomainError
from graph.context import Context
from graph.errors import PublicError, UserError, user_error
from graph.permissions import require_role
from graph.scalars import JSON
from services.usage import ingestion


@strawberry.input
class UsageEventInput:
    transaction_id: str = strawberry.field(description="Idempotency key: counted once per organization, ever.")
    metric_code: str
    customer_external_id: str | None = None
    subscription_external_id: str | None = None
    timestamp: datetime | None = strawberry.field(
        default=None, description="Received time when left out; at most 35 days old."
    )
    properties: JSON | None = None


@strawberry.input
class IngestUsageInput:
    events: list[UsageEventInput]


@strawberry.type
class RejectedEvent:
    index: int
    transaction_id: str | None
    code: str
    message: str


@strawberry.type
class IngestUsagePayload:
    accepted: int = strawberry.field(description="New events stored (durable when this answer is sent).")
    duplicates: int = strawberry.field(description="Events whose transaction id was already counted.")
    rejected: list[RejectedEvent]
    user_errors: list[UserError]


@strawberry.type
class UsageMutations:
    @strawberry.mutation(description="Send usage events (FINANCE). Valid events count even if others are rejected.")
    async def ingest_usage(self, info: Info[Context, None], input: IngestUsageInput) -> IngestUsagePayload:
        events = [
            ingestion.EventInput(
                e.transaction_id,
                e.metric_code,
                e.customer_external_id,
                e.subscription_external_id,
                e.timestamp,
                e.properties,
            )
            for e in input.events
        ]
        actor = require_role(info, Role.FINANCE)
        try:
            result = await info.context.services.ingestor.ingest(actor, events, info.context.clock.now())
        except DomainError as exc:
            return IngestUsagePayload(accepted=0, duplicates=0, rejected=[], user_errors=[user_error(exc)])
        except WriterUnavailable:
            raise PublicError("usage cannot be stored right now: nothing was accepted, retry",
                              "SERVICE_UNAVAILABLE") from None
        return IngestUsagePayload(
            accepted=result.accepted,
            duplicates=result.duplicates,
            user_errors=[],
            rejected=[
                RejectedEvent(index=r.index, transaction_id=r.transaction_id, code=r.code, message=r.message)
                for r in result.rejected
            ],
        )
