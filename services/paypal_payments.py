"""PayPal in collection: its credentials checked at PayPal, its gateway, and what its webhooks need first.

PayPal's client ids and secrets look the same in the sandbox and live, so a configuration says
its `mode` (TEST, the default: PayPal's sandbox; LIVE: api-m.paypal.com) and the credentials
are proven at that API by an OAuth token before they are stored: live credentials are refused
by the sandbox and sandbox ones by the live API. A TEST organization takes TEST mode only
(LIVE_KEY_IN_TEST_ORGANIZATION). PAYPAL_API_BASE, when set, is where every PayPal call goes
(tests: the fake PayPal); any base but the live one is a sandbox, and a TEST configuration
never talks to the live one.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from db.models import OrganizationMode
from db.repositories.payments import PaymentRepository
from db.session import UnitOfWork
from domain.payments import PaymentProvider
from integrations.payments import paypal as paypal_gateway
from integrations.payments.base import ProviderConfigurationError, ProviderError, ProviderEvent
from integrations.payments.config import PaymentConfig
from services.errors import CommonCode, Invalid

MODES = ("TEST", "LIVE")


def api_base(config: PaymentConfig, mode: str) -> str:
    """Where a configuration of `mode` sends its calls: PAYPAL_API_BASE, else the sandbox or the live API."""
    if config.paypal_api_base:
        return config.paypal_api_base.rstrip("/")
    return paypal_gateway.SANDBOX_API_BASE if mode == "TEST" else paypal_gateway.LIVE_API_BASE


def build_gateway(config: PaymentConfig, secrets: dict[str, Any], mode: str) -> paypal_gateway.PayPalGateway:
    return paypal_gateway.PayPalGateway(
        secrets["clientId"],
        secrets["clientSecret"],
        secrets.get("webhookId"),
        api_base=api_base(config, mode),
        test_mode=mode == "TEST",
        timeout=20.0,
    )


def _required(value: str | None, field: str) -> str:
    if not value or not value.strip():
        raise Invalid(f"{field} is required", field=(field,), code=CommonCode.REQUIRED)
    return value.strip()


async def checked_credentials(
    config: PaymentConfig,
    organization_mode: str,
    *,
    client_id: str | None,
    client_secret: str | None,
    webhook_id: str | None,
    mode: str | None,
) -> tuple[dict[str, Any], str, str]:
    """The secrets to seal, the mode and the last 4 of a PayPal configuration, proven at PayPal first."""
    client_id = _required(client_id, "clientId")
    client_secret = _required(client_secret, "clientSecret")
    mode = (mode or "TEST").strip().upper()
    if mode not in MODES:
        raise Invalid("mode is TEST (PayPal's sandbox) or LIVE", field=("mode",), code=CommonCode.INVALID_INPUT)
    if mode == "LIVE" and organization_mode == OrganizationMode.TEST.value:
        raise Invalid(
            "a test organization takes PayPal sandbox credentials only (mode TEST)",
            field=("mode",),
            code="LIVE_KEY_IN_TEST_ORGANIZATION",
        )
    base = api_base(config, mode)
    if mode == "TEST" and not paypal_gateway.is_sandbox(base):
        raise Invalid(
            "PAYPAL_API_BASE is PayPal's live API: sandbox credentials cannot be used here",
            field=("mode",),
            code="PROVIDER_CONFIGURATION",
        )
    secrets = {"clientId": client_id, "clientSecret": client_secret, "webhookId": (webhook_id or "").strip() or None}
    gateway = build_gateway(config, secrets, mode)
    try:
        await gateway.check_credentials()
    except ProviderConfigurationError:
        where = "PayPal's sandbox" if mode == "TEST" else "PayPal's live API"
        raise Invalid(
            f"{where} refused these credentials (sandbox and live credentials are not interchangeable)",
            field=("clientSecret",),
            code="INVALID_PROVIDER_KEY",
        ) from None
    except ProviderError as error:
        raise Invalid(error.message, field=("provider",), code="PROVIDER_UNAVAILABLE") from None
    finally:
        await gateway.aclose()
    return secrets, mode, client_id[-4:]


async def located(uow: UnitOfWork, organization_id: uuid.UUID, event: ProviderEvent) -> ProviderEvent:
    """A PayPal refund or reversal names the capture only: the order (our payment id) is found from it."""
    if event.payment_id or not event.charge_id:
        return event
    payment = await PaymentRepository(uow.session, organization_id).payment_by_charge_id(
        PaymentProvider.PAYPAL.value, event.charge_id
    )
    if payment is None or not payment.provider_payment_id or payment.attempt_id is None:
        return event
    return replace(event, payment_id=payment.provider_payment_id)
