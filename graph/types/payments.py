"""Getting paid: payments, collection attempts and saved payment methods as the API shows them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from db.models import Payment as PaymentModel
from db.models import PaymentAttempt as PaymentAttemptModel
from db.models import PaymentMethod as PaymentMethodModel
from domain import money
from domain import payments as domain_payments

PaymentProvider = strawberry.enum(domain_payments.PaymentProvider, name="PaymentProvider")
InvoicePaymentStatus = strawberry.enum(domain_payments.InvoicePaymentStatus, name="InvoicePaymentStatus")
ManualPaymentMethod = strawberry.enum(domain_payments.ManualPaymentMethod, name="ManualPaymentMethod")


@strawberry.type(description="Money received for an invoice: a provider charge, or a payment recorded by hand.")
class Payment:
    id: strawberry.ID
    provider: PaymentProvider
    method: str = strawberry.field(description="card, us_bank_account; WIRE, ACH_CREDIT, CHECK, CASH, OTHER by hand.")
    status: str = strawberry.field(description="PROCESSING, SUCCEEDED, FAILED or RETURNED.")
    amount: Decimal = strawberry.field(description="What was received (an excess went to the customer's wallet).")
    refunded_amount: Decimal
    currency: str
    provider_payment_id: str | None
    reference: str | None
    invoice_id: strawberry.ID | None
    created_at: datetime

    @classmethod
    def of(cls, p: PaymentModel) -> Payment:
        amount = money.from_minor_units
        return cls(
            id=strawberry.ID(str(p.id)),
            provider=PaymentProvider(p.provider),
            method=p.method,
            status=p.status,
            amount=amount(p.amount_minor, p.currency),
            refunded_amount=amount(p.refunded_minor, p.currency),
            currency=p.currency,
            provider_payment_id=p.provider_payment_id,
            reference=p.reference,
            invoice_id=strawberry.ID(str(p.invoice_id)) if p.invoice_id else None,
            created_at=p.paid_at or p.created_at,
        )


@strawberry.type(description="One charge of an invoice at a provider.")
class PaymentAttempt:
    id: strawberry.ID
    number: int
    status: str = strawberry.field(description="PENDING, SUCCEEDED, PROCESSING, REQUIRES_ACTION or FAILED.")
    amount: Decimal
    decline_code: str | None
    hard_decline: bool = strawberry.field(description="Retrying cannot succeed: a new payment method is needed.")
    retryable: bool = strawberry.field(description="FAILED because the provider could not be reached (no decline).")
    failure_message: str | None
    provider_payment_id: str | None
    action_url: str | None = strawberry.field(description="REQUIRES_ACTION: where the customer authenticates.")
    created_at: datetime

    @classmethod
    def of(cls, a: PaymentAttemptModel) -> PaymentAttempt:
        return cls(
            id=strawberry.ID(str(a.id)),
            number=a.number,
            status=a.status,
            amount=money.from_minor_units(a.amount_minor, a.currency),
            decline_code=a.decline_code,
            hard_decline=a.hard_decline,
            retryable=a.retryable,
            failure_message=a.failure_message,
            provider_payment_id=a.provider_payment_id,
            action_url=a.action_url,
            created_at=a.created_at,
        )


@strawberry.type(description="A payment method saved at a provider (never card data beyond brand and last 4).")
class PaymentMethod:
    id: strawberry.ID
    provider: PaymentProvider
    provider_payment_method_id: str
    kind: str = strawberry.field(description="card, us_bank_account, paypal.")
    brand: str | None
    last4: str | None
    expires_at: str | None = strawberry.field(description="YYYY-MM for cards.")
    is_default: bool

    @classmethod
    def of(cls, m: PaymentMethodModel) -> PaymentMethod:
        return cls(
            id=strawberry.ID(str(m.id)),
            provider=PaymentProvider(m.provider),
            provider_payment_method_id=m.provider_payment_method_id,
            kind=m.kind,
            brand=m.brand,
            last4=m.last4,
            expires_at=m.expires_at,
            is_default=m.is_default,
        )
