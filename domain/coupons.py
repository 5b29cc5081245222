"""Coupons: fixed amount or percentage, once / for N periods / forever, and how they discount lines.

Decisions for docs/:

- Coupons apply in the order given (the order they were applied to the customer). A
  percentage coupon takes its percent of what earlier coupons left, rounded once, half away
  from zero; a fixed coupon takes its amount, capped at what is left. Discounts never make
  an invoice or a line negative.
- A fixed coupon's amount beyond what is left to discount is lost, not carried to the next
  invoice (as Stripe): a ONCE coupon is used up by the first invoice it discounts.
- A coupon's discount is spread over the lines pro rata to what each line has left, in
  minor units by largest remainder (ties: earlier line first), so the lines' shares add up
  to exactly the coupon's discount and each line's tax can be computed after discount.
- A period counts as used only when the coupon discounted something on that invoice (an
  invoice of 0, e.g. in a trial, does not use a ONCE or REPEATING coupon up).
- A fixed coupon has a currency and applies only to invoices in that currency (anything
  else is COUPON_CURRENCY_MISMATCH); its amount has at most the currency's minor-unit places.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from domain.errors import (
    CouponCurrencyMismatch,
    CouponInvalidAmount,
    CouponInvalidCode,
    CouponInvalidCurrency,
    CouponInvalidDuration,
    CouponInvalidPercentage,
    NegativeInvoiceAmount,
    UnknownCurrency,
)
from domain.money import (
    currency_exponent,
    decimal_places,
    from_minor_units,
    require_decimal,
    round_minor,
    to_minor_units,
    validate_currency,
)

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class CouponKind(enum.StrEnum):
    FIXED = "FIXED"
    PERCENTAGE = "PERCENTAGE"


class CouponDuration(enum.StrEnum):
    ONCE = "ONCE"
    REPEATING = "REPEATING"  # for `duration_periods` billing periods
    FOREVER = "FOREVER"


@dataclass(frozen=True, slots=True)
class Coupon:
    """A discount: `amount` in `currency` (FIXED) or `percentage` ("10" = 10%, PERCENTAGE)."""

    code: str
    kind: CouponKind
    amount: Decimal | None = None
    percentage: Decimal | None = None
    currency: str | None = None
    duration: CouponDuration = CouponDuration.ONCE
    duration_periods: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CouponKind(self.kind))
        object.__setattr__(self, "duration", CouponDuration(self.duration))
        if not isinstance(self.code, str) or not self.code.strip():
            raise CouponInvalidCode("a coupon needs a code", field=("code",))
        if self.amount is not None:
            object.__setattr__(self, "amount", require_decimal(self.amount, "amount"))
        if self.percentage is not None:
            object.__setattr__(self, "percentage", require_decimal(self.percentage, "percentage"))
        if self.kind is CouponKind.FIXED:
            self._validate_fixed()
        else:
            self._validate_percentage()
        self._validate_duration()

    def _validate_fixed(self) -> None:
        if self.percentage is not None:
            raise CouponInvalidPercentage("a fixed amount coupon takes no percentage", field=("percentage",))
        if self.currency is None:
            raise CouponInvalidCurrency("a fixed amount coupon needs a currency", field=("currency",))
        try:
            validate_currency(self.currency)
        except UnknownCurrency as error:
            raise CouponInvalidCurrency(error.message, field=("currency",)) from None
        if self.amount is None or self.amount <= 0:
            raise CouponInvalidAmount("a fixed amount coupon needs an amount above 0", field=("amount",))
        if decimal_places(self.amount) > currency_exponent(self.currency):
            raise CouponInvalidAmount(
                f"{self.currency} amounts have at most {currency_exponent(self.currency)} decimal places",
                field=("amount",),
            )

    def _validate_percentage(self) -> None:
        if self.amount is not None:
            raise CouponInvalidAmount("a percentage coupon takes no amount", field=("amount",))
        if self.currency is not None:
            raise CouponInvalidCurrency("a percentage coupon takes no currency", field=("currency",))
        if self.percentage is None or not _ZERO < self.percentage <= _HUNDRED:
            raise CouponInvalidPercentage("a percentage is above 0 and at most 100", field=("percentage",))

    def _validate_duration(self) -> None:
        periods = self.duration_periods
        if self.duration is CouponDuration.REPEATING:
            if not isinstance(periods, int) or isinstance(periods, bool):
                raise CouponInvalidDuration("a repeating coupon needs a number of periods", field=("durationPeriods",))
            if periods < 1:
                raise CouponInvalidDuration("a repeating coupon lasts at least 1 period", field=("durationPeriods",))
        elif periods is not None:
            raise CouponInvalidDuration(
                f"a {self.duration} coupon takes no number of periods", field=("durationPeriods",)
            )


@dataclass(frozen=True, slots=True)
class AppliedCoupon:
    """A coupon applied to a customer, with the billing periods it has discounted so far."""

    coupon: Coupon
    periods_used: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.coupon, Coupon):
            raise TypeError(f"expected Coupon, not {type(self.coupon).__name__}")
        if not isinstance(self.periods_used, int) or isinstance(self.periods_used, bool) or self.periods_used < 0:
            raise ValueError("periods_used must be an int of at least 0")

    @property
    def used_up(self) -> bool:
        """Whether the coupon has no period left to discount."""
        duration = self.coupon.duration
        if duration is CouponDuration.ONCE:
            return self.periods_used >= 1
        if duration is CouponDuration.REPEATING:
            assert self.coupon.duration_periods is not None
            return self.periods_used >= self.coupon.duration_periods
        return False


def record_use(applied: AppliedCoupon) -> AppliedCoupon:
    """The applied coupon after one more invoice it discounted."""
    return replace(applied, periods_used=applied.periods_used + 1)


def _check_currency(coupon: Coupon, currency: str) -> None:
    if coupon.kind is CouponKind.FIXED and coupon.currency != currency:
        raise CouponCurrencyMismatch(
            f"coupon {coupon.code} is in {coupon.currency}, the invoice in {currency}", field=("currency",)
        )


def coupon_applies(applied: AppliedCoupon, currency: str) -> bool:
    """Whether the coupon still discounts an invoice in `currency` (a fixed coupon in another: error)."""
    _check_currency(applied.coupon, validate_currency(currency))
    return not applied.used_up


def allocate_minor_units(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` minor units pro rata to `weights` by largest remainder; shares add up to `total`.

    With 0 <= total <= sum(weights), no share exceeds its weight.
    """
    weight_sum = sum(weights)
    if total < 0 or any(weight < 0 for weight in weights):
        raise ValueError("allocation takes a non-negative total and weights")
    if total == 0:
        return [0] * len(weights)
    if weight_sum == 0:
        raise ValueError("cannot allocate an amount over weights that are all 0")
    shares = [total * weight // weight_sum for weight in weights]
    left = total - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % weight_sum), i))
    for index in by_remainder[:left]:
        shares[index] += 1
    return shares


def _line_minor_units(line_amounts: Sequence[Decimal], currency: str) -> list[int]:
    minor = []
    for index, value in enumerate(line_amounts):
        amount = require_decimal(value, "line_amounts")
        if amount < 0:
            raise NegativeInvoiceAmount("an invoice line must not be negative", field=("lines", str(index), "amount"))
        if round_minor(amount, currency) != amount:
            raise ValueError(f"line {index} ({amount}) must be rounded to {currency} minor units first")
        minor.append(to_minor_units(amount, currency))
    return minor


def discount_lines(
    line_amounts: Sequence[Decimal], coupons: Sequence[Coupon], currency: str
) -> tuple[list[Decimal], list[Decimal]]:
    """Discount rounded lines with coupons in order: (discount per line, discount per coupon)."""
    validate_currency(currency)
    remaining = _line_minor_units(line_amounts, currency)
    line_discounts = [0] * len(remaining)
    coupon_totals: list[int] = []
    for index, coupon in enumerate(coupons):
        if not isinstance(coupon, Coupon):
            raise TypeError(f"expected Coupon, not {type(coupon).__name__}")
        try:
            _check_currency(coupon, currency)
        except CouponCurrencyMismatch as error:
            raise error.at("coupons", str(index)) from None
        left = sum(remaining)
        if coupon.kind is CouponKind.PERCENTAGE:
            assert coupon.percentage is not None
            exact = from_minor_units(left, currency) * coupon.percentage / _HUNDRED
            total = to_minor_units(exact, currency)
        else:
            assert coupon.amount is not None
            total = min(to_minor_units(coupon.amount, currency), left)
        shares = allocate_minor_units(total, remaining)
        for line, share in enumerate(shares):
            remaining[line] -= share
            line_discounts[line] += share
        coupon_totals.append(total)
    return (
        [from_minor_units(minor, currency) for minor in line_discounts],
        [from_minor_units(minor, currency) for minor in coupon_totals],
    )
