"""Payments against an invoice: allocation, partial and over payments, refund bounds, status.

Every amount here is an integer in the invoice currency's minor units (cents). Decisions:

- A payment is applied to what the invoice still owes, at most; anything beyond that is the
  excess (it becomes prepaid credit in the customer's wallet). Paying an invoice that owes
  nothing any more makes the whole payment excess.
- A refund is bounded by what the payment brought in less what was already refunded; a
  refund of 0 or less is refused.
- The invoice's payment status comes from its payments and its latest collection attempt:
  SUCCEEDED once settled payments cover the amount due (a later refund does not reopen it:
  refunds go with credit notes), PROCESSING while settling payments (ACH debit) would cover
  it or the latest attempt is settling, REQUIRES_ACTION / FAILED after such an attempt,
  PENDING otherwise (nothing tried yet, or a partial payment). A payment that was returned
  after settling (an ACH return) no longer counts.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from stdnum.iso7064 import mod_97_10

from domain.errors import InvalidPaymentAmount, InvalidRefundAmount, PaymentCurrencyMismatch, RefundExceedsPaid
from domain.money import currency_exponent, decimal_places, require_decimal, validate_currency


class PaymentProvider(enum.StrEnum):
    STRIPE = "STRIPE"
    PAYPAL = "PAYPAL"
    WIRE = "WIRE"  # bank transfers, recorded by hand or matched from a bank statement


class ManualPaymentMethod(enum.StrEnum):
    """How a payment recorded by hand (`recordPayment`) arrived."""

    WIRE = "WIRE"
    ACH_CREDIT = "ACH_CREDIT"
    CHECK = "CHECK"
    CASH = "CASH"
    OTHER = "OTHER"


class InvoicePaymentStatus(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    REQUIRES_ACTION = "REQUIRES_ACTION"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class AttemptOutcome(enum.StrEnum):
    """What one collection attempt (a charge at a provider) came to."""

    SUCCEEDED = "SUCCEEDED"
    PROCESSING = "PROCESSING"  # accepted, settles later (ACH debit)
    REQUIRES_ACTION = "REQUIRES_ACTION"  # the customer must authenticate (3-D Secure)
    FAILED = "FAILED"


class PaymentState(enum.StrEnum):
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    RETURNED = "RETURNED"  # settled, then sent back by the customer's bank (ACH return)


class AllocationKind(enum.StrEnum):
    PARTIAL = "PARTIAL"
    EXACT = "EXACT"
    OVERPAYMENT = "OVERPAYMENT"


def _require_minor(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int of minor units, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Allocation:
    """How one payment is split between the invoice and the customer's credit."""

    applied: int  # taken by the invoice
    excess: int  # beyond what the invoice owed
    remaining_due: int  # what the invoice still owes afterwards

    @property
    def kind(self) -> AllocationKind:
        if self.excess > 0:
            return AllocationKind.OVERPAYMENT
        return AllocationKind.EXACT if self.remaining_due == 0 else AllocationKind.PARTIAL


def allocate_payment(*, amount_due: int, already_paid: int, payment: int) -> Allocation:
    """Split `payment` into what the invoice takes (at most what it still owes) and the excess."""
    amount_due = _require_minor(amount_due, "amount_due")
    already_paid = _require_minor(already_paid, "already_paid")
    payment = _require_minor(payment, "payment")
    if amount_due < 0 or already_paid < 0:
        raise ValueError("amount_due and already_paid cannot be negative")
    if payment <= 0:
        raise InvalidPaymentAmount("a payment must be greater than 0", field=("amount",))
    outstanding = max(amount_due - already_paid, 0)
    applied = min(payment, outstanding)
    return Allocation(applied=applied, excess=payment - applied, remaining_due=outstanding - applied)


def check_currency(invoice_currency: str, payment_currency: str) -> None:
    """A payment must be in the invoice's currency (no conversion happens here)."""
    if payment_currency.upper() != invoice_currency.upper():
        raise PaymentCurrencyMismatch(
            f"the payment is in {payment_currency.upper()} but the invoice is in {invoice_currency.upper()}",
            field=("currency",),
        )


def amount_to_minor(amount: Decimal, currency: str, *, field: str = "amount") -> int:
    """A positive decimal amount in minor units; more places than the currency has is refused, not rounded."""
    amount = require_decimal(amount, field)
    validate_currency(currency)
    if amount <= 0:
        raise InvalidPaymentAmount(f"{field} must be greater than 0", field=(field,))
    exponent = currency_exponent(currency)
    if decimal_places(amount) > exponent:
        raise InvalidPaymentAmount(f"{currency} amounts have at most {exponent} decimal places", field=(field,))
    return int(amount.scaleb(exponent))


def refundable(*, paid: int, already_refunded: int) -> int:
    """What can still be refunded of a payment."""
    paid = _require_minor(paid, "paid")
    already_refunded = _require_minor(already_refunded, "already_refunded")
    return max(paid - already_refunded, 0)


def check_refund(*, amount: int, paid: int, already_refunded: int) -> int:
    """The payment's refunded total after refunding `amount`; refuses 0, negatives and more than was paid."""
    amount = _require_minor(amount, "amount")
    if amount <= 0:
        raise InvalidRefundAmount("a refund must be greater than 0", field=("amount",))
    left = refundable(paid=paid, already_refunded=already_refunded)
    if amount > left:
        raise RefundExceedsPaid(
            f"the refund ({amount}) is more than what is left to refund of the payment ({left}), in minor units",
            field=("amount",),
        )
    return already_refunded + amount


@dataclass(frozen=True)
class PaymentRecord:
    """One payment applied to an invoice, as far as its status is concerned."""

    amount: int  # applied to the invoice, minor units
    state: PaymentState
    refunded: int = 0


def amount_paid(payments: Sequence[PaymentRecord]) -> int:
    """What the invoice has received and kept: settled payments less their refunds."""
    return sum(p.amount - p.refunded for p in payments if p.state is PaymentState.SUCCEEDED)


def invoice_payment_status(
    *, total_due: int, payments: Sequence[PaymentRecord], latest_attempt: AttemptOutcome | None = None
) -> InvoicePaymentStatus:
    """The invoice's payment status from its payments and its latest collection attempt."""
    total_due = _require_minor(total_due, "total_due")
    if total_due <= 0:
        return InvoicePaymentStatus.SUCCEEDED
    settled = sum(p.amount for p in payments if p.state is PaymentState.SUCCEEDED)
    if settled >= total_due:
        return InvoicePaymentStatus.SUCCEEDED
    settling = sum(p.amount for p in payments if p.state is PaymentState.PROCESSING)
    if settled + settling >= total_due or latest_attempt is AttemptOutcome.PROCESSING:
        return InvoicePaymentStatus.PROCESSING
    if latest_attempt is AttemptOutcome.REQUIRES_ACTION:
        return InvoicePaymentStatus.REQUIRES_ACTION
    if latest_attempt is AttemptOutcome.FAILED or any(p.state is PaymentState.RETURNED for p in payments):
        return InvoicePaymentStatus.FAILED
    return InvoicePaymentStatus.PENDING


def payment_reference(invoice_number: str) -> str:
    """The ISO 11649 creditor reference (RF…) a wire transfer quotes: from the invoice number, unique with it."""
    body = "".join(ch for ch in invoice_number.upper() if ch.isalnum())
    if len(body) > 21:
        body = hashlib.sha256(invoice_number.encode()).hexdigest()[:21].upper()
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"
