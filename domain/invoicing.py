"""An invoice's amounts: fees -> coupons -> taxes -> credit notes -> prepaid credits -> amount due.

Decisions for docs/:

- Every line is rounded once, half away from zero, to the currency's minor unit; the
  subtotal is the sum of rounded lines. Lines are never negative: credits are credit notes.
- Coupons discount the rounded lines (see `coupons`); each line's tax is computed on its
  amount after discount and rounded per line (see `tax`); the tax amount is the sum of the
  line taxes. total = subtotal - discount - progressive billing credit + tax.
- Progressive billing: what interim invoices already billed for the period is credited on
  the period invoice *before* tax, after coupons, spread over the lines like a fixed
  coupon, so the period invoice only taxes what was not taxed yet (tax is never declared
  twice). Pass the interim invoices' amounts before tax (`progressive_billing_credit`). A
  credit larger than what is left after discounts is capped; the rest is not applied.
- Credit notes are applied next, up to the total; then the wallet (prepaid credits), up to
  what is left. Both are taken in whole minor units, rounded down, so an invoice never
  uses more credit than there is. amount_due = total - credit notes - wallet credits >= 0.
- Reverse charge: the invoice carries the flag and the note `REVERSE_CHARGE_NOTE` whenever
  `tax.reverse_charge_applies`, even on lines without tax rates.
- Minimum commitment true-up: max(0, commitment x days billed / days in period - fees);
  the fees are the period's rounded fee lines before discounts. A charge's minimum:
  max(0, minimum x days its charge covers / days in period - fee) (Lago: a 10.00 minimum over
  Aug 1-15 of 31 days is 4.84; with 2.00 of usage the true-up is 2.84). Both prorate with
  `proration.PeriodShare`, and both are unrounded fee amounts that become an invoice line.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from domain.coupons import AppliedCoupon, Coupon, allocate_minor_units, coupon_applies, discount_lines, record_use
from domain.errors import (
    CreditNoteLineTooLarge,
    DomainError,
    InvalidCreditAmount,
    InvalidPeriodFraction,
    NegativeInvoiceAmount,
)
from domain.money import currency_exponent, from_minor_units, require_decimal, round_minor, to_minor_units
from domain.pricing import FeeBreakdownLine
from domain.proration import WHOLE_PERIOD, PeriodShare, true_up
from domain.tax import TaxContext, TaxRate, reverse_charge_applies, tax_for_line

_ZERO = Decimal(0)
_ONE = Decimal(1)

REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient, Article 196 of Council Directive 2006/112/EC"
)


class InvoiceLineKind(enum.StrEnum):
    SUBSCRIPTION = "SUBSCRIPTION"
    CHARGE = "CHARGE"
    TRUE_UP = "TRUE_UP"  # minimum commitment or charge minimum
    ONE_OFF = "ONE_OFF"
    CREDIT = "CREDIT"


@dataclass(frozen=True, slots=True)
class InvoiceLineInput:
    """A fee to invoice: `amount` unrounded, `tax_rates` already chosen by `tax.applicable_rates`."""

    kind: InvoiceLineKind
    description: str
    amount: Decimal
    tax_rates: tuple[TaxRate, ...] = ()
    units: Decimal | None = None
    metric_code: str | None = None
    breakdown: tuple[FeeBreakdownLine, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", InvoiceLineKind(self.kind))
        object.__setattr__(self, "amount", require_decimal(self.amount, "amount"))
        if self.units is not None:
            object.__setattr__(self, "units", require_decimal(self.units, "units"))
        rates = tuple(self.tax_rates)
        for rate in rates:
            if not isinstance(rate, TaxRate):
                raise TypeError(f"expected TaxRate, not {type(rate).__name__}")
        object.__setattr__(self, "tax_rates", rates)
        object.__setattr__(self, "breakdown", tuple(self.breakdown))


def _minor_units_of(instance: object, currency: str) -> dict[str, int]:
    return {
        field.name: to_minor_units(value, currency)
        for field in fields(instance)  # type: ignore[arg-type]
        if isinstance(value := getattr(instance, field.name), Decimal) and field.name != "units"
    }


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """A computed line: every amount quantized to the currency's minor unit."""

    kind: InvoiceLineKind
    description: str
    units: Decimal | None
    metric_code: str | None
    breakdown: tuple[FeeBreakdownLine, ...]
    amount: Decimal  # rounded once
    discount: Decimal  # coupons
    progressive_billing_credit: Decimal
    taxable_amount: Decimal  # amount - discount - progressive billing credit
    tax: Decimal
    rates: tuple[TaxRate, ...]  # applied; none when exempt or reverse charged
    reverse_charge: bool
    exempt: bool

    @property
    def total(self) -> Decimal:
        return self.taxable_amount + self.tax

    def to_minor_units(self, currency: str) -> dict[str, int]:
        """Every amount of the line in integer minor units, by field name."""
        return _minor_units_of(self, currency)


@dataclass(frozen=True, slots=True)
class CouponDiscount:
    """What one coupon took off this invoice."""

    coupon: Coupon
    amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceTotals:
    """An invoice's lines and totals, every amount quantized to the currency's minor unit."""

    currency: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal  # sum of rounded lines
    discount_amount: Decimal
    progressive_billing_credit_amount: Decimal
    tax_amount: Decimal  # sum of line taxes
    total: Decimal  # subtotal - discount - progressive billing credit + tax
    credit_notes_amount: Decimal
    credits_amount: Decimal  # prepaid credits (wallet)
    amount_due: Decimal
    reverse_charge: bool
    tax_exempt: bool
    note: str | None
    coupon_discounts: tuple[CouponDiscount, ...]
    applied_coupons: tuple[AppliedCoupon, ...]  # after this invoice: uses recorded

    @property
    def taxable_amount(self) -> Decimal:
        return self.subtotal - self.discount_amount - self.progressive_billing_credit_amount

    def to_minor_units(self) -> dict[str, int]:
        """Every total in integer minor units, by field name (subtotal, tax_amount, amount_due, ...)."""
        return _minor_units_of(self, self.currency)


def _available(value: Decimal, name: str, currency: str) -> Decimal:
    """A credit available, not negative, in whole minor units rounded down."""
    amount = require_decimal(value, name)
    if amount < 0:
        raise NegativeInvoiceAmount(f"{name} must not be negative", field=(name,))
    return amount.quantize(_ONE.scaleb(-currency_exponent(currency)), rounding=ROUND_DOWN)


def compute_invoice(
    lines: Sequence[InvoiceLineInput],
    coupons: Sequence[AppliedCoupon | Coupon],
    tax_ctx: TaxContext,
    credit_notes_available: Decimal,
    wallet_balance: Decimal,
    currency: str,
    *,
    progressive_billing_credit: Decimal = _ZERO,
) -> InvoiceTotals:
    """Compute an invoice in order: fees, coupons, taxes, credit notes, wallet, amount due."""
    zero = round_minor(_ZERO, currency)  # also validates the currency
    amounts: list[Decimal] = []
    for index, line in enumerate(lines):
        if not isinstance(line, InvoiceLineInput):
            raise TypeError(f"expected InvoiceLineInput, not {type(line).__name__}")
        if line.amount < 0:
            raise NegativeInvoiceAmount("an invoice line must not be negative", field=("lines", str(index), "amount"))
        amounts.append(round_minor(line.amount, currency))
    credit_notes = _available(credit_notes_available, "creditNotesAvailable", currency)
    wallet = _available(wallet_balance, "walletBalance", currency)
    interim = _available(progressive_billing_credit, "progressiveBillingCredit", currency)

    # Coupons, in the order applied; used-up ones are skipped.
    applying: list[AppliedCoupon] = []
    for index, item in enumerate(coupons):
        applied = AppliedCoupon(item) if isinstance(item, Coupon) else item
        try:
            if coupon_applies(applied, currency):
                applying.append(applied)
        except DomainError as error:
            raise error.at("coupons", str(index)) from None
    discounts, coupon_totals = discount_lines(amounts, [applied.coupon for applied in applying], currency)

    # Progressive billing credit: what interim invoices billed, before tax.
    left = [to_minor_units(amount - discount, currency) for amount, discount in zip(amounts, discounts, strict=True)]
    interim_minor = min(to_minor_units(interim, currency), sum(left))
    interim_shares = [from_minor_units(share, currency) for share in allocate_minor_units(interim_minor, left)]

    computed: list[InvoiceLine] = []
    for line, amount, discount, credit in zip(lines, amounts, discounts, interim_shares, strict=True):
        taxable = amount - discount - credit
        line_tax = tax_for_line(taxable, line.tax_rates, tax_ctx, currency)
        computed.append(
            InvoiceLine(
                kind=line.kind,
                description=line.description,
                units=line.units,
                metric_code=line.metric_code,
                breakdown=line.breakdown,
                amount=amount,
                discount=discount,
                progressive_billing_credit=credit,
                taxable_amount=taxable,
                tax=line_tax.amount,
                rates=line_tax.rates,
                reverse_charge=line_tax.reverse_charge,
                exempt=line_tax.exempt,
            )
        )

    subtotal = sum(amounts, zero)
    discount_amount = sum(discounts, zero)
    interim_amount = from_minor_units(interim_minor, currency)
    tax_amount = sum((line.tax for line in computed), zero)
    total = subtotal - discount_amount - interim_amount + tax_amount
    credit_notes_amount = min(credit_notes, total)
    credits_amount = min(wallet, total - credit_notes_amount)
    amount_due = total - credit_notes_amount - credits_amount
    reverse_charge = reverse_charge_applies(tax_ctx)
    return InvoiceTotals(
        currency=currency,
        lines=tuple(computed),
        subtotal=subtotal,
        discount_amount=discount_amount,
        progressive_billing_credit_amount=interim_amount,
        tax_amount=tax_amount,
        total=total,
        credit_notes_amount=credit_notes_amount,
        credits_amount=credits_amount,
        amount_due=amount_due,
        reverse_charge=reverse_charge,
        tax_exempt=tax_ctx.customer_tax_exempt,
        note=REVERSE_CHARGE_NOTE if reverse_charge else None,
        coupon_discounts=tuple(
            CouponDiscount(applied.coupon, amount) for applied, amount in zip(applying, coupon_totals, strict=True)
        ),
        applied_coupons=tuple(
            record_use(applied) if amount > 0 else applied
            for applied, amount in zip(applying, coupon_totals, strict=True)
        ),
    )


def minimum_commitment_true_up(
    commitment: Decimal, period_fraction: Decimal | PeriodShare, fees_total: Decimal
) -> Decimal:
    """max(0, commitment x the share of the period billed - fees), unrounded.

    The share is a `PeriodShare` (exact: commitment x days billed / days in period) or its fraction."""
    commitment = require_decimal(commitment, "commitment")
    if commitment < 0:
        raise NegativeInvoiceAmount("a minimum commitment must not be negative", field=("minimumCommitment",))
    if isinstance(period_fraction, PeriodShare):
        return true_up(period_fraction.of(commitment), fees_total)
    fraction = require_decimal(period_fraction, "period_fraction")
    if not _ZERO <= fraction <= _ONE:
        raise InvalidPeriodFraction("the part of the period billed is between 0 and 1", field=("periodFraction",))
    prorated = commitment if fraction == _ONE else commitment * fraction
    return true_up(prorated, fees_total)


def charge_minimum_true_up(min_amount: Decimal, fee: Decimal, share: PeriodShare = WHOLE_PERIOD) -> Decimal:
    """max(0, the charge's minimum for the share of the period its charge covers - its fee), unrounded."""
    min_amount = require_decimal(min_amount, "min_amount")
    if min_amount < 0:
        raise NegativeInvoiceAmount("a charge minimum must not be negative", field=("minAmount",))
    if not isinstance(share, PeriodShare):
        raise TypeError(f"share must be a PeriodShare, not {type(share).__name__}")
    return true_up(share.of(min_amount), fee)


def progressive_billing_credit(interim_invoices_totals: Iterable[Decimal]) -> Decimal:
    """What interim invoices of the period already billed (their amounts before tax), summed."""
    total = _ZERO
    for index, value in enumerate(interim_invoices_totals):
        amount = require_decimal(value, "interim_invoices_totals")
        if amount < 0:
            raise NegativeInvoiceAmount("an interim invoice total must not be negative", field=(str(index),))
        total += amount
    return total


@dataclass(frozen=True)
class CreditableLine:
    """An invoice line as a credit note sees it, in minor units: what it cost before tax (after its
    discount), its tax, and how much of each earlier credit notes already gave back."""

    net_minor: int
    tax_minor: int
    credited_net_minor: int = 0
    credited_tax_minor: int = 0


def credit_note_item(line: CreditableLine, amount_minor: int | None = None) -> tuple[int, int]:
    """(net, tax) that a credit note gives back for `amount_minor` of a line's amount before tax (all that is
    left of it when None). The tax goes back in proportion, rounded half away from zero; the last part of a
    line gives back exactly the tax left on it, so crediting a line in parts never drifts from its tax."""
    left_net = line.net_minor - line.credited_net_minor
    left_tax = line.tax_minor - line.credited_tax_minor
    amount = left_net if amount_minor is None else amount_minor
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidCreditAmount("a positive amount of a line that has something left to credit", field=("amount",))
    if amount > left_net:
        raise CreditNoteLineTooLarge(
            f"at most {left_net} minor units of this line can still be credited", field=("amount",)
        )
    if amount == left_net:
        return amount, left_tax
    tax = int((Decimal(line.tax_minor) * amount / line.net_minor).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return amount, min(tax, left_tax)
