"""Tax rates, which of them apply, exemptions and the EU reverse charge.

Decisions for docs/:

- A tax rate is a percent ("20" = 20%) between 0 and 100. Rates attach at four levels; the
  most specific level that has any rate wins (charge > plan > customer > organization) and
  every rate of that level applies (a state and a county rate together). A rate listed twice
  at that level (same code) applies once.
- A line's tax is its amount after discounts x the sum of its rates / 100, rounded once, half
  away from zero, to the currency's minor unit. Rounding the combined rate once (rather than
  each rate, then adding) keeps a line's tax at most half a minor unit from the exact tax.
- Reverse charge applies when seller and customer are in two different EU member states and
  the customer has a VAT number whose format (and check digits) python-stdnum accepts; no VIES
  lookup happens here (that is I/O). The VAT number may be given with or without its country
  prefix (Greece: "EL", also accepted as "GR"); it must belong to the customer's country.
- Exempt customers and reverse-charged lines pay 0 tax; both flags report facts
  independently, so an exempt EU business abroad still gets the reverse charge mention that
  Article 226(11a) of Directive 2006/112/EC asks for. Lines pay tax only with rates.
- `validate_vat_number` checks EU member states' VAT numbers only; other countries' tax ids are
  not validated here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import pycountry
from stdnum.eu import vat as eu_vat

from domain.errors import InvalidVatNumber, TaxRateOutOfRange, UnknownCountry
from domain.money import require_decimal, round_minor

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)

EU_MEMBER_STATES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
"""ISO 3166 alpha-2 codes of the 27 EU member states."""

# The VAT prefix is the ISO code except for Greece.
_VAT_PREFIX_EXCEPTIONS = {"GR": "EL"}

# Separators people type inside VAT numbers.
_VAT_SEPARATORS = re.compile(r"[\s.\-/,]")


def vat_prefix(country: str) -> str:
    """The VAT number prefix of an EU member state (its ISO code, "EL" for Greece)."""
    return _VAT_PREFIX_EXCEPTIONS.get(country, country)


@cache
def _iso_country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


def validate_country(code: str, field: Sequence[str] = ("country",)) -> str:
    """`code` in upper case if it is an ISO 3166 alpha-2 country code, else UNKNOWN_COUNTRY."""
    if not isinstance(code, str):
        raise TypeError(f"country code must be a str, not {type(code).__name__}")
    upper = code.strip().upper()
    if upper not in _iso_country_codes():
        raise UnknownCountry(f"{code!r} is not an ISO 3166 country code", field=field)
    return upper


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A tax rate: `rate` is a percent ("20" = 20%)."""

    code: str
    name: str
    rate: Decimal

    def __post_init__(self) -> None:
        rate = require_decimal(self.rate, "rate")
        if not _ZERO <= rate <= _HUNDRED:
            raise TaxRateOutOfRange("a tax rate is a percent between 0 and 100", field=("rate",))
        object.__setattr__(self, "rate", rate)


def applicable_rates(
    charge_rates: Iterable[TaxRate],
    plan_rates: Iterable[TaxRate],
    customer_rates: Iterable[TaxRate],
    organization_rates: Iterable[TaxRate],
) -> tuple[TaxRate, ...]:
    """The rates of the most specific level that has any (charge > plan > customer > organization)."""
    for level in (charge_rates, plan_rates, customer_rates, organization_rates):
        rates = tuple(level)
        if rates:
            unique: dict[str, TaxRate] = {}
            for rate in rates:
                if not isinstance(rate, TaxRate):
                    raise TypeError(f"expected TaxRate, not {type(rate).__name__}")
                unique.setdefault(rate.code, rate)
            return tuple(unique.values())
    return ()


@dataclass(frozen=True, slots=True)
class TaxContext:
    """Who sells to whom: what decides exemption and reverse charge (countries may be unknown)."""

    seller_country: str | None
    customer_country: str | None
    customer_tax_id: str | None = None
    customer_tax_exempt: bool = False

    def __post_init__(self) -> None:
        if self.seller_country is not None:
            object.__setattr__(self, "seller_country", validate_country(self.seller_country, ("sellerCountry",)))
        if self.customer_country is not None:
            country = validate_country(self.customer_country, ("customerCountry",))
            object.__setattr__(self, "customer_country", country)
        if not isinstance(self.customer_tax_exempt, bool):
            raise TypeError("customer_tax_exempt must be a bool")


def validate_vat_number(country: str, number: str) -> str:
    """An EU VAT number of `country` in compact form with its prefix ("DE136695976"), else INVALID_VAT_NUMBER."""
    country = validate_country(country)
    if not isinstance(number, str):
        raise TypeError(f"a VAT number must be a str, not {type(number).__name__}")
    field = ("taxIdentificationNumber",)
    if country not in EU_MEMBER_STATES:
        raise InvalidVatNumber(f"{country} is not an EU member state: no EU VAT number", field=field)
    prefix = vat_prefix(country)
    cleaned = _VAT_SEPARATORS.sub("", number).upper()
    candidates = []
    for given in (prefix, country):  # Greek numbers are also written "GR..."
        if cleaned.startswith(given):
            candidates.append(prefix + cleaned[len(given) :])
    # A national number that happens to start with the prefix letters is tried prefixed too.
    candidates.append(prefix + cleaned)
    for candidate in candidates:
        if len(candidate) > len(prefix) and eu_vat.is_valid(candidate):
            return prefix + eu_vat.compact(candidate)[2:]
    raise InvalidVatNumber(f"{number!r} is not a valid {country} VAT number", field=field)


def reverse_charge_applies(ctx: TaxContext) -> bool:
    """Seller and customer in two different EU states, the customer with a valid VAT number."""
    seller, customer = ctx.seller_country, ctx.customer_country
    if seller not in EU_MEMBER_STATES or customer not in EU_MEMBER_STATES or seller == customer:
        return False
    if not ctx.customer_tax_id or customer is None:
        return False
    try:
        validate_vat_number(customer, ctx.customer_tax_id)
    except InvalidVatNumber:
        return False
    return True


@dataclass(frozen=True, slots=True)
class LineTax:
    """The tax of one invoice line; `rates` are the rates that were applied (none when 0 by rule)."""

    amount: Decimal
    rates: tuple[TaxRate, ...]
    reverse_charge: bool
    exempt: bool


def tax_for_line(amount_after_discount: Decimal, rates: Sequence[TaxRate], ctx: TaxContext, currency: str) -> LineTax:
    """amount x sum of rates / 100, rounded once per line; 0 for exempt customers and reverse charge."""
    amount = require_decimal(amount_after_discount, "amount_after_discount")
    rates = tuple(rates)
    for rate in rates:
        if not isinstance(rate, TaxRate):
            raise TypeError(f"expected TaxRate, not {type(rate).__name__}")
    exempt = ctx.customer_tax_exempt
    reverse_charge = reverse_charge_applies(ctx)
    if exempt or reverse_charge or not rates:
        return LineTax(round_minor(_ZERO, currency), (), reverse_charge, exempt)
    combined = sum((rate.rate for rate in rates), _ZERO)
    return LineTax(round_minor(amount * combined / _HUNDRED, currency), rates, False, False)
