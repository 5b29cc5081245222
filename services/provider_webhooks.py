"""POST /webhooks/{stripe|paypal}/{organizationId}: a provider's webhook, verified before anything acts on it.

Stripe: its signature with the organization's signing secret. PayPal: PayPal's own
`verify-webhook-signature` with the organization's webhook id (and a transmission time within
5 minutes). Either way `WebhookRejected` (answered 400) before a row is read for update; each
event id is handled once (`provider_event_receipts`), a replay is answered and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from db.repositories.payments import PaymentRepository
from db.session import Database
from domain.payments import PaymentProvider
from integrations.payments.base import ProviderEventType
from integrations.payments.config import PaymentConfig
from services import payment_setup, payments, paypal_payments
from services.actors import system_actor


async def handle_webhook(
    db: Database,
    config: PaymentConfig,
    provider: PaymentProvider,
    organization_id: uuid.UUID,
    body: bytes,
    headers: Mapping[str, str],
) -> payments.WebhookOutcome:
    """The outcome of one verified webhook; UnknownWebhookTarget (404), WebhookRejected (400), ProviderError."""
    async with db.read() as session:
        row = await PaymentRepository(session, organization_id).provider_config(provider.value)
    if row is None:
        raise payments.UnknownWebhookTarget(f"no {provider.value} account is configured for this organization")
    gateway = payments.build_gateway(config, row)
    try:
        event = await gateway.parse_webhook(body, headers)
        if event.type is ProviderEventType.SETUP_COMPLETED:
            return await payment_setup.complete_from_event(db, organization_id, gateway, event)
    finally:
        await gateway.aclose()
    actor = system_actor(organization_id, name=provider.value.lower(), kind="webhook")
    async with db.unit_of_work() as uow:
        if provider is PaymentProvider.PAYPAL:
            event = await paypal_payments.located(uow, organization_id, event)
        return await payments.apply_provider_event(uow, actor, event, provider)
