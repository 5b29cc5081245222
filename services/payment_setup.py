"""Provider-hosted setup sessions: the customer saves a payment method on the provider's page, never ours.

Stripe: a Checkout Session in `mode=setup` for our Stripe customer; when the customer is done,
Stripe sends `checkout.session.completed` (verified like every Stripe webhook) and the saved
method becomes the customer's default. Stripe sends the customer back to `returnUrl` with
`session_id={CHECKOUT_SESSION_ID}` added, so a return page may also finish it itself
(`completePaymentSetupSession`). PayPal: a Vault v3 setup token whose `approve` link is the page;
PayPal sends the payer back to `returnUrl` with `approval_token_id`, and
`completePaymentSetupSession` with that id turns the approved setup token into a payment token,
saved as the default (PayPal sends no webhook for an approval).

`returnUrl` (and `cancelUrl`) must be absolute http(s) URLs with a host, without user or
password, at most 2048 characters; when PUBLIC_URL is https (a deployment), they must be https too.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Customer
from db.repositories.customers import CustomerRepository
from db.repositories.payments import PaymentRepository
from db.session import Database, UnitOfWork
from domain.payments import PaymentProvider
from integrations.payments import paypal as paypal_gateway
from integrations.payments.base import PaymentGateway, PaymentMethodDetails, ProviderError, ProviderEvent, SetupSession
from integrations.payments.config import PaymentConfig
from services import audit, payments
from services.actors import Actor, system_actor
from services.errors import CommonCode, Invalid, NotFound, Resource, found

MAX_URL_LENGTH = 2048
STRIPE_SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"  # Stripe fills it in when it sends the customer back


class SetupCode:
    INVALID_RETURN_URL = "INVALID_RETURN_URL"
    SETUP_NOT_COMPLETE = "SETUP_NOT_COMPLETE"
    SETUP_NOT_FOUND = "SETUP_NOT_FOUND"
    SETUP_OF_ANOTHER_CUSTOMER = "SETUP_OF_ANOTHER_CUSTOMER"


def checked_url(value: str | None, field: str, public_url: str | None) -> str:
    """An absolute http(s) URL the provider may send the customer back to, or a userError."""
    text = (value or "").strip()
    if not text:
        raise Invalid(f"{field} is required", field=(field,), code=CommonCode.REQUIRED)
    if len(text) > MAX_URL_LENGTH or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise Invalid(
            f"{field} is at most {MAX_URL_LENGTH} characters without spaces",
            field=(field,),
            code=SetupCode.INVALID_RETURN_URL,
        )
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 — a malformed port raises here
    except ValueError:
        host = None
        parts = urlsplit("")
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise Invalid(
            f"{field} must be an absolute http(s) URL such as https://app.example.com/billing/done",
            field=(field,),
            code=SetupCode.INVALID_RETURN_URL,
        )
    if parts.username is not None or parts.password is not None:
        raise Invalid(f"{field} may not carry a user or password", field=(field,), code=SetupCode.INVALID_RETURN_URL)
    if public_url and public_url.lower().startswith("https://") and parts.scheme.lower() != "https":
        raise Invalid(
            f"{field} must be https (this deployment's PUBLIC_URL is https)",
            field=(field,),
            code=SetupCode.INVALID_RETURN_URL,
        )
    return text


def _origin_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _with_stripe_session(url: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}session_id={STRIPE_SESSION_PLACEHOLDER}"))


HOSTED_SETUP_PROVIDERS = (PaymentProvider.STRIPE, PaymentProvider.PAYPAL)


async def hosted_providers(session: AsyncSession, organization_id: uuid.UUID) -> list[PaymentProvider]:
    """The providers the organization configured that have a hosted setup page (what a portal may offer)."""
    repo = PaymentRepository(session, organization_id)
    return [p for p in HOSTED_SETUP_PROVIDERS if await repo.provider_config(p.value) is not None]


def _supported(provider: PaymentProvider) -> None:
    if provider not in HOSTED_SETUP_PROVIDERS:
        raise Invalid(
            f"{provider.value} has no provider-hosted setup page",
            field=("provider",),
            code=payments.PaymentCode.PROVIDER_NOT_SUPPORTED,
        )


async def _customer(uow: UnitOfWork, actor: Actor, external_id: str) -> Customer:
    return found(
        await CustomerRepository(uow.session, actor.organization_id).by_external_id(external_id),
        NotFound(Resource.CUSTOMER, field=("customerExternalId",)),
    )


def _invalid(error: ProviderError, field: str) -> Invalid:
    if error.retryable:
        return Invalid(error.message, field=(field,), code=payments.PaymentCode.PROVIDER_UNAVAILABLE)
    if error.code in (SetupCode.SETUP_NOT_COMPLETE, "SETUP_TOKEN_NOT_APPROVED"):
        return Invalid(error.message, field=(field,), code=SetupCode.SETUP_NOT_COMPLETE)
    if error.code == SetupCode.SETUP_OF_ANOTHER_CUSTOMER:
        return Invalid(error.message, field=(field,), code=SetupCode.SETUP_OF_ANOTHER_CUSTOMER)
    if error.status == 404 or error.code in ("INVALID_RESOURCE_ID", "resource_missing"):
        return Invalid("the provider knows no such setup session", field=(field,), code=SetupCode.SETUP_NOT_FOUND)
    return Invalid(error.message, field=(field,), code=payments.PaymentCode.PROVIDER_REFUSED)


async def create_setup_session(
    uow: UnitOfWork,
    actor: Actor,
    config: PaymentConfig,
    *,
    customer_external_id: str,
    provider: PaymentProvider,
    return_url: str,
    cancel_url: str | None = None,
    return_origin: str | None = None,
) -> tuple[SetupSession, PaymentProvider]:
    """A provider-hosted page where the customer saves a payment method; its URL is what the customer opens.

    `return_origin` (a customer portal link's request: PUBLIC_URL or the portal's origin): the provider may send
    the customer back there only, so that a portal link cannot make a page that sends them somewhere else."""
    _supported(provider)
    back = checked_url(return_url, "returnUrl", config.public_url)
    cancel = checked_url(cancel_url, "cancelUrl", config.public_url) if cancel_url else None
    if return_origin is not None:
        for field, url in (("returnUrl", back), ("cancelUrl", cancel)):
            if url is not None and _origin_of(url) != _origin_of(return_origin):
                raise Invalid(
                    f"{field} must be a page of the customer portal ({return_origin.rstrip('/')}/portal/…)",
                    field=(field,),
                    code=SetupCode.INVALID_RETURN_URL,
                )
    customer = await _customer(uow, actor, customer_external_id)
    gateway = await payments._gateway(uow.session, config, actor.organization_id, provider.value)
    try:
        provider_customer_id = await payments.provider_customer_of(uow, gateway, customer)
        session = await gateway.create_setup_session(
            customer_id=provider_customer_id,
            return_url=_with_stripe_session(back) if provider is PaymentProvider.STRIPE else back,
            cancel_url=cancel or back,
            # Each call is a new page: a fresh key (a retried call makes another session, never a charge).
            idempotency_key=f"setup:{customer.id}:{uuid.uuid4().hex}",
        )
    except ProviderError as error:
        raise _invalid(error, "provider") from None
    finally:
        await gateway.aclose()
    await audit.record(
        uow,
        actor,
        "payment_setup_session.created",
        "customer",
        customer.id,
        after={"provider": provider.value, "sessionId": session.id},
    )
    return session, provider


async def _finish(
    gateway: PaymentGateway, provider: PaymentProvider, provider_customer_id: str, session_id: str, make_default: bool
) -> PaymentMethodDetails:
    if isinstance(gateway, paypal_gateway.PayPalGateway):
        owner = await gateway.setup_token_customer(session_id)
        if owner is not None and owner != provider_customer_id:
            raise ProviderError(SetupCode.SETUP_OF_ANOTHER_CUSTOMER, "the setup token belongs to another customer")
    details = await gateway.finish_setup(customer_id=provider_customer_id, setup_reference=session_id)
    if make_default and provider is PaymentProvider.STRIPE:
        await gateway.set_default_payment_method(customer_id=provider_customer_id, payment_method_id=details.id)
    return details


async def complete_setup_session(
    uow: UnitOfWork,
    actor: Actor,
    config: PaymentConfig,
    *,
    customer_external_id: str,
    provider: PaymentProvider,
    session_id: str,
    make_default: bool = True,
) -> Customer:
    """Save what the customer saved on the provider's page (Stripe: the session id; PayPal: approval_token_id)."""
    _supported(provider)
    reference = (session_id or "").strip()
    if not reference:
        raise Invalid("sessionId is required", field=("sessionId",), code=CommonCode.REQUIRED)
    customer = await _customer(uow, actor, customer_external_id)
    known = await PaymentRepository(uow.session, actor.organization_id).provider_customer(customer.id, provider.value)
    if known is None:
        raise Invalid(
            "no setup session was made for this customer", field=("sessionId",), code=SetupCode.SETUP_NOT_FOUND
        )
    gateway = await payments._gateway(uow.session, config, actor.organization_id, provider.value)
    try:
        details = await _finish(gateway, provider, known.provider_customer_id, reference, make_default)
    except ProviderError as error:
        raise _invalid(error, "sessionId") from None
    finally:
        await gateway.aclose()
    await payments.save_payment_method(uow, actor, customer, provider, details, make_default=make_default)
    return customer


async def complete_from_event(
    db: Database, organization_id: uuid.UUID, gateway: PaymentGateway, event: ProviderEvent
) -> payments.WebhookOutcome:
    """A verified "setup completed" webhook (Stripe's checkout.session.completed): the method saved, the default.

    Handled once per event id; a provider that cannot be reached raises (answered 503: the provider retries)."""
    provider = gateway.provider
    async with db.read() as session:
        repo = PaymentRepository(session, organization_id)
        known = (
            await repo.provider_customer_by_provider_id(provider.value, event.customer_id)
            if event.customer_id
            else None
        )
        customer_id = known.customer_id if known else None
    details = None
    if known is not None and event.setup_reference:
        details = await _finish(gateway, provider, known.provider_customer_id, event.setup_reference, True)
    actor = system_actor(organization_id, name=provider.value.lower(), kind="webhook")
    async with db.unit_of_work() as uow:
        if not await payments.receive_event(uow, organization_id, provider, event):
            return payments.WebhookOutcome.DUPLICATE
        customer = await uow.session.get(Customer, customer_id) if customer_id else None
        if customer is None or details is None:
            return payments.WebhookOutcome.IGNORED
        await payments.save_payment_method(uow, actor, customer, provider, details, make_default=True)
    return payments.WebhookOutcome.APPLIED
