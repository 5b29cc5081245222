"""Invoice and credit note numbers, the invoice status machine, and the kinds of invoice.

Decisions for docs/:

- An invoice number is `PREFIX-YYYYMM-NNNN`: the organization's prefix (2 to 12 capital
  letters or digits), the year and month of finalization, and the organization's gapless
  sequence, zero-padded to 4 digits and simply longer from 10000 on. The sequence itself
  (per organization, under an advisory lock) is the caller's.
- A credit note is numbered after its invoice: `PREFIX-YYYYMM-NNNN-CN1`, `-CN2`, ...
- Statuses: DRAFT -> OPEN (finalized) | VOID (deleting a draft voids it); OPEN -> PAID | VOID
  | UNCOLLECTIBLE; UNCOLLECTIBLE -> PAID (recovered) | VOID. PAID and VOID are final: a paid
  invoice is corrected with credit notes, never by changing its status. One exception, never
  a user's choice: when the money that paid it is taken back by the payer's bank (an ACH
  debit returned days later, e.g. R01; a lost dispute), the invoice was never really paid and
  goes back PAID -> OPEN (`transition(..., payment_taken_back=True)`), as Stripe reopens its own.
"""

from __future__ import annotations

import enum
import re

from domain.errors import InvalidInvoiceNumber, InvalidInvoicePrefix, InvalidInvoiceTransition

_PREFIX = re.compile(r"[A-Z0-9]{2,12}")


class InvoiceStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    PAID = "PAID"
    VOID = "VOID"
    UNCOLLECTIBLE = "UNCOLLECTIBLE"


class InvoiceKind(enum.StrEnum):
    """What an invoice bills (stored as these strings)."""

    SUBSCRIPTION = "SUBSCRIPTION"  # a billing date of the customer's subscriptions, or an upgrade's fee
    PROGRESSIVE = "PROGRESSIVE"  # an interim invoice: a usage threshold reached, pay-in-advance usage
    ONE_OFF = "ONE_OFF"  # add-ons and services outside subscriptions
    CREDIT_PURCHASE = "CREDIT_PURCHASE"  # paid prepaid credits (a wallet top-up)


TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.OPEN, InvoiceStatus.VOID}),
    InvoiceStatus.OPEN: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}),
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}
"""Where an invoice may go from each status."""

TAKEN_BACK: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {InvoiceStatus.PAID: frozenset({InvoiceStatus.OPEN})}
"""The moves a payment taken back by the payer's bank allows besides TRANSITIONS: a paid invoice reopens."""


def _require_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def invoice_number(prefix: str, year: int, month: int, sequence: int) -> str:
    """`PREFIX-YYYYMM-NNNN`; the sequence has at least 4 digits."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise InvalidInvoicePrefix("an invoice prefix is 2 to 12 capital letters or digits", field=("invoicePrefix",))
    if not 1 <= _require_int(year, "year") <= 9999:
        raise InvalidInvoiceNumber(f"year {year} is out of range", field=("year",))
    if not 1 <= _require_int(month, "month") <= 12:
        raise InvalidInvoiceNumber(f"month {month} is out of range", field=("month",))
    if _require_int(sequence, "sequence") < 1:
        raise InvalidInvoiceNumber("an invoice sequence starts at 1", field=("sequence",))
    return f"{prefix}-{year:04d}{month:02d}-{sequence:04d}"


def credit_note_number(invoice_number: str, n: int) -> str:
    """The `n`th credit note of an invoice: `{invoice_number}-CN{n}`."""
    if not isinstance(invoice_number, str) or not invoice_number:
        raise InvalidInvoiceNumber("a credit note needs its invoice's number", field=("invoiceNumber",))
    if _require_int(n, "n") < 1:
        raise InvalidInvoiceNumber("credit notes of an invoice are numbered from 1", field=("creditNoteNumber",))
    return f"{invoice_number}-CN{n}"


def can_transition(
    from_status: InvoiceStatus, to_status: InvoiceStatus, *, payment_taken_back: bool = False
) -> bool:
    """Whether an invoice may go from `from_status` to `to_status` (PAID -> OPEN only when its payment was
    taken back by the payer's bank)."""
    source, target = InvoiceStatus(from_status), InvoiceStatus(to_status)
    if payment_taken_back and target in TAKEN_BACK.get(source, frozenset()):
        return True
    return target in TRANSITIONS[source]


def transition(
    from_status: InvoiceStatus, to_status: InvoiceStatus, *, payment_taken_back: bool = False
) -> InvoiceStatus:
    """`to_status` if the move is allowed, else INVALID_INVOICE_TRANSITION."""
    if not can_transition(from_status, to_status, payment_taken_back=payment_taken_back):
        raise InvalidInvoiceTransition(
            f"an invoice cannot go from {InvoiceStatus(from_status)} to {InvoiceStatus(to_status)}",
            field=("status",),
        )
    return InvoiceStatus(to_status)
