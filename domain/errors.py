"""Errors raised by billing rules, each with a stable code for `UserError.code`.

The codes are enums, one per area (`ChargeCode`, `CouponCode`, …): a `StrEnum` member equals
its string, so what a client receives is the value, and our code names a code it cannot misspell.

`field` is the path to the offending input relative to what the function was given
(e.g. ``("graduatedRanges", "1", "fromValue")``); the caller prefixes its own path with
`DomainError.at("input", "charges", "0", "properties")`.

Programming mistakes (a float where a Decimal belongs, the wrong properties class for a
charge model) raise `TypeError`/`ValueError` instead: they are bugs, not bad input.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from enum import StrEnum
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
        return f"{name}(code={str(self.code)!r}, field={self.field!r}, message={self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DomainError) and (self.code, self.field, self.message) == (
            other.code,
            other.field,
            other.message,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.field, self.message))


# --- numbers and money ----------------------------------------------------------------


class MoneyCode(StrEnum):
    INVALID_DECIMAL = "INVALID_DECIMAL"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"


class InvalidDecimal(DomainError):
    code = MoneyCode.INVALID_DECIMAL


class UnknownCurrency(DomainError):
    code = MoneyCode.UNKNOWN_CURRENCY


# --- time -----------------------------------------------------------------------------


class TimeCode(StrEnum):
    UNKNOWN_TIMEZONE = "UNKNOWN_TIMEZONE"
    NAIVE_DATETIME = "NAIVE_DATETIME"
    INVALID_PERIOD = "INVALID_PERIOD"
    BEFORE_SUBSCRIPTION_START = "BEFORE_SUBSCRIPTION_START"


class UnknownTimezone(DomainError):
    code = TimeCode.UNKNOWN_TIMEZONE


class NaiveDatetime(DomainError):
    code = TimeCode.NAIVE_DATETIME


class InvalidPeriod(DomainError):
    code = TimeCode.INVALID_PERIOD


class BeforeSubscriptionStart(DomainError):
    code = TimeCode.BEFORE_SUBSCRIPTION_START


# --- billable metrics -----------------------------------------------------------------


class MetricCode(StrEnum):
    INVALID_METRIC = "INVALID_METRIC"
    FIELD_NAME_REQUIRED = "FIELD_NAME_REQUIRED"
    RECURRING_NOT_SUPPORTED = "RECURRING_NOT_SUPPORTED"
    AGGREGATION_NOT_COMBINABLE = "AGGREGATION_NOT_COMBINABLE"
    PRORATION_NOT_SUPPORTED = "PRORATION_NOT_SUPPORTED"


class InvalidMetric(DomainError):
    code = MetricCode.INVALID_METRIC


class FieldNameRequired(InvalidMetric):
    code = MetricCode.FIELD_NAME_REQUIRED


class RecurringNotSupported(InvalidMetric):
    code = MetricCode.RECURRING_NOT_SUPPORTED


class AggregationNotCombinable(InvalidMetric):
    code = MetricCode.AGGREGATION_NOT_COMBINABLE


class ProrationNotSupported(InvalidMetric):
    code = MetricCode.PRORATION_NOT_SUPPORTED


# --- usage events ---------------------------------------------------------------------


class UsageCode(StrEnum):
    EVENT_REJECTED = "EVENT_REJECTED"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    USAGE_NOT_RATEABLE = "USAGE_NOT_RATEABLE"


class EventRejected(DomainError):
    """One usage event refused by itself; `code` is its `domain.usage_events.Rejection`."""

    code = UsageCode.EVENT_REJECTED

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc,assignment]  # the rejection's own code (an instance of the enum)


class BatchTooLarge(DomainError):
    code = UsageCode.BATCH_TOO_LARGE


class UnrateableUsage(DomainError):
    """Stored usage of a customer cannot be rated (e.g. a value stored before a limit existed)."""

    code = UsageCode.USAGE_NOT_RATEABLE


# --- charge properties ----------------------------------------------------------------


class ChargeCode(StrEnum):
    INVALID_CHARGE_PROPERTIES = "INVALID_CHARGE_PROPERTIES"
    MISSING_PROPERTY = "MISSING_PROPERTY"
    PROPERTY_NOT_ALLOWED = "PROPERTY_NOT_ALLOWED"
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    NEGATIVE_UNITS = "NEGATIVE_UNITS"
    INVALID_PACKAGE_SIZE = "INVALID_PACKAGE_SIZE"
    INVALID_RATE = "INVALID_RATE"
    INVALID_FREE_EVENTS = "INVALID_FREE_EVENTS"
    MIN_ABOVE_MAX = "MIN_ABOVE_MAX"
    INVALID_RANGES = "INVALID_RANGES"
    RANGES_EMPTY = "RANGES_EMPTY"
    RANGES_MUST_START_AT_ZERO = "RANGES_MUST_START_AT_ZERO"
    RANGES_GAP_OR_OVERLAP = "RANGES_GAP_OR_OVERLAP"
    RANGES_ONLY_LAST_OPEN = "RANGES_ONLY_LAST_OPEN"
    RANGES_LAST_MUST_BE_OPEN = "RANGES_LAST_MUST_BE_OPEN"
    RANGES_TO_NOT_ABOVE_FROM = "RANGES_TO_NOT_ABOVE_FROM"


class InvalidChargeProperties(DomainError):
    code = ChargeCode.INVALID_CHARGE_PROPERTIES


class MissingProperty(InvalidChargeProperties):
    code = ChargeCode.MISSING_PROPERTY


class PropertyNotAllowed(InvalidChargeProperties):
    code = ChargeCode.PROPERTY_NOT_ALLOWED


class NegativeAmount(InvalidChargeProperties):
    code = ChargeCode.NEGATIVE_AMOUNT


class NegativeUnits(InvalidChargeProperties):
    code = ChargeCode.NEGATIVE_UNITS


class InvalidPackageSize(InvalidChargeProperties):
    code = ChargeCode.INVALID_PACKAGE_SIZE


class InvalidRate(InvalidChargeProperties):
    code = ChargeCode.INVALID_RATE


class InvalidFreeEvents(InvalidChargeProperties):
    code = ChargeCode.INVALID_FREE_EVENTS


class MinAboveMax(InvalidChargeProperties):
    code = ChargeCode.MIN_ABOVE_MAX


class InvalidRanges(InvalidChargeProperties):
    code = ChargeCode.INVALID_RANGES


class RangesEmpty(InvalidRanges):
    code = ChargeCode.RANGES_EMPTY


class RangesMustStartAtZero(InvalidRanges):
    code = ChargeCode.RANGES_MUST_START_AT_ZERO


class RangesGapOrOverlap(InvalidRanges):
    code = ChargeCode.RANGES_GAP_OR_OVERLAP


class RangesOnlyLastOpen(InvalidRanges):
    code = ChargeCode.RANGES_ONLY_LAST_OPEN


class RangesLastMustBeOpen(InvalidRanges):
    code = ChargeCode.RANGES_LAST_MUST_BE_OPEN


class RangeToNotAboveFrom(InvalidRanges):
    code = ChargeCode.RANGES_TO_NOT_ABOVE_FROM


# --- proration and plan changes -------------------------------------------------------


class ProrationCode(StrEnum):
    INVALID_PRORATION_DAYS = "INVALID_PRORATION_DAYS"
    PLAN_CHANGE_OUTSIDE_PERIOD = "PLAN_CHANGE_OUTSIDE_PERIOD"


class InvalidProrationDays(DomainError):
    code = ProrationCode.INVALID_PRORATION_DAYS


class PlanChangeOutsidePeriod(DomainError):
    code = ProrationCode.PLAN_CHANGE_OUTSIDE_PERIOD


# --- tax ------------------------------------------------------------------------------


class TaxCode(StrEnum):
    TAX_RATE_OUT_OF_RANGE = "TAX_RATE_OUT_OF_RANGE"
    INVALID_VAT_NUMBER = "INVALID_VAT_NUMBER"
    UNKNOWN_COUNTRY = "UNKNOWN_COUNTRY"


class TaxRateOutOfRange(DomainError):
    code = TaxCode.TAX_RATE_OUT_OF_RANGE


class InvalidVatNumber(DomainError):
    code = TaxCode.INVALID_VAT_NUMBER


class UnknownCountry(DomainError):
    code = TaxCode.UNKNOWN_COUNTRY


# --- coupons --------------------------------------------------------------------------


class CouponCode(StrEnum):
    COUPON_INVALID = "COUPON_INVALID"
    COUPON_INVALID_CODE = "COUPON_INVALID_CODE"
    COUPON_INVALID_AMOUNT = "COUPON_INVALID_AMOUNT"
    COUPON_INVALID_PERCENTAGE = "COUPON_INVALID_PERCENTAGE"
    COUPON_INVALID_CURRENCY = "COUPON_INVALID_CURRENCY"
    COUPON_INVALID_DURATION = "COUPON_INVALID_DURATION"
    COUPON_CURRENCY_MISMATCH = "COUPON_CURRENCY_MISMATCH"


class InvalidCoupon(DomainError):
    code = CouponCode.COUPON_INVALID


class CouponInvalidCode(InvalidCoupon):
    code = CouponCode.COUPON_INVALID_CODE


class CouponInvalidAmount(InvalidCoupon):
    code = CouponCode.COUPON_INVALID_AMOUNT


class CouponInvalidPercentage(InvalidCoupon):
    code = CouponCode.COUPON_INVALID_PERCENTAGE


class CouponInvalidCurrency(InvalidCoupon):
    code = CouponCode.COUPON_INVALID_CURRENCY


class CouponInvalidDuration(InvalidCoupon):
    code = CouponCode.COUPON_INVALID_DURATION


class CouponCurrencyMismatch(DomainError):
    code = CouponCode.COUPON_CURRENCY_MISMATCH


# --- invoices -------------------------------------------------------------------------


class InvoiceCode(StrEnum):
    NEGATIVE_INVOICE_AMOUNT = "NEGATIVE_INVOICE_AMOUNT"
    INVALID_PERIOD_FRACTION = "INVALID_PERIOD_FRACTION"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    CREDIT_NOTE_LINE_TOO_LARGE = "CREDIT_NOTE_LINE_TOO_LARGE"
    INVALID_INVOICE_PREFIX = "INVALID_INVOICE_PREFIX"
    INVALID_INVOICE_NUMBER = "INVALID_INVOICE_NUMBER"
    INVALID_INVOICE_TRANSITION = "INVALID_INVOICE_TRANSITION"


class NegativeInvoiceAmount(DomainError):
    code = InvoiceCode.NEGATIVE_INVOICE_AMOUNT


class InvalidPeriodFraction(DomainError):
    code = InvoiceCode.INVALID_PERIOD_FRACTION


class InvalidCreditAmount(DomainError):
    code = InvoiceCode.INVALID_AMOUNT


class CreditNoteLineTooLarge(DomainError):
    code = InvoiceCode.CREDIT_NOTE_LINE_TOO_LARGE


class InvalidInvoicePrefix(DomainError):
    code = InvoiceCode.INVALID_INVOICE_PREFIX


class InvalidInvoiceNumber(DomainError):
    code = InvoiceCode.INVALID_INVOICE_NUMBER


class InvalidInvoiceTransition(DomainError):
    code = InvoiceCode.INVALID_INVOICE_TRANSITION


# --- payments -------------------------------------------------------------------------


class PaymentCode(StrEnum):
    INVALID_PAYMENT_AMOUNT = "INVALID_PAYMENT_AMOUNT"
    PAYMENT_CURRENCY_MISMATCH = "PAYMENT_CURRENCY_MISMATCH"
    INVALID_REFUND_AMOUNT = "INVALID_REFUND_AMOUNT"
    REFUND_EXCEEDS_PAID = "REFUND_EXCEEDS_PAID"


class InvalidPaymentAmount(DomainError):
    code = PaymentCode.INVALID_PAYMENT_AMOUNT


class PaymentCurrencyMismatch(DomainError):
    code = PaymentCode.PAYMENT_CURRENCY_MISMATCH


class InvalidRefundAmount(DomainError):
    code = PaymentCode.INVALID_REFUND_AMOUNT


class RefundExceedsPaid(InvalidRefundAmount):
    code = PaymentCode.REFUND_EXCEEDS_PAID


# --- dunning --------------------------------------------------------------------------


class DunningCode(StrEnum):
    INVALID_DURATION = "INVALID_DURATION"
    INVALID_RETRY_SCHEDULE = "INVALID_RETRY_SCHEDULE"


class InvalidDuration(DomainError):
    code = DunningCode.INVALID_DURATION


class InvalidRetrySchedule(DomainError):
    code = DunningCode.INVALID_RETRY_SCHEDULE


# --- bank statements ------------------------------------------------------------------


class BankStatementCode(StrEnum):
    INVALID_BANK_STATEMENT = "INVALID_BANK_STATEMENT"
    BANK_STATEMENT_TOO_LARGE = "BANK_STATEMENT_TOO_LARGE"
    UNSUPPORTED_BANK_STATEMENT = "UNSUPPORTED_BANK_STATEMENT"


class InvalidBankStatement(DomainError):
    code = BankStatementCode.INVALID_BANK_STATEMENT


class BankStatementTooLarge(InvalidBankStatement):
    code = BankStatementCode.BANK_STATEMENT_TOO_LARGE


class UnsupportedBankStatement(InvalidBankStatement):
    code = BankStatementCode.UNSUPPORTED_BANK_STATEMENT


# --- analytics --------------------------------------------------------------------------


class AnalyticsCode(StrEnum):
    INVALID_DATE_RANGE = "INVALID_DATE_RANGE"
    DATE_RANGE_TOO_LONG = "DATE_RANGE_TOO_LONG"
    INVALID_LIMIT = "INVALID_LIMIT"


class InvalidAnalyticsRange(DomainError):
    code = AnalyticsCode.INVALID_DATE_RANGE


class AnalyticsRangeTooLong(InvalidAnalyticsRange):
    code = AnalyticsCode.DATE_RANGE_TOO_LONG


class InvalidRankingLimit(DomainError):
    code = AnalyticsCode.INVALID_LIMIT


def error_codes() -> dict[str, type[DomainError]]:
    """Every code defined here, mapped to its error class."""
    found: dict[str, type[DomainError]] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        found[cls.code] = cls
        pending.extend(cls.__subclasses__())
    return found
