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

from domain.payments import AttemptOutcome
from integrations.payments.base import ChargeRequest, ChargeResult, ChargeStatus

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
