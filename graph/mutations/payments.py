"""Getting paid: provider credentials, payment methods, collection, payments recorded by hand, refunds."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from db.models import Role
from domain.errors import DomainError
from graph.context import Context
from graph.errors import UserError, user_error
from graph.mutations.billing import InvoiceIdInput, InvoicePayload
from graph.mutations.common import request_origin, run_customer_use_case, run_use_case
from graph.mutations.customers import CustomerPayload
from graph.permissions import portal_or_role
from graph.types.customer import Customer
from graph.types.invoice import Invoice
from graph.types.payments import ManualPaymentMethod, Payment, PaymentProvider
from integrations.payments.config import PaymentConfig
from services import payment_setup, payments
from services.errors import CommonCode, Invalid


def _config(info: Info[Context, None]) -> PaymentConfig:
    config = info.context.services.payments
    if config is None:  # an app assembled without payment settings (never in `serve`)
        raise RuntimeError("the app was built without payment settings")
    return config


@strawberry.input
class ConfigurePaymentProviderInput:
    provider: PaymentProvider
    secret_key: str | None = strawberry.field(default=None, description="STRIPE: sk_test_… or sk_live_….")
    webhook_secret: str | None = strawberry.field(default=None, description="STRIPE: the endpoint's whsec_….")
    client_id: str | None = strawberry.field(default=None, description="PAYPAL: the REST app's client id.")
    client_secret: str | None = strawberry.field(default=None, description="PAYPAL: the REST app's secret.")
    webhook_id: str | None = strawberry.field(
        default=None, description="PAYPAL: the id of the webhook PayPal sends to /webhooks/paypal/{organizationId}."
    )
    mode: str | None = strawberry.field(
        default=None,
        description="PAYPAL: TEST (the default: sandbox credentials) or LIVE; a test organization takes TEST only. "
        "The credentials are checked at PayPal before they are stored.",
    )
    account_holder: str | None = strawberry.field(default=None, description="WIRE.")
    bank_name: str | None = strawberry.field(default=None, description="WIRE.")
    iban: str | None = strawberry.field(default=None, description="WIRE: an IBAN, or accountNumber.")
    bic: str | None = None
    account_number: str | None = None
    routing_number: str | None = None


@strawberry.type(description="A configured provider: its secrets are encrypted at rest and never returned.")
class PaymentProviderPayload:
    provider: PaymentProvider | None
    mode: str | None = strawberry.field(description="TEST or LIVE (from the key).")
    last4: str | None = strawberry.field(description="The last 4 characters of the key or account.")
    user_errors: list[UserError]


@strawberry.input
class SetCustomerPaymentMethodInput:
    customer_external_id: str
    provider: PaymentProvider
    provider_payment_method_id: str = strawberry.field(
        description="Stripe: pm_… or a test id such as pm_card_visa; PayPal: a vault payment token id."
    )
    make_default: bool = True


def _invoice_id(value: strawberry.ID, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid("not a valid id", field=(field,), code=CommonCode.INVALID_ID) from None


@strawberry.input
class RecordPaymentInput:
    invoice_id: strawberry.ID
    amount: Decimal = strawberry.field(description="In the invoice's currency; beyond what it owes: wallet credit.")
    method: ManualPaymentMethod = ManualPaymentMethod.WIRE
    currency: str | None = strawberry.field(default=None, description="If given, it must be the invoice's.")
    paid_at: datetime | None = None
    reference: str | None = None


@strawberry.input
class RefundPaymentInput:
    payment_id: strawberry.ID
    amount: Decimal = strawberry.field(description="At most what the payment brought in less earlier refunds.")
    reason: str | None = None


@strawberry.input
class PaymentSetupSessionInput:
    customer_external_id: str
    provider: PaymentProvider
    return_url: str = strawberry.field(
        description="Where the provider sends the customer back: an absolute http(s) URL (https when PUBLIC_URL "
        "is https). Stripe adds session_id=…, PayPal approval_token_id=…."
    )
    cancel_url: str | None = strawberry.field(default=None, description="If the customer gives up; else returnUrl.")


@strawberry.type(description="A provider-hosted page: the customer saves a payment method (no card field of ours).")
class PaymentSetupSessionPayload:
    url: str | None = strawberry.field(description="Open this page: Stripe Checkout (setup) or PayPal's approval.")
    session_id: str | None = strawberry.field(
        description="Stripe: the Checkout Session id; PayPal: the setup token id (approval_token_id)."
    )
    provider: PaymentProvider | None
    user_errors: list[UserError]


@strawberry.input
class CompletePaymentSetupSessionInput:
    customer_external_id: str
    provider: PaymentProvider
    session_id: str = strawberry.field(
        description="Stripe: the session_id the return URL got; PayPal: the approval_token_id it got."
    )
    make_default: bool = True


@strawberry.type
class PaymentPayload:
    payment: Payment | None
    user_errors: list[UserError]


@strawberry.type
class PaymentMutations:
    @strawberry.mutation(description="Set an organization's payment provider credentials (ADMIN).")
    async def configure_payment_provider(
        self, info: Info[Context, None], input: ConfigurePaymentProviderInput
    ) -> PaymentProviderPayload:
        credentials = payments.ProviderCredentials(
            provider=input.provider,
            secret_key=input.secret_key,
            webhook_secret=input.webhook_secret,
            client_id=input.client_id,
            client_secret=input.client_secret,
            webhook_id=input.webhook_id,
            mode=input.mode,
            account_holder=input.account_holder,
            bank_name=input.bank_name,
            iban=input.iban,
            bic=input.bic,
            account_number=input.account_number,
            routing_number=input.routing_number,
        )
        config = _config(info)
        row, errors = await run_use_case(
            info, Role.ADMIN, lambda uow, a: payments.configure_provider(uow, a, config, credentials)
        )
        if row is None:
            return PaymentProviderPayload(provider=None, mode=None, last4=None, user_errors=errors)
        return PaymentProviderPayload(
            provider=PaymentProvider(row.provider), mode=row.mode, last4=row.last4, user_errors=[]
        )

    @strawberry.mutation(description="Save a provider payment method for a customer, the default by default (FINANCE).")
    async def set_customer_payment_method(
        self, info: Info[Context, None], input: SetCustomerPaymentMethodInput
    ) -> CustomerPayload:
        config = _config(info)
        row, errors = await run_use_case(
            info,
            Role.FINANCE,
            lambda uow, a: payments.set_customer_payment_method(
                uow,
                a,
                config,
                customer_external_id=input.customer_external_id,
                provider=input.provider,
                provider_payment_method_id=input.provider_payment_method_id,
                make_default=input.make_default,
            ),
        )
        return CustomerPayload(customer=Customer.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Charge an open invoice now with the default payment method (FINANCE; a "
                                      "customer portal link: its own customer's invoices).")
    async def collect_invoice(self, info: Info[Context, None], input: InvoiceIdInput) -> InvoicePayload:
        actor = portal_or_role(info, Role.FINANCE)
        try:
            invoice_id = _invoice_id(input.id)
            row = await payments.collect_now(info.context.db, _config(info), actor, invoice_id)
        except DomainError as exc:
            return InvoicePayload(invoice=None, user_errors=[user_error(exc)])
        return InvoicePayload(invoice=Invoice.of(row), user_errors=[])

    @strawberry.mutation(description="Record a payment received by wire, ACH credit, cheque or cash (FINANCE).")
    async def record_payment(self, info: Info[Context, None], input: RecordPaymentInput) -> PaymentPayload:
        async def use_case(uow, actor):  # type: ignore[no-untyped-def]
            return await payments.record_payment(
                uow,
                actor,
                invoice_id=_invoice_id(input.invoice_id, "invoiceId"),
                amount=input.amount,
                method=input.method,
                currency=input.currency,
                paid_at=input.paid_at,
                reference=input.reference,
            )

        row, errors = await run_use_case(info, Role.FINANCE, use_case)
        return PaymentPayload(payment=Payment.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Refund part or all of a payment (FINANCE); Stripe and PayPal at the provider.")
    async def refund_payment(self, info: Info[Context, None], input: RefundPaymentInput) -> PaymentPayload:
        config = _config(info)

        async def use_case(uow, actor):  # type: ignore[no-untyped-def]
            return await payments.refund_payment(
                uow,
                actor,
                config,
                payment_id=_invoice_id(input.payment_id, "paymentId"),
                amount=input.amount,
                reason=input.reason,
            )

        row, errors = await run_use_case(info, Role.FINANCE, use_case)
        return PaymentPayload(payment=Payment.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(
        description="A provider-hosted page (Stripe Checkout in setup mode, PayPal vault approval) where the customer "
        "saves a payment method (FINANCE; a customer portal link: its own customer, returning to the portal)."
    )
    async def create_payment_setup_session(
        self, info: Info[Context, None], input: PaymentSetupSessionInput
    ) -> PaymentSetupSessionPayload:
        config = _config(info)
        made, errors = await run_customer_use_case(
            info,
            Role.FINANCE,
            input.customer_external_id,
            lambda uow, a: payment_setup.create_setup_session(
                uow,
                a,
                config,
                customer_external_id=input.customer_external_id,
                provider=input.provider,
                return_url=input.return_url,
                cancel_url=input.cancel_url,
                return_origin=request_origin(info) if a.is_portal else None,
            ),
        )
        if made is None:
            return PaymentSetupSessionPayload(url=None, session_id=None, provider=None, user_errors=errors)
        session, provider = made
        return PaymentSetupSessionPayload(
            url=session.url, session_id=session.id, provider=PaymentProvider(provider), user_errors=[]
        )

    @strawberry.mutation(
        description="Save the method the customer saved on the provider's page, the default by default (FINANCE; a "
        "customer portal link: its own customer). "
        "Stripe also does this by webhook (checkout.session.completed)."
    )
    async def complete_payment_setup_session(
        self, info: Info[Context, None], input: CompletePaymentSetupSessionInput
    ) -> CustomerPayload:
        config = _config(info)
        row, errors = await run_customer_use_case(
            info,
            Role.FINANCE,
            input.customer_external_id,
            lambda uow, a: payment_setup.complete_setup_session(
                uow,
                a,
                config,
                customer_external_id=input.customer_external_id,
                provider=input.provider,
                session_id=input.session_id,
                make_default=input.make_default,
            ),
        )
        return CustomerPayload(customer=Customer.of(row) if row else None, user_errors=errors)
