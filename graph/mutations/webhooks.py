"""Outbound webhook endpoints (ADMIN): create (the secret shown once), update, delete, redeliver."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_use_case
from graph.types.webhook import WebhookDelivery, WebhookEndpoint
from services import webhooks
from services.errors import CommonCode, Invalid


def _id(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid("not a valid id", field=(field,), code=CommonCode.INVALID_ID) from None


def _config(info: Info[Context, None]) -> webhooks.WebhookConfig:
    config = info.context.services.webhooks
    if config is None:
        raise RuntimeError("webhooks are not configured in this process")
    return config


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="https://… (http and private addresses: WEBHOOK_ALLOW_PRIVATE_TARGETS).")
    event_types: list[str] = strawberry.field(description="e.g. [\"invoice.finalized\", \"invoice.paid\"].")
    description: str = ""


@strawberry.input(description="Only what is given changes; enabled: true again clears the failures.")
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    enabled: bool | None = None


@strawberry.input
class WebhookEndpointIdInput:
    id: strawberry.ID


@strawberry.input
class RedeliverWebhookInput:
    delivery_id: strawberry.ID


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret (whsec_…): in createWebhookEndpoint's answer only, never again."
    )
    user_errors: list[UserError]


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None
    user_errors: list[UserError]


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(description="Add a webhook endpoint (ADMIN); its secret is in this answer only.")
    async def create_webhook_endpoint(
        self, info: Info[Context, None], input: CreateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        config = _config(info)
        created, errors = await run_use_case(
            info, Role.ADMIN,
            lambda uow, a: webhooks.create_endpoint(
                uow, a, config, url=input.url, event_types=input.event_types, description=input.description
            ),
        )
        return WebhookEndpointPayload(
            endpoint=WebhookEndpoint.of(created.endpoint) if created else None,
            secret=created.secret if created else None,
            user_errors=errors,
        )

    @strawberry.mutation(description="Change a webhook endpoint (ADMIN).")
    async def update_webhook_endpoint(
        self, info: Info[Context, None], input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        config = _config(info)
        row, errors = await run_use_case(
            info, Role.ADMIN,
            lambda uow, a: webhooks.update_endpoint(
                uow, a, config, _id(input.id, "id"), url=input.url, event_types=input.event_types,
                description=input.description, enabled=input.enabled,
            ),
        )
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.of(row) if row else None, secret=None,
                                      user_errors=errors)

    @strawberry.mutation(description="Remove a webhook endpoint and its delivery log (ADMIN).")
    async def delete_webhook_endpoint(
        self, info: Info[Context, None], input: WebhookEndpointIdInput
    ) -> WebhookEndpointPayload:
        row, errors = await run_use_case(
            info, Role.ADMIN, lambda uow, a: webhooks.delete_endpoint(uow, a, _id(input.id, "id"))
        )
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.of(row) if row else None, secret=None,
                                      user_errors=errors)

    @strawberry.mutation(description="Send a delivery's event to its endpoint again, now (ADMIN).")
    async def redeliver_webhook(
        self, info: Info[Context, None], input: RedeliverWebhookInput
    ) -> WebhookDeliveryPayload:
        row, errors = await run_use_case(
            info, Role.ADMIN, lambda uow, a: webhooks.redeliver(uow, a, _id(input.delivery_id, "deliveryId"))
        )
        return WebhookDeliveryPayload(delivery=WebhookDelivery.of(row) if row else None, user_errors=errors)
