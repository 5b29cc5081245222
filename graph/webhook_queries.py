"""Outbound webhook endpoints and their delivery log (ADMIN), of the caller's organization only."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from db.models import Role
from db.repositories.webhooks import WebhookDeliveryRepository, WebhookEndpointRepository
from graph.context import Context
from graph.pagination import Connection, connection, fetch_page, selects_total
from graph.permissions import require_role
from graph.types.webhook import WebhookDelivery, WebhookEndpoint


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The organization's webhook endpoints, oldest first (ADMIN).")
    async def webhook_endpoints(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[WebhookEndpoint]:
        actor = require_role(info, Role.ADMIN)
        async with info.context.db.read() as session:
            repo = WebhookEndpointRepository(session, actor.organization_id)
            page = await fetch_page(lambda: repo.list(first=first, after=after, with_total=selects_total(info)))
            return connection(page, WebhookEndpoint.of)

    @strawberry.field(description="Delivery attempts, newest first, of one endpoint or one event type (ADMIN).")
    async def webhook_deliveries(
        self,
        info: Info[Context, None],
        endpoint_id: strawberry.ID | None = None,
        event_type: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        actor = require_role(info, Role.ADMIN)
        endpoint: uuid.UUID | None = None
        if endpoint_id is not None:
            try:
                endpoint = uuid.UUID(str(endpoint_id))
            except ValueError:
                endpoint = uuid.UUID(int=0)  # no endpoint has it: an empty page, as for another organization's
        async with info.context.db.read() as session:
            repo = WebhookDeliveryRepository(session, actor.organization_id)
            page = await fetch_page(
                lambda: repo.list(
                    first=first, after=after, endpoint_id=endpoint, event_type=event_type,
                    with_total=selects_total(info),
                )
            )
            return connection(page, WebhookDelivery.of)
