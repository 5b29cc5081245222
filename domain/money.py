"""Currencies (ISO 4217 minor units), exact decimal parsing and the one rounding policy.

Every invoice line is rounded once, half away from zero, to the currency's minor unit
(USD 0.01, JPY 1, KWD 0.001); totals are sums of rounded lines. Nothing here touches float:
a float argument is a bug upstream (the app reads JSON numbers as Decimal) and raises
TypeError.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

import pycountry

from domain.errors import InvalidDecimal, UnknownCurrency

PRICE_DECIMAL_PLACES = 12
"""Prices are decimal strings with up to 12 places (docs/billing-semantics.md, Charge)."""

# pycountry validates that a code exists but carries no minor units; ISO 4217 gives every
# currency not listed here an exponent of 2.
_EXPONENT_NOT_TWO: dict[str, int] = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}

# ISO 4217 lists these with minor unit "N.A.": metals, units of account, test codes.
# Nobody is invoiced in them, and they have no rounding rule to follow.
_NOT_INVOICEABLE = frozenset("XAD XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX".split())

# JSON-number-like text; Decimal() alone would also take "NaN", "Infinity" and "1_000".
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

# Amounts are stored as BIGINT minor units; 10^18 keeps every currency well inside it.
_MAX_ADJUSTED_EXPONENT = 17

MAX_MINOR_UNITS = 2**63 - 1
"""The largest amount an invoice can hold, in minor units (amounts are stored as BIGINT)."""


@cache
def _iso_currency_codes() -> frozenset[str]:
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


def validate_currency(code: str) -> str:
    """Return `code` if it is an invoiceable ISO 4217 currency, else raise UNKNOWN_CURRENCY."""
    if not isinstance(code, str):
        raise TypeError(f"currency code must be a str, not {type(code).__name__}")
    if code in _NOT_INVOICEABLE or code not in _iso_currency_codes():
        raise UnknownCurrency(f"{code!r} is not an ISO 4217 currency code", field=("currency",))
    return code


def currency_exponent(code: str) -> int:
    """Number of minor-unit decimal places of the currency (USD 2, JPY 0, KWD 3)."""
    return _exponent(code)


@cache
def _exponent(code: str) -> int:
    # Kept per code: analytics and billing convert hundreds of thousands of amounts a request (an unknown code
    # raises, and what raises is not kept).
    return _EXPONENT_NOT_TWO.get(validate_currency(code), 2)


@cache
def _minor_unit(code: str) -> Decimal:
    return Decimal(1).scaleb(-currency_exponent(code))


def require_decimal(value: object, name: str = "value") -> Decimal:
    """`value` as a finite Decimal; int is exact and accepted, float and bool are rejected."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidDecimal(f"{name} must be a finite number", field=(name,))
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"{name} must be a Decimal or int, not {type(value).__name__}")


def round_minor(amount: Decimal, currency: str) -> Decimal:
    """Round half away from zero to the currency's minor unit."""
    amount = require_decimal(amount, "amount")
    # Decimal's ROUND_HALF_UP rounds ties away from zero (-0.005 -> -0.01), as documented.
    rounded = amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() if rounded.is_zero() else rounded  # never show "-0.00"


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Amount in integer minor units (cents), rounded with `round_minor` first."""
    return int(round_minor(amount, currency).scaleb(currency_exponent(currency)))


def fits_minor_units(amount: Decimal, currency: str) -> bool:
    """Whether `amount` (already rounded to the currency) can be stored as minor units."""
    return abs(require_decimal(amount, "amount").scaleb(currency_exponent(currency))) <= MAX_MINOR_UNITS


def from_minor_units(minor_units: int, currency: str) -> Decimal:
    """Amount of `minor_units` (cents) in the currency, with its exponent's places."""
    if not isinstance(minor_units, int) or isinstance(minor_units, bool):
        raise TypeError(f"minor units must be an int, not {type(minor_units).__name__}")
    return Decimal(minor_units).scaleb(-currency_exponent(currency))


def decimal_places(value: Decimal) -> int:
    """Significant decimal places of a finite Decimal (trailing zeros do not count)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits = digits[:-1]
        exponent += 1
    if exponent < 0 and digits == (0,):
        return 0
    return max(0, -exponent)


def parse_decimal(
    value: object,
    *,
    max_places: int | None = PRICE_DECIMAL_PLACES,
    field: tuple[str, ...] = (),
) -> Decimal:
    """Read a price or quantity exactly from a str, int or Decimal (never float)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"a {type(value).__name__} cannot be read as an exact decimal")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise InvalidDecimal(f"{value!r} is not a decimal number", field=field)
        number = Decimal(value)
    else:
        raise TypeError(f"a {type(value).__name__} cannot be read as a decimal")
    if not number.is_finite():
        raise InvalidDecimal("a decimal must be a finite number", field=field)
    if not number.is_zero() and number.adjusted() > _MAX_ADJUSTED_EXPONENT:
        raise InvalidDecimal(f"{value} is too large (at most 18 digits)", field=field)
    if max_places is not None and decimal_places(number) > max_places:
        raise InvalidDecimal(f"{value} has more than {max_places} decimal places", field=field)
    return number
