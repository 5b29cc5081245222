from __future__ import annotations

from datetime import datetime

import strawberry

from db.models import WebhookDelivery as DeliveryRow
from db.models import WebhookEndpoint as EndpointRow


@strawberry.type(description="Where an organization's systems are told what changed (signed Standard Webhooks).")
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    event_types: list[str] = strawberry.field(description="What it is sent, e.g. invoice.paid.")
    description: str
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Why it is disabled: a 410 answer, five days of failure, or the organization's choice."
    )
    failing_since: datetime | None = strawberry.field(description="The first failed attempt since the last success.")
    created_at: datetime

    @classmethod
    def of(cls, e: EndpointRow) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(str(e.id)),
            url=e.url,
            event_types=list(e.event_types),
            description=e.description,
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            failing_since=e.failing_since,
            created_at=e.created_at,
        )


@strawberry.type(description="One attempt to deliver one event to one endpoint.")
class WebhookDelivery:
    id: strawberry.ID
    endpoint_id: strawberry.ID
    event_id: str = strawberry.field(description="The `webhook-id` header: the same for every attempt of an event.")
    event_type: str
    attempt: int = strawberry.field(description="1 for the first attempt; a redelivery is the next number.")
    status: str = strawberry.field(description="PENDING, SENDING, SUCCEEDED, FAILED or SKIPPED.")
    response_status: int | None = strawberry.field(description="The receiver's HTTP status (none: no answer).")
    response_body_excerpt: str = strawberry.field(description="The start of the receiver's answer (1 KiB at most).")
    error: str | None = strawberry.field(description="Why no answer came (timeout, refused target, …).")
    duration_ms: int | None
    next_attempt_at: datetime | None = strawberry.field(
        description="PENDING: when it goes. FAILED: when the next attempt goes (none: no further attempt)."
    )
    attempted_at: datetime | None
    manual: bool = strawberry.field(description="Sent by redeliverWebhook (not retried on the schedule).")
    created_at: datetime

    @classmethod
    def of(cls, d: DeliveryRow) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(d.id)),
            endpoint_id=strawberry.ID(str(d.endpoint_id)),
            event_id=d.event_id,
            event_type=d.event_type,
            attempt=d.attempt,
            status=d.status,
            response_status=d.response_status,
            response_body_excerpt=d.response_body_excerpt or "",
            error=d.error,
            duration_ms=d.duration_ms,
            next_attempt_at=d.next_attempt_at,
            attempted_at=d.attempted_at,
            manual=d.manual,
            created_at=d.created_at,
        )
