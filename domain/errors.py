"""Errors raised by billing rules, each with a stable code for `UserError.code`.

`field` is the path to the offending input relative to what the function was given
(e.g. ``("graduatedRanges", "1", "fromValue")``); the caller prefixes its own path with
`DomainError.at("input", "charges", "0", "properties")`.

Programming mistakes (a float where a Decimal belongs, the wrong properties class for a
charge model) raise `TypeError`/`ValueError` instead: they are bugs, not bad input.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import ClassVar


class DomainError(Exception):
    """Base of every invalid-input error of the billing rules."""

    code: ClassVar[str] = "DOMAIN_ERROR"

    def __init__(self, message: str, *, field: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.field: tuple[str, ...] = tuple(str(part) for part in field)

    def at(self, *prefix: str) -> DomainError:
        """The same error with its field path placed under `prefix`."""
        moved = copy.copy(self)
        moved.field = tuple(str(part) for part in prefix) + self.field
        return moved

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, field={self.field!r}, message={self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DomainError) and (self.code, self.field, self.message) == (
            other.code,
            other.field,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.field, self.message))


# --- numbers and money ----------------------------------------------------------------


class InvalidDecimal(DomainError):
    code = "INVALID_DECIMAL"


class UnknownCurrency(DomainError):
    code = "UNKNOWN_CURRENCY"


# --- time -----------------------------------------------------------------------------


class UnknownTimezone(DomainError):
    code = "UNKNOWN_TIMEZONE"


class NaiveDatetime(DomainError):
    code = "NAIVE_DATETIME"


class InvalidPeriod(DomainError):
    code = "INVALID_PERIOD"


class BeforeSubscriptionStart(DomainError):
    code = "BEFORE_SUBSCRIPTION_START"


# --- billable metrics -----------------------------------------------------------------


class InvalidMetric(DomainError):
    code = "INVALID_METRIC"


class FieldNameRequired(InvalidMetric):
    code = "FIELD_NAME_REQUIRED"


class RecurringNotSupported(InvalidMetric):
    code = "RECURRING_NOT_SUPPORTED"


class AggregationNotCombinable(InvalidMetric):
    code = "AGGREGATION_NOT_COMBINABLE"


class ProrationNotSupported(InvalidMetric):
    code = "PRORATION_NOT_SUPPORTED"


# --- usage events ---------------------------------------------------------------------


class EventRejected(DomainError):
    """One usage event refused by itself; `code` is its `domain.usage_events.Rejection`."""

    code = "EVENT_REJECTED"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # the rejection's own code (an instance of the enum)


class BatchTooLarge(DomainError):
    code = "BATCH_TOO_LARGE"


class UnrateableUsage(DomainError):
    """Stored usage of a customer cannot be rated (e.g. a value stored before a limit existed)."""

    code = "USAGE_NOT_RATEABLE"


# --- charge properties ----------------------------------------------------------------


class InvalidChargeProperties(DomainError):
    code = "INVALID_CHARGE_PROPERTIES"


class MissingProperty(InvalidChargeProperties):
    code = "MISSING_PROPERTY"


class PropertyNotAllowed(InvalidChargeProperties):
    code = "PROPERTY_NOT_ALLOWED"


class NegativeAmount(InvalidChargeProperties):
    code = "NEGATIVE_AMOUNT"


class NegativeUnits(InvalidChargeProperties):
    code = "NEGATIVE_UNITS"


class InvalidPackageSize(InvalidChargeProperties):
    code = "INVALID_PACKAGE_SIZE"


class InvalidRate(InvalidChargeProperties):
    code = "INVALID_RATE"


class InvalidFreeEvents(InvalidChargeProperties):
    code = "INVALID_FREE_EVENTS"


class MinAboveMax(InvalidChargeProperties):
    code = "MIN_ABOVE_MAX"


class InvalidRanges(InvalidChargeProperties):
    code = "INVALID_RANGES"


class RangesEmpty(InvalidRanges):
    code = "RANGES_EMPTY"


class RangesMustStartAtZero(InvalidRanges):
    code = "RANGES_MUST_START_AT_ZERO"


class RangesGapOrOverlap(InvalidRanges):
    code = "RANGES_GAP_OR_OVERLAP"


class RangesOnlyLastOpen(InvalidRanges):
    code = "RANGES_ONLY_LAST_OPEN"


class RangesLastMustBeOpen(InvalidRanges):
    code = "RANGES_LAST_MUST_BE_OPEN"


class RangeToNotAboveFrom(InvalidRanges):
    code = "RANGES_TO_NOT_ABOVE_FROM"


# --- proration and plan changes -------------------------------------------------------


class InvalidProrationDays(DomainError):
    code = "INVALID_PRORATION_DAYS"


class PlanChangeOutsidePeriod(DomainError):
    code = "PLAN_CHANGE_OUTSIDE_PERIOD"


def error_codes() -> dict[str, type[DomainError]]:
    """Every code defined here, mapped to its error class."""
    found: dict[str, type[DomainError]] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        found[cls.code] = cls
        pending.extend(cls.__subclasses__())
    return found


# --- tax ------------------------------------------------------------------------------


class TaxRateOutOfRange(DomainError):
    code = "TAX_RATE_OUT_OF_RANGE"


class InvalidVatNumber(DomainError):
    code = "INVALID_VAT_NUMBER"


class UnknownCountry(DomainError):
    code = "UNKNOWN_COUNTRY"


# --- coupons --------------------------------------------------------------------------


class InvalidCoupon(DomainError):
    code = "COUPON_INVALID"


class CouponInvalidCode(InvalidCoupon):
    code = "COUPON_INVALID_CODE"


class CouponInvalidAmount(InvalidCoupon):
    code = "COUPON_INVALID_AMOUNT"


class CouponInvalidPercentage(InvalidCoupon):
    code = "COUPON_INVALID_PERCENTAGE"


class CouponInvalidCurrency(InvalidCoupon):
    code = "COUPON_INVALID_CURRENCY"


class CouponInvalidDuration(InvalidCoupon):
    code = "COUPON_INVALID_DURATION"


class CouponCurrencyMismatch(DomainError):
    code = "COUPON_CURRENCY_MISMATCH"


# --- invoices -------------------------------------------------------------------------


class NegativeInvoiceAmount(DomainError):
    code = "NEGATIVE_INVOICE_AMOUNT"


class InvalidPeriodFraction(DomainError):
    code = "INVALID_PERIOD_FRACTION"


class InvalidCreditAmount(DomainError):
    code = "INVALID_AMOUNT"


class CreditNoteLineTooLarge(DomainError):
    code = "CREDIT_NOTE_LINE_TOO_LARGE"


class InvalidInvoicePrefix(DomainError):
    code = "INVALID_INVOICE_PREFIX"


class InvalidInvoiceNumber(DomainError):
    code = "INVALID_INVOICE_NUMBER"


class InvalidInvoiceTransition(DomainError):
    code = "INVALID_INVOICE_TRANSITION"


# --- payments -------------------------------------------------------------------------


class InvalidPaymentAmount(DomainError):
    code = "INVALID_PAYMENT_AMOUNT"


class PaymentCurrencyMismatch(DomainError):
    code = "PAYMENT_CURRENCY_MISMATCH"


class InvalidRefundAmount(DomainError):
    code = "INVALID_REFUND_AMOUNT"


class RefundExceedsPaid(InvalidRefundAmount):
    code = "REFUND_EXCEEDS_PAID"


# --- dunning --------------------------------------------------------------------------


class InvalidDuration(DomainError):
    code = "INVALID_DURATION"


class InvalidRetrySchedule(DomainError):
    code = "INVALID_RETRY_SCHEDULE"


# --- bank statements ------------------------------------------------------------------


class InvalidBankStatement(DomainError):
    code = "INVALID_BANK_STATEMENT"


class BankStatementTooLarge(InvalidBankStatement):
    code = "BANK_STATEMENT_TOO_LARGE"


class UnsupportedBankStatement(InvalidBankStatement):
    code = "UNSUPPORTED_BANK_STATEMENT"


# --- analytics --------------------------------------------------------------------------


class InvalidAnalyticsRange(DomainError):
    code = "INVALID_DATE_RANGE"


class AnalyticsRangeTooLong(InvalidAnalyticsRange):
    code = "DATE_RANGE_TOO_LONG"
