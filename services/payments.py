"""Collecting invoices through a payment provider: the use cases' first room.

What comes here: charging an open invoice with the customer's default payment method through
the organization's `integrations.payments` gateway (Stripe, PayPal), recording each attempt and
payment, applying provider webhooks (settled, failed, returned, refunded) and refunds. The rules
are in `domain/payments.py` (allocation, partial and over payments, refund bounds, the payment
status); the invoice's status changes go through the one invoice-transition function, and jobs
are queued after commit with deterministic ids, so a retried job charges once.

For now: the request of one attempt (its idempotency key is what makes a retried job safe) and
what a provider's answer means for the invoice's collection.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum import bic as bic_code
from stdnum import iban as iban_number
from stdnum.exceptions import ValidationError
from stdnum.us import rtn as routing_number

from db.models import (
    Customer,
    Invoice,
    OrganizationMode,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentProviderConfig,
    ProviderEventReceipt,
    Wallet,
    WalletTransaction,
)
from db.repositories.billing import InvoiceRepository
from db.repositories.credits import CreditRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.pagination import Page
from db.repositories.payments import PaymentRepository
from db.session import Database, UnitOfWork
from domain.numbering import InvoiceStatus
from domain.payments import (
    AttemptOutcome,
    ManualPaymentMethod,
    PaymentProvider,
    PaymentRecord,
    PaymentState,
    allocate_payment,
    amount_paid,
    amount_to_minor,
    check_currency,
    check_refund,
    invoice_payment_status,
)
from integrations.clock import Clock
from integrations.payments import stripe as stripe_gateway
from integrations.payments.base import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    PaymentGateway,
    PaymentMethodDetails,
    ProviderError,
    ProviderEvent,
    ProviderEventType,
    RefundRequest,
    RefundStatus,
)
from integrations.payments.config import PaymentConfig
from services import audit, credits, dunning, paypal_payments
from services.actors import Actor
from services.clocks import customer_time, on_customer_time
from services.errors import CommonCode, Invalid, NotFound, Resource, found
from services.invoice_state import announce_invoice, invoice_view, move_invoice
from services.provider_credentials import open_credentials, seal_credentials

_OUTCOMES = {
    ChargeStatus.SUCCEEDED: AttemptOutcome.SUCCEEDED,
    ChargeStatus.PROCESSING: AttemptOutcome.PROCESSING,
    ChargeStatus.REQUIRES_ACTION: AttemptOutcome.REQUIRES_ACTION,
    ChargeStatus.FAILED: AttemptOutcome.FAILED,
}


def attempt_key(invoice_id: uuid.UUID, attempt: int) -> str:
    """The idempotency key (and job id) of collection attempt `attempt` of an invoice."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    return f"charge_invoice:{invoice_id}:{attempt}"


def charge_request(
    invoice_id: uuid.UUID,
    attempt: int,
    *,
    customer_id: str,
    payment_method_id: str,
    amount_minor: int,
    currency: str,
    description: str | None = None,
) -> ChargeRequest:
    """What the gateway is asked to charge for one attempt; the same attempt always sends the same key."""
    if amount_minor <= 0:
        raise ValueError("only an amount due is charged")
    return ChargeRequest(
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        amount=amount_minor,
        currency=currency,
        idempotency_key=attempt_key(invoice_id, attempt),
        description=description,
        metadata={"invoice_id": str(invoice_id), "attempt": str(attempt)},
    )


def attempt_outcome(result: ChargeResult) -> AttemptOutcome:
    """The provider's answer as the outcome `domain.payments.invoice_payment_status` reads."""
    return _OUTCOMES[result.status]


# --- provider credentials ------------------------------------------------------------------------


class PaymentCode(StrEnum):
    PROVIDER_NOT_CONFIGURED = "PROVIDER_NOT_CONFIGURED"
    PROVIDER_NOT_SUPPORTED = "PROVIDER_NOT_SUPPORTED"
    INVALID_PROVIDER_KEY = "INVALID_PROVIDER_KEY"
    LIVE_KEY_IN_TEST_ORGANIZATION = "LIVE_KEY_IN_TEST_ORGANIZATION"
    PROVIDER_REFUSED = "PROVIDER_REFUSED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    INVOICE_NOT_PAYABLE = "INVOICE_NOT_PAYABLE"
    NO_PAYMENT_METHOD = "NO_PAYMENT_METHOD"
    PAYMENT_NOT_FOUND = "PAYMENT_NOT_FOUND"
    PAYMENT_PROCESSING = "PAYMENT_PROCESSING"
    REFUND_FAILED = "REFUND_FAILED"
    INVALID_IBAN = "INVALID_IBAN"
    INVALID_BIC = "INVALID_BIC"
    INVALID_ROUTING_NUMBER = "INVALID_ROUTING_NUMBER"


@dataclass(frozen=True)
class ProviderCredentials:
    """What `configurePaymentProvider` takes; only the fields of the chosen provider are read."""

    provider: PaymentProvider
    secret_key: str | None = None
    webhook_secret: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    webhook_id: str | None = None
    mode: str | None = None  # PAYPAL: TEST (sandbox, the default) or LIVE
    account_holder: str | None = None
    bank_name: str | None = None
    iban: str | None = None
    bic: str | None = None
    account_number: str | None = None
    routing_number: str | None = None


def bank_account_numbers(credentials: ProviderCredentials) -> dict[str, str | None]:
    """The wire account's numbers, checked (IBAN and ABA routing check digits, BIC shape) and compacted."""
    checks = (
        ("iban", "iban", credentials.iban, iban_number, PaymentCode.INVALID_IBAN),
        ("bic", "bic", credentials.bic, bic_code, PaymentCode.INVALID_BIC),
        (
            "routingNumber",
            "routingNumber",
            credentials.routing_number,
            routing_number,
            PaymentCode.INVALID_ROUTING_NUMBER,
        ),
    )
    numbers: dict[str, str | None] = {}
    for key, field, value, check, code in checks:
        text = (value or "").strip()
        try:
            numbers[key] = check.validate(text) if text else None
        except ValidationError as error:
            raise Invalid(f"{field} {text!r} is not valid: {error}", field=(field,), code=code) from None
    numbers["accountNumber"] = (credentials.account_number or "").strip() or None
    return numbers


def _required(value: str | None, field: str) -> str:
    if not value or not value.strip():
        raise Invalid(f"{field} is required", field=(field,), code=CommonCode.REQUIRED)
    return value.strip()


async def configure_provider(
    uow: UnitOfWork, actor: Actor, config: PaymentConfig, credentials: ProviderCredentials
) -> PaymentProviderConfig:
    """Store an organization's credentials for a provider, sealed; the secrets are never read back out."""
    provider = credentials.provider
    if provider is PaymentProvider.STRIPE:
        secret_key = _required(credentials.secret_key, "secretKey")
        if not stripe_gateway.is_secret_key(secret_key):
            raise Invalid(
                "a Stripe secret key starts with sk_test_ or sk_live_",
                field=("secretKey",),
                code=PaymentCode.INVALID_PROVIDER_KEY,
            )
        secrets = {"secretKey": secret_key, "webhookSecret": (credentials.webhook_secret or "").strip() or None}
        mode = "TEST" if stripe_gateway.is_test_key(secret_key) else "LIVE"
        organization = await OrganizationRepository(uow.session).existing(actor.organization_id)
        if mode == "LIVE" and organization.mode == OrganizationMode.TEST:
            raise Invalid(
                "a test organization takes test keys only (sk_test_…)",
                field=("secretKey",),
                code=PaymentCode.LIVE_KEY_IN_TEST_ORGANIZATION,
            )
        last4 = secret_key[-4:]
    elif provider is PaymentProvider.PAYPAL:
        organization = await OrganizationRepository(uow.session).existing(actor.organization_id)
        secrets, mode, last4 = await paypal_payments.checked_credentials(
            config,
            organization.mode,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            webhook_id=credentials.webhook_id,
            mode=credentials.mode,
        )
    elif provider is PaymentProvider.WIRE:
        secrets = {
            "accountHolder": _required(credentials.account_holder, "accountHolder"),
            "bankName": _required(credentials.bank_name, "bankName"),
            **bank_account_numbers(credentials),
        }
        account = secrets["iban"] or secrets["accountNumber"]
        if not account:
            raise Invalid("an iban or an accountNumber is required", field=("iban",), code=CommonCode.REQUIRED)
        mode, last4 = "LIVE", "".join(ch for ch in account if ch.isalnum())[-4:]
    else:
        raise Invalid(
            f"{provider.value} cannot be configured yet",
            field=("provider",),
            code=PaymentCode.PROVIDER_NOT_SUPPORTED,
        )
    repo = PaymentRepository(uow.session, actor.organization_id)
    sealed = seal_credentials(config, actor.organization_id, provider.value, secrets)
    row = await repo.provider_config(provider.value, for_update=True)
    before = None if row is None else {"provider": row.provider, "mode": row.mode, "last4": row.last4}
    if row is None:
        row = PaymentProviderConfig(organization_id=actor.organization_id, provider=provider.value)
        uow.session.add(row)
    else:
        row.updated_at = uow.clock.now()
    row.mode, row.credentials, row.last4 = mode, sealed, last4
    await uow.session.flush()
    after = {"provider": row.provider, "mode": row.mode, "last4": row.last4}
    await audit.record(
        uow, actor, "payment_provider.configured", "payment_provider_config", row.id, before=before, after=after
    )
    return row


def build_gateway(config: PaymentConfig, row: PaymentProviderConfig) -> PaymentGateway:
    """The gateway of an organization's configured provider (the caller closes it)."""
    secrets = open_credentials(config, row)
    if row.provider == PaymentProvider.STRIPE.value:
        return stripe_gateway.StripeGateway(
            secrets["secretKey"],
            secrets.get("webhookSecret"),
            api_base=config.stripe_api_base,
            http_client=stripe_gateway.shared_http_client(timeout=20.0),
        )
    if row.provider == PaymentProvider.PAYPAL.value:
        return paypal_payments.build_gateway(config, secrets, row.mode)
    raise ProviderError(PaymentCode.PROVIDER_NOT_SUPPORTED, f"{row.provider} charges are not wired yet")


async def _gateway(session: AsyncSession, config: PaymentConfig, org: uuid.UUID, provider: str) -> PaymentGateway:
    row = await PaymentRepository(session, org).provider_config(provider)
    if row is None:
        raise Invalid(
            f"{provider} is not configured: configurePaymentProvider first",
            field=("provider",),
            code=PaymentCode.PROVIDER_NOT_CONFIGURED,
        )
    return build_gateway(config, row)


# --- payment methods -----------------------------------------------------------------------------


async def set_customer_payment_method(
    uow: UnitOfWork,
    actor: Actor,
    config: PaymentConfig,
    *,
    customer_external_id: str,
    provider: PaymentProvider,
    provider_payment_method_id: str,
    make_default: bool = True,
) -> Customer:
    """Attach a provider payment method (Stripe: pm_… or a test id; PayPal: a vault payment token) to the
    provider customer we keep, once."""
    if provider not in (PaymentProvider.STRIPE, PaymentProvider.PAYPAL):
        raise Invalid(
            f"{provider.value} payment methods are not wired yet",
            field=("provider",),
            code=PaymentCode.PROVIDER_NOT_SUPPORTED,
        )
    method_id = _required(provider_payment_method_id, "providerPaymentMethodId")
    customer = found(
        await CustomerRepository(uow.session, actor.organization_id).by_external_id(customer_external_id),
        NotFound(Resource.CUSTOMER, field=("customerExternalId",)),
    )
    gateway = await _gateway(uow.session, config, actor.organization_id, provider.value)
    try:
        provider_customer_id = await provider_customer_of(uow, gateway, customer)
        details = await gateway.attach_payment_method(
            customer_id=provider_customer_id, payment_method_id=method_id, make_default=make_default
        )
    except ProviderError as error:
        code = PaymentCode.PROVIDER_UNAVAILABLE if error.retryable else PaymentCode.PROVIDER_REFUSED
        raise Invalid(error.message, field=("providerPaymentMethodId",), code=code) from None
    finally:
        await gateway.aclose()
    await save_payment_method(uow, actor, customer, provider, details, make_default=make_default)
    return customer


async def provider_customer_of(uow: UnitOfWork, gateway: PaymentGateway, customer: Customer) -> str:
    """Our customer's id at the gateway's provider, created there once (ProviderError if it cannot be)."""
    repo = PaymentRepository(uow.session, customer.organization_id)
    provider = gateway.provider.value
    known = await repo.provider_customer(customer.id, provider)
    if known is not None:
        return known.provider_customer_id
    created = await gateway.create_customer(
        email=customer.email,
        name=customer.name,
        idempotency_key=f"customer:{customer.id}",  # a retried request finds the same provider customer
        metadata={"customer_id": str(customer.id), "external_id": customer.external_id},
    )
    return await repo.keep_provider_customer(customer.id, provider, created.id)


async def save_payment_method(
    uow: UnitOfWork,
    actor: Actor,
    customer: Customer,
    provider: PaymentProvider,
    details: PaymentMethodDetails,
    *,
    make_default: bool,
) -> PaymentMethod:
    """The provider's saved method as a row of ours (once per provider id), the default if asked or the first."""
    repo = PaymentRepository(uow.session, actor.organization_id)
    row = await repo.payment_method(customer.id, provider.value, details.id)
    if row is None:
        row = PaymentMethod(
            organization_id=actor.organization_id,
            customer_id=customer.id,
            provider=provider.value,
            provider_payment_method_id=details.id,
            is_default=False,
        )
        uow.session.add(row)
    row.kind, row.brand, row.last4, row.expires_at = details.kind, details.brand, details.last4, details.expires_at
    if make_default or await repo.default_payment_method(customer.id) is None:
        await repo.clear_default(customer.id)
        await uow.session.flush()
        row.is_default = True
    await uow.session.flush()
    if row.is_default:  # invoices whose hard decline waited for a new method are tried with it at once
        await dunning.retry_with_new_method(uow, actor, customer)
    await audit.record(
        uow,
        actor,
        "payment_method.attached",
        "customer",
        customer.id,
        after={"provider": provider.value, "kind": row.kind, "last4": row.last4, "isDefault": row.is_default},
    )
    return row


# --- collection ----------------------------------------------------------------------------------

FINISHED = frozenset({"SUCCEEDED", "PROCESSING", "REQUIRES_ACTION"})


OPEN_FOR_PAYMENT = (InvoiceStatus.OPEN.value, InvoiceStatus.UNCOLLECTIBLE.value)
"""The statuses an invoice can be paid in (collected, recorded by hand, matched from a bank statement)."""


def _is_open_for_collection(invoice: Invoice) -> bool:
    return invoice.status in OPEN_FOR_PAYMENT


def _record(payment: Payment) -> PaymentRecord:
    return PaymentRecord(payment.applied_minor, PaymentState(payment.status), payment.refunded_minor)


async def refresh_payment_status(uow: UnitOfWork, invoice: Invoice, latest: AttemptOutcome | None) -> None:
    """The invoice's amount paid and payment status, from its payments and its latest attempt."""
    payments = await PaymentRepository(uow.session, invoice.organization_id).payments_of_invoice(invoice.id)
    records = [_record(p) for p in payments]
    invoice.paid_minor = amount_paid(records)
    invoice.payment_status = invoice_payment_status(
        total_due=invoice.amount_due_minor, payments=records, latest_attempt=latest
    ).value


@dataclass(frozen=True)
class _Planned:
    attempt_number: int
    request: ChargeRequest
    provider: str


def _may_resend(status: str, retryable: bool) -> bool:
    """An attempt without an answer yet (or whose provider could not be reached) is sent again with its key."""
    return status == "PENDING" or (status == "FAILED" and retryable)


async def _plan_attempt(
    uow: UnitOfWork, org: uuid.UUID, invoice_id: uuid.UUID, number: int | None, return_url: str | None
) -> _Planned | None:
    """The attempt to send, its row made (or found unanswered): None when there is nothing to charge."""
    invoice = await InvoiceRepository(uow.session, org).get(invoice_id, for_update=True)
    if invoice is None or not _is_open_for_collection(invoice):
        return None
    outstanding = invoice.amount_due_minor - invoice.paid_minor
    if outstanding <= 0:
        return None
    repo = PaymentRepository(uow.session, org)
    attempts = await repo.attempts(invoice.id)
    latest = attempts[-1] if attempts else None
    if number is None and latest is not None and latest.status == "PROCESSING":
        return None  # a debit is settling: a second charge could take the money twice
    if number is None:  # a manual collection: go on with an unanswered attempt, else the next one
        if latest is None:
            number = 1
        else:
            number = latest.number if _may_resend(latest.status, latest.retryable) else latest.number + 1
    existing = next((a for a in attempts if a.number == number), None)
    if existing is not None:
        if not _may_resend(existing.status, existing.retryable):
            return None  # answered: a second run of the same attempt charges nothing
        method_id = existing.payment_method_id
        method = await uow.session.get(PaymentMethod, method_id) if method_id else None
        amount = existing.amount_minor
    else:
        method = await repo.default_payment_method(invoice.customer_id)
        amount = outstanding
    if method is None:
        return None
    provider_customer = await repo.provider_customer(invoice.customer_id, method.provider)
    if provider_customer is None:
        return None
    request = charge_request(
        invoice.id,
        number,
        customer_id=provider_customer.provider_customer_id,
        payment_method_id=method.provider_payment_method_id,
        amount_minor=amount,
        currency=invoice.currency,
        description=f"Invoice {invoice.number}",
    )
    if return_url:
        request = replace(request, return_url=return_url)
    if existing is None:
        await repo.open_attempt(
            {
                "invoice_id": invoice.id,
                "number": number,
                "idempotency_key": request.idempotency_key,
                "provider": method.provider,
                "payment_method_id": method.id,
                "status": "PENDING",
                "amount_minor": amount,
                "currency": invoice.currency,
                "created_at": uow.clock.now(),  # a test clock's moment for its customers
            }
        )
    return _Planned(number, request, method.provider)


async def _apply_result(
    uow: UnitOfWork, actor: Actor, org: uuid.UUID, invoice_id: uuid.UUID, planned: _Planned, result: ChargeResult
) -> None:
    repo = PaymentRepository(uow.session, org)
    invoice = await InvoiceRepository(uow.session, org).get(invoice_id, for_update=True)
    attempt = await repo.attempt(invoice_id, planned.attempt_number, for_update=True)
    if invoice is None or attempt is None:
        return
    # Recorded once; an answer of the provider still replaces "could not reach it" (e.g. a concurrent run's 409).
    if not _may_resend(attempt.status, attempt.retryable):
        return
    if result.retryable and attempt.status == "FAILED":
        return
    now = uow.clock.now()
    outcome = attempt_outcome(result)
    attempt.status = outcome.value
    attempt.provider_payment_id = result.payment_id
    attempt.provider_charge_id = result.charge_id
    attempt.decline_code = result.decline_code
    attempt.hard_decline = result.hard_decline
    attempt.retryable = result.retryable
    attempt.failure_message = result.message if outcome is not AttemptOutcome.SUCCEEDED else None
    attempt.action_url = result.action_url
    attempt.finished_at = now
    if outcome in (AttemptOutcome.SUCCEEDED, AttemptOutcome.PROCESSING) and result.payment_id:
        if await repo.payment_by_provider_id(planned.provider, result.payment_id) is None:
            allocation = allocate_payment(
                amount_due=invoice.amount_due_minor, already_paid=invoice.paid_minor, payment=result.amount
            )
            method_id = attempt.payment_method_id
            method = await uow.session.get(PaymentMethod, method_id) if method_id else None
            settled = outcome is AttemptOutcome.SUCCEEDED
            uow.session.add(
                Payment(
                    organization_id=org,
                    invoice_id=invoice.id,
                    customer_id=invoice.customer_id,
                    attempt_id=attempt.id,
                    provider=planned.provider,
                    method=method.kind if method else "card",
                    status=(PaymentState.SUCCEEDED if settled else PaymentState.PROCESSING).value,
                    amount_minor=result.amount,
                    applied_minor=allocation.applied,
                    refunded_minor=0,
                    currency=invoice.currency,
                    provider_payment_id=result.payment_id,
                    provider_charge_id=result.charge_id,
                    paid_at=now if settled else None,
                )
            )
            await uow.session.flush()
    await audit.record(
        uow,
        actor,
        f"payment_attempt.{outcome.value.lower()}",
        "invoice",
        invoice.id,
        after={
            "attempt": attempt.number,
            "status": attempt.status,
            "amountMinor": attempt.amount_minor,
            "declineCode": attempt.decline_code,
            "hardDecline": attempt.hard_decline,
            "retryable": attempt.retryable,
            "providerPaymentId": attempt.provider_payment_id,
        },
    )
    await settle(uow, actor, invoice, outcome)


async def settle(uow: UnitOfWork, actor: Actor, invoice: Invoice, latest: AttemptOutcome | None) -> None:
    """The invoice's amount paid and payment status from its payments; PAID once nothing is left to pay."""
    before = invoice_view(invoice)
    await refresh_payment_status(uow, invoice, latest)
    if invoice.paid_minor >= invoice.amount_due_minor and _is_open_for_collection(invoice):
        await move_invoice(uow, actor, invoice, InvoiceStatus.PAID, action="invoice.paid", before=before)
        await credits.release_paid_credits(uow, actor, invoice)
    else:
        announce_invoice(uow, invoice)
    await dunning.after_settle(uow, actor, invoice, latest)  # retries, final action, recovery, emails


async def collect(
    db: Database,
    config: PaymentConfig,
    actor: Actor,
    invoice_id: uuid.UUID,
    *,
    attempt: int | None = None,
    clock: Clock | None = None,
) -> bool:
    """Charge an open invoice's amount due with the customer's default payment method: one attempt, recorded.

    The provider is called between two transactions (no lock is held while it answers). The attempt's
    row is unique per (invoice, number) and carries the idempotency key, so a job run twice, or two
    collections at once, charge once: the provider answers a repeated key with its first answer.
    Returns whether a charge was sent. `clock`: the time the attempt is made at (a test clock's moment)."""
    org = actor.organization_id
    return_url = f"{config.public_url}/invoices/{invoice_id}/paid" if config.public_url else None
    async with db.read() as session:  # most finalized invoices of a billing run have no card to charge: no lock
        if not await PaymentRepository(session, org).invoice_has_payment_method(invoice_id):
            return False
    async with db.unit_of_work(clock=clock) as uow:
        planned = await _plan_attempt(uow, org, invoice_id, attempt, return_url)
    if planned is None:
        return False
    async with db.read() as session:
        try:
            gateway: PaymentGateway | None = await _gateway(session, config, org, planned.provider)
        except Invalid:
            gateway = None
    if gateway is None:
        result = ChargeResult(
            ChargeStatus.FAILED,
            planned.request.amount,
            planned.request.currency,
            message=f"{planned.provider} is not configured",
            retryable=True,
            error_code=PaymentCode.PROVIDER_NOT_CONFIGURED,
        )
    else:
        try:
            result = await gateway.charge(planned.request)
        finally:
            await gateway.aclose()
    async with db.unit_of_work(clock=clock) as uow:
        await _apply_result(uow, actor, org, invoice_id, planned, result)
    return True


async def collect_now(db: Database, config: PaymentConfig, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    """`collectInvoice`: charge an open invoice now (also a manual retry), or say why it cannot be.

    A customer portal link may pay its own customer's invoices: any other invoice is not found for it."""
    async with db.read() as session:
        invoice = found(
            await InvoiceRepository(session, actor.organization_id).get(invoice_id),
            NotFound(Resource.INVOICE, field=("id",)),
        )
        if actor.is_portal and invoice.customer_id != actor.customer_id:
            raise NotFound(Resource.INVOICE, field=("id",))
        if not _is_open_for_collection(invoice) or invoice.amount_due_minor - invoice.paid_minor <= 0:
            raise Invalid(
                f"the invoice is {invoice.status} with nothing to collect",
                field=("id",),
                code=PaymentCode.INVOICE_NOT_PAYABLE,
            )
        repo = PaymentRepository(session, actor.organization_id)
        attempts = await repo.attempts(invoice.id)
        if attempts and attempts[-1].status == "PROCESSING":
            raise Invalid(
                "a payment of this invoice is settling: its outcome arrives from the provider",
                field=("id",),
                code=PaymentCode.PAYMENT_PROCESSING,
            )
        method = await repo.default_payment_method(invoice.customer_id)
        if method is None:
            raise Invalid(
                "the customer has no default payment method: setCustomerPaymentMethod first",
                field=("id",),
                code=PaymentCode.NO_PAYMENT_METHOD,
            )
        if await repo.provider_config(method.provider) is None:
            raise Invalid(
                f"{method.provider} is not configured", field=("id",), code=PaymentCode.PROVIDER_NOT_CONFIGURED
            )
        clock = await customer_time(session, invoice.customer)
    await collect(db, config, actor, invoice_id, clock=clock)
    async with db.read() as session:
        return found(
            await InvoiceRepository(session, actor.organization_id).get(invoice_id),
            NotFound(Resource.INVOICE, field=("id",)),
        )


# --- payments recorded by hand, refunds ----------------------------------------------------------


async def _credit_excess(uow: UnitOfWork, invoice: Invoice, excess: int) -> None:
    """An overpayment's excess: prepaid credit in the customer's wallet (opened if there is none)."""
    repo = CreditRepository(uow.session, invoice.organization_id)
    wallet = await repo.wallet(invoice.customer_id, for_update=True)
    if wallet is None:
        wallet = Wallet(customer_id=invoice.customer_id, currency=invoice.currency, balance_minor=0)
        await repo.add(wallet)
    wallet.balance_minor += excess
    uow.session.add(
        WalletTransaction(
            organization_id=invoice.organization_id,
            wallet_id=wallet.id,
            kind="OVERPAYMENT",
            amount_minor=excess,
            invoice_id=invoice.id,
            settled_at=uow.clock.now(),
        )
    )


async def record_payment(
    uow: UnitOfWork,
    actor: Actor,
    *,
    invoice_id: uuid.UUID,
    amount: Decimal,
    method: ManualPaymentMethod,
    currency: str | None = None,
    paid_at: datetime | None = None,
    reference: str | None = None,
) -> Payment:
    """A payment received outside the providers (wire, cheque…): partial, exact or over (the excess is credit)."""
    invoice = found(
        await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True),
        NotFound(Resource.INVOICE, field=("invoiceId",)),
    )
    await on_customer_time(uow, invoice.customer)  # a test clock's customer is paid at its clock's time
    if not (_is_open_for_collection(invoice) or invoice.status == InvoiceStatus.PAID.value):
        raise Invalid(
            f"a payment cannot be recorded on a {invoice.status} invoice",
            field=("invoiceId",),
            code=PaymentCode.INVOICE_NOT_PAYABLE,
        )
    if currency is not None:
        check_currency(invoice.currency, currency)
    minor = amount_to_minor(amount, invoice.currency)
    if paid_at is not None and paid_at.tzinfo is None:
        raise Invalid("paidAt needs a time zone", field=("paidAt",), code=CommonCode.NAIVE_DATETIME)
    allocation = allocate_payment(amount_due=invoice.amount_due_minor, already_paid=invoice.paid_minor, payment=minor)
    payment = Payment(
        organization_id=actor.organization_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        provider=PaymentProvider.WIRE.value,
        method=method.value,
        status=PaymentState.SUCCEEDED.value,
        amount_minor=minor,
        applied_minor=allocation.applied,
        refunded_minor=0,
        currency=invoice.currency,
        reference=(reference or "").strip()[:200] or None,
        paid_at=paid_at or uow.clock.now(),
    )
    uow.session.add(payment)
    await uow.session.flush()
    if allocation.excess:
        await _credit_excess(uow, invoice, allocation.excess)
    await audit.record(
        uow,
        actor,
        "payment.recorded",
        "invoice",
        invoice.id,
        after={
            "paymentId": str(payment.id),
            "method": payment.method,
            "amountMinor": minor,
            "appliedMinor": allocation.applied,
            "excessMinor": allocation.excess,
            "reference": payment.reference,
        },
    )
    await settle(uow, actor, invoice, None)
    return payment


async def refund_payment(
    uow: UnitOfWork,
    actor: Actor,
    config: PaymentConfig,
    *,
    payment_id: uuid.UUID,
    amount: Decimal,
    reason: str | None = None,
) -> Payment:
    """Refund part or all of a payment, at most what it brought in less earlier refunds (Stripe: a Stripe refund)."""
    repo = PaymentRepository(uow.session, actor.organization_id)
    payment = found(
        await repo.payment(payment_id, for_update=True),
        NotFound("no payment with this id", field=("paymentId",), code=PaymentCode.PAYMENT_NOT_FOUND),
    )
    if payment.status != PaymentState.SUCCEEDED.value:
        raise Invalid(
            f"a {payment.status} payment cannot be refunded", field=("paymentId",), code=PaymentCode.REFUND_FAILED
        )
    minor = amount_to_minor(amount, payment.currency)
    refunded = check_refund(amount=minor, paid=payment.applied_minor, already_refunded=payment.refunded_minor)
    if payment.provider in (PaymentProvider.STRIPE.value, PaymentProvider.PAYPAL.value):
        if not payment.provider_charge_id:
            raise Invalid("the payment has no charge to refund", field=("paymentId",), code=PaymentCode.REFUND_FAILED)
        gateway = await _gateway(uow.session, config, actor.organization_id, payment.provider)
        try:
            result = await gateway.refund(
                RefundRequest(
                    charge_id=payment.provider_charge_id,
                    amount=minor,
                    currency=payment.currency,
                    # One key per refund of this payment: a retried request refunds once.
                    idempotency_key=f"refund:{payment.id}:{payment.refunded_minor}:{minor}",
                    reason=reason,
                    payment_id=payment.provider_payment_id,
                )
            )
        finally:
            await gateway.aclose()
        if result.status is RefundStatus.FAILED:
            code = PaymentCode.PROVIDER_UNAVAILABLE if result.retryable else PaymentCode.REFUND_FAILED
            raise Invalid(result.message or "the provider refused the refund", field=("amount",), code=code)
    before = {"refundedMinor": payment.refunded_minor}
    payment.refunded_minor = refunded
    await audit.record(
        uow,
        actor,
        "payment.refunded",
        "payment",
        payment.id,
        before=before,
        after={"refundedMinor": refunded, "amountMinor": minor, "reason": reason},
    )
    if payment.invoice_id is not None:
        invoice = await InvoiceRepository(uow.session, actor.organization_id).get(payment.invoice_id, for_update=True)
        if invoice is not None:
            # amountPaid drops; the status of a PAID invoice stays (a paid invoice is corrected with credit notes).
            await refresh_payment_status(uow, invoice, None)
            announce_invoice(uow, invoice)
    return payment


async def list_payments(
    session: AsyncSession,
    actor: Actor,
    *,
    first: int | None,
    after: str | None,
    invoice_id: uuid.UUID | None,
    customer_external_id: str | None,
    with_total: bool,
) -> Page[Payment]:
    return await PaymentRepository(session, actor.organization_id).list_payments(
        first=first,
        after=after,
        invoice_id=invoice_id,
        customer_external_id=customer_external_id,
        with_total=with_total,
    )


# --- provider webhooks ---------------------------------------------------------------------------


class WebhookOutcome(StrEnum):
    APPLIED = "APPLIED"
    DUPLICATE = "DUPLICATE"  # this event id was handled before: nothing changes
    IGNORED = "IGNORED"  # verified, but about nothing collection tracks


class TooEarly(Exception):
    """The event is about a payment whose charge has not been answered yet (the provider sent it before its answer):
    nothing is kept, not even its receipt, and the endpoint answers 409 so that the provider sends it again."""


class UnknownWebhookTarget(Exception):
    """No such organization, or it has not configured the provider: answered 404."""


def _event_result(event: ProviderEvent, attempt: PaymentAttempt) -> ChargeResult | None:
    """A verified event about an unanswered attempt, as the charge's answer would have said it."""
    status = {
        ProviderEventType.PAYMENT_SUCCEEDED: ChargeStatus.SUCCEEDED,
        ProviderEventType.PAYMENT_PROCESSING: ChargeStatus.PROCESSING,
        ProviderEventType.PAYMENT_ACTION_REQUIRED: ChargeStatus.REQUIRES_ACTION,
        ProviderEventType.PAYMENT_FAILED: ChargeStatus.FAILED,
    }.get(event.type)
    if status is None:
        return None
    return ChargeResult(
        status,
        event.amount if event.amount is not None and status is ChargeStatus.SUCCEEDED else attempt.amount_minor,
        attempt.currency,
        payment_id=event.payment_id,
        charge_id=event.charge_id,
        decline_code=event.decline_code,
        hard_decline=event.hard_decline,
        message=event.message,
    )


async def _attempt_of(
    repo: PaymentRepository, event: ProviderEvent, provider: PaymentProvider
) -> tuple[uuid.UUID, int] | None:
    try:
        return uuid.UUID(event.metadata["invoice_id"]), int(event.metadata["attempt"])
    except (KeyError, ValueError):
        pass
    if event.payment_id:
        payment = await repo.payment_by_provider_id(provider.value, event.payment_id)
        if payment is not None and payment.invoice_id is not None and payment.attempt_id is not None:
            attempt = await repo.session.get(PaymentAttempt, payment.attempt_id)
            if attempt is not None:
                return attempt.invoice_id, attempt.number
    return None


async def receive_event(uow: UnitOfWork, org: uuid.UUID, provider: PaymentProvider, event: ProviderEvent) -> bool:
    """Keep a provider event's receipt: False when its id was handled before (then nothing may change)."""
    fresh = await uow.session.execute(
        insert(ProviderEventReceipt)
        .values(
            id=uuid.uuid4(),
            organization_id=org,
            provider=provider.value,
            event_id=event.id,
            event_type=event.provider_type,
            payload={"paymentId": event.payment_id, "type": event.type.value},
        )
        .on_conflict_do_nothing()
        .returning(ProviderEventReceipt.id)
    )
    return fresh.scalar() is not None


async def apply_provider_event(
    uow: UnitOfWork, actor: Actor, event: ProviderEvent, provider: PaymentProvider = PaymentProvider.STRIPE
) -> WebhookOutcome:
    """What a verified provider event changes: settled, failed, returned or refunded payments. Once per event id."""
    org = actor.organization_id
    if not await receive_event(uow, org, provider, event):
        return WebhookOutcome.DUPLICATE
    repo = PaymentRepository(uow.session, org)
    target = await _attempt_of(repo, event, provider)
    if target is None:
        return WebhookOutcome.IGNORED
    invoice_id, number = target
    invoice = await InvoiceRepository(uow.session, org).get(invoice_id, for_update=True)
    attempt = await repo.attempt(invoice_id, number, for_update=True)
    if invoice is None or attempt is None:
        return WebhookOutcome.IGNORED
    if _may_resend(attempt.status, attempt.retryable):  # the event came before the charge's own answer
        result = _event_result(event, attempt)
        if result is None and event.type in _AFTER_SETTLEMENT:  # a dispute or refund of what is not recorded yet
            raise TooEarly(f"the payment of attempt {number} of invoice {invoice_id} is not recorded yet")
        if result is None:
            return WebhookOutcome.IGNORED
        planned = _Planned(number, _stub_request(attempt), attempt.provider)
        await _apply_result(uow, actor, org, invoice_id, planned, result)
        return WebhookOutcome.APPLIED
    payment = await repo.payment_by_provider_id(attempt.provider, event.payment_id) if event.payment_id else None
    now = uow.clock.now()
    taken_back = False
    if event.type is ProviderEventType.PAYMENT_SUCCEEDED:
        if attempt.status == "SUCCEEDED" and payment is not None and payment.status == PaymentState.SUCCEEDED.value:
            return WebhookOutcome.IGNORED
        attempt.status, attempt.finished_at, attempt.action_url = "SUCCEEDED", now, None
        attempt.provider_payment_id = attempt.provider_payment_id or event.payment_id
        attempt.provider_charge_id = event.charge_id or attempt.provider_charge_id
        amount = event.amount if event.amount is not None else attempt.amount_minor
        if payment is None:
            allocation = allocate_payment(
                amount_due=invoice.amount_due_minor, already_paid=invoice.paid_minor, payment=amount
            )
            method = (
                await uow.session.get(PaymentMethod, attempt.payment_method_id) if attempt.payment_method_id else None
            )
            uow.session.add(
                Payment(
                    organization_id=org,
                    invoice_id=invoice.id,
                    customer_id=invoice.customer_id,
                    attempt_id=attempt.id,
                    provider=attempt.provider,
                    method=method.kind if method else "card",
                    status=PaymentState.SUCCEEDED.value,
                    amount_minor=amount,
                    applied_minor=allocation.applied,
                    refunded_minor=0,
                    currency=invoice.currency,
                    provider_payment_id=event.payment_id,
                    provider_charge_id=event.charge_id,
                    paid_at=now,
                )
            )
            await uow.session.flush()
        else:
            payment.status, payment.paid_at = PaymentState.SUCCEEDED.value, now
            payment.provider_charge_id = payment.provider_charge_id or event.charge_id
        latest: AttemptOutcome | None = AttemptOutcome.SUCCEEDED
    elif event.type is ProviderEventType.PAYMENT_FAILED and payment is not None and _settled_debit(payment):
        # A bank debit that settled fails after all (an ACH return reported as a failure, e.g. R01): taken back.
        # Cards never fail once succeeded: a late payment_failed of a card is an earlier try's, delivered late.
        payment.status, taken_back = PaymentState.RETURNED.value, True
        attempt.decline_code = event.decline_code or attempt.decline_code
        attempt.failure_message = event.message or attempt.failure_message
        latest = AttemptOutcome.FAILED
    elif event.type is ProviderEventType.PAYMENT_FAILED:
        if attempt.status not in ("PROCESSING", "REQUIRES_ACTION"):
            return WebhookOutcome.IGNORED
        attempt.status, attempt.finished_at = "FAILED", now
        attempt.decline_code, attempt.hard_decline = event.decline_code, event.hard_decline
        attempt.failure_message = event.message
        if payment is not None and payment.status == PaymentState.PROCESSING.value:
            payment.status = PaymentState.FAILED.value
        latest = AttemptOutcome.FAILED
    elif event.type is ProviderEventType.PAYMENT_RETURNED:
        if payment is None or payment.status != PaymentState.SUCCEEDED.value:
            return WebhookOutcome.IGNORED
        # A bank debit's return is final (the money is gone): the invoice reopens. A card dispute can still be
        # won: the payment is RETURNED, amountPaid drops, the invoice's status stays until a person decides.
        payment.status, taken_back = PaymentState.RETURNED.value, payment.method == "us_bank_account"
        attempt.decline_code = event.decline_code or attempt.decline_code
        attempt.failure_message = event.message or attempt.failure_message
        latest = AttemptOutcome.FAILED
    elif event.type is ProviderEventType.PAYMENT_REINSTATED:
        # A card dispute won: the funds come back, and with them what the payment paid of the invoice.
        if payment is None or payment.status != PaymentState.RETURNED.value:
            return WebhookOutcome.IGNORED
        payment.status = PaymentState.SUCCEEDED.value
        latest = AttemptOutcome.SUCCEEDED
    elif event.type is ProviderEventType.PAYMENT_REFUNDED:
        if payment is None or event.amount is None:
            return WebhookOutcome.IGNORED
        payment.refunded_minor = max(payment.refunded_minor, min(event.amount, payment.applied_minor))
        latest = None
    else:
        return WebhookOutcome.IGNORED
    await audit.record(
        uow,
        actor,
        f"payment.webhook.{event.type.value.lower()}",
        "invoice",
        invoice.id,
        after={"eventId": event.id, "attempt": attempt.number, "status": attempt.status},
    )
    if taken_back:
        await reopen_taken_back(uow, actor, invoice, reason=event.decline_code, event_id=event.id)
    await settle(uow, actor, invoice, latest)
    return WebhookOutcome.APPLIED


# Events about a payment that must have been recorded first: one of them arriving before the charge's answer is
# refused for now (TooEarly), never dropped.
_AFTER_SETTLEMENT = frozenset(
    {ProviderEventType.PAYMENT_RETURNED, ProviderEventType.PAYMENT_REINSTATED, ProviderEventType.PAYMENT_REFUNDED}
)


def _settled_debit(payment: Payment) -> bool:
    return payment.status == PaymentState.SUCCEEDED.value and payment.method == "us_bank_account"


async def reopen_taken_back(
    uow: UnitOfWork, actor: Actor, invoice: Invoice, *, reason: str | None, event_id: str | None
) -> None:
    """A payment of the invoice was taken back by the payer's bank (ACH return, lost dispute): amountPaid drops,
    paymentStatus is FAILED and a PAID invoice that is no longer paid in full is OPEN again (collectable, dunned)."""
    before = invoice_view(invoice)
    await refresh_payment_status(uow, invoice, AttemptOutcome.FAILED)
    if invoice.status == InvoiceStatus.PAID.value and invoice.paid_minor < invoice.amount_due_minor:
        await move_invoice(uow, actor, invoice, InvoiceStatus.OPEN, action=None, payment_taken_back=True)
        await credits.take_back_paid_credits(uow, actor, invoice)  # a credit purchase: its credits leave again
        await audit.record(
            uow,
            actor,
            "invoice.reopened",
            "invoice",
            invoice.id,
            before=before,
            after={
                **invoice_view(invoice),
                "amountPaidMinor": invoice.paid_minor,
                "reason": reason,
                "eventId": event_id,
            },
        )


def _stub_request(attempt: PaymentAttempt) -> ChargeRequest:
    return ChargeRequest("", "", attempt.amount_minor, attempt.currency, attempt.idempotency_key)
