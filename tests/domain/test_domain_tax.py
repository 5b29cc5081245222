from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import tax
from domain.errors import InvalidVatNumber, TaxRateOutOfRange, UnknownCountry
from domain.tax import TaxContext, TaxRate

quick = settings(max_examples=80, deadline=None, database=None)

VAT_FR = TaxRate("FR_VAT", "TVA 20%", D(20))
STATE = TaxRate("CA", "California", D("7.25"))
COUNTY = TaxRate("LA", "Los Angeles County", D("2.25"))
PLAN_RATE = TaxRate("PLAN", "Plan rate", D(5))
CUSTOMER_RATE = TaxRate("CUST", "Customer rate", D(8))
DOMESTIC = TaxContext("FR", "FR", "FR40303265045")


# --- rates ----------------------------------------------------------------------------


def test_tax_rate_is_a_percent_between_0_and_100():
    assert TaxRate("ZERO", "Zero rated", D(0)).rate == 0
    assert TaxRate("ALL", "All of it", 100).rate == D(100)
    for rate in (D("-0.01"), D("100.01")):
        with pytest.raises(TaxRateOutOfRange) as caught:
            TaxRate("X", "X", rate)
        assert caught.value.code == "TAX_RATE_OUT_OF_RANGE" and caught.value.field == ("rate",)


def test_tax_rate_rejects_float():
    with pytest.raises(TypeError):
        TaxRate("X", "X", 20.0)


def test_most_specific_level_with_rates_wins():
    assert tax.applicable_rates([], [PLAN_RATE], [CUSTOMER_RATE], [VAT_FR]) == (PLAN_RATE,)
    assert tax.applicable_rates([STATE], [PLAN_RATE], [CUSTOMER_RATE], [VAT_FR]) == (STATE,)
    assert tax.applicable_rates([], [], [CUSTOMER_RATE], [VAT_FR]) == (CUSTOMER_RATE,)
    assert tax.applicable_rates([], [], [], [VAT_FR]) == (VAT_FR,)
    assert tax.applicable_rates([], [], [], []) == ()


def test_every_rate_of_the_winning_level_applies_once():
    assert tax.applicable_rates([], [STATE, COUNTY, STATE], [], [VAT_FR]) == (STATE, COUNTY)


# --- VAT numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "number", "normalized"),
    [
        ("DE", "DE136695976", "DE136695976"),
        ("DE", "136695976", "DE136695976"),
        ("de", "de 136.695-976", "DE136695976"),
        ("GR", "094259216", "EL094259216"),
        ("GR", "EL094259216", "EL094259216"),
        ("GR", "GR094259216", "EL094259216"),
        ("AT", "U13585627", "ATU13585627"),
        ("FR", "FR 40 303 265 045", "FR40303265045"),
    ],
)
def test_vat_number_is_accepted_with_or_without_its_country_prefix(country, number, normalized):
    assert tax.validate_vat_number(country, number) == normalized


@pytest.mark.parametrize(
    ("country", "number"),
    [
        ("DE", "DE136695975"),  # check digit wrong
        ("DE", "FR40303265045"),  # another country's number
        ("DE", ""),
        ("DE", "DE"),
        ("US", "123456789"),  # not an EU member state
        ("GB", "GB980780684"),
    ],
)
def test_invalid_vat_number_is_rejected(country, number):
    with pytest.raises(InvalidVatNumber) as caught:
        tax.validate_vat_number(country, number)
    assert caught.value.code == "INVALID_VAT_NUMBER"
    assert caught.value.field == ("taxIdentificationNumber",)


def test_greece_is_a_member_state_under_its_iso_code():
    assert "GR" in tax.EU_MEMBER_STATES and "EL" not in tax.EU_MEMBER_STATES
    assert len(tax.EU_MEMBER_STATES) == 27 and "GB" not in tax.EU_MEMBER_STATES
    assert tax.vat_prefix("GR") == "EL" and tax.vat_prefix("DE") == "DE"


def test_tax_context_validates_and_normalizes_countries():
    assert TaxContext("fr", "de").customer_country == "DE"
    assert TaxContext(None, None).seller_country is None
    with pytest.raises(UnknownCountry) as caught:
        TaxContext("FR", "XX")
    assert caught.value.field == ("customerCountry",)


# --- reverse charge -------------------------------------------------------------------


def test_reverse_charge_between_eu_countries_with_valid_vat_number():
    assert tax.reverse_charge_applies(TaxContext("FR", "DE", "DE136695976"))
    assert tax.reverse_charge_applies(TaxContext("FR", "DE", "136695976"))
    assert tax.reverse_charge_applies(TaxContext("DE", "GR", "EL094259216"))


@pytest.mark.parametrize(
    "ctx",
    [
        TaxContext("DE", "DE", "DE136695976"),  # same country
        TaxContext("FR", "DE", "DE136695975"),  # invalid format
        TaxContext("FR", "DE", None),  # a consumer, no VAT number
        TaxContext("FR", "DE", ""),
        TaxContext("US", "DE", "DE136695976"),  # seller outside the EU
        TaxContext("FR", "GB", "GB980780684"),  # customer outside the EU
        TaxContext(None, "DE", "DE136695976"),
        TaxContext("FR", None, "DE136695976"),
    ],
)
def test_no_reverse_charge_otherwise(ctx):
    assert not tax.reverse_charge_applies(ctx)


# --- a line's tax ---------------------------------------------------------------------


def test_line_tax_is_amount_times_rate_rounded_half_away_from_zero():
    line = tax.tax_for_line(D("10.025"), [VAT_FR], DOMESTIC, "USD")
    assert line == tax.LineTax(D("2.01"), (VAT_FR,), reverse_charge=False, exempt=False)
    assert tax.tax_for_line(D("0.025"), [VAT_FR], DOMESTIC, "USD").amount == D("0.01")  # 0.005 -> 0.01


def test_several_rates_are_added_then_rounded_once_per_line():
    us = TaxContext("US", "US")
    assert tax.tax_for_line(D("10.10"), [STATE, COUNTY], us, "USD").amount == D("0.96")  # 9.5% = 0.9595
    # 5% + 5% of 0.10: 0.005 + 0.005 = 0.01 exactly; rounding each rate first would give 0.02.
    city = TaxRate("CITY", "City", D(5))
    district = TaxRate("DISTRICT", "District", D(5))
    line = tax.tax_for_line(D("0.10"), [city, district], us, "USD")
    assert line.amount == D("0.01") and line.rates == (city, district)


def test_line_tax_rounds_to_the_currency():
    assert tax.tax_for_line(D(1234), [VAT_FR], DOMESTIC, "JPY").amount == D(247)  # 246.8
    assert tax.tax_for_line(D("1.234"), [VAT_FR], DOMESTIC, "KWD").amount == D("0.247")  # 0.2468


def test_exempt_customer_pays_no_tax():
    line = tax.tax_for_line(D(100), [VAT_FR], TaxContext("FR", "FR", None, customer_tax_exempt=True), "EUR")
    assert line == tax.LineTax(D("0.00"), (), reverse_charge=False, exempt=True)


def test_reverse_charged_line_pays_no_tax():
    line = tax.tax_for_line(D(100), [VAT_FR], TaxContext("FR", "DE", "DE136695976"), "EUR")
    assert line == tax.LineTax(D("0.00"), (), reverse_charge=True, exempt=False)


def test_line_without_rates_pays_no_tax():
    assert tax.tax_for_line(D(100), [], DOMESTIC, "EUR").amount == D("0.00")


@quick
@given(
    amount=st.decimals(min_value=0, max_value=10**9, places=2),
    rates=st.lists(st.decimals(min_value=0, max_value=100, places=3), min_size=1, max_size=3),
)
def test_line_tax_is_within_half_a_cent_of_exact_tax(amount, rates):
    applied = [TaxRate(f"R{i}", "rate", rate) for i, rate in enumerate(rates)]
    line = tax.tax_for_line(amount, applied, DOMESTIC, "USD")
    exact = amount * sum(rates) / 100
    assert abs(line.amount - exact) <= D("0.005")
    assert line.amount.as_tuple().exponent == -2
