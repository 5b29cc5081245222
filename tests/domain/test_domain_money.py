from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import money
from domain.errors import InvalidDecimal, UnknownCurrency

quick = settings(max_examples=100, deadline=None, database=None)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "USD", "2.35"),
        ("-2.345", "USD", "-2.35"),
        ("2.344999", "USD", "2.34"),
        ("2.5", "JPY", "3"),
        ("-2.5", "JPY", "-3"),
        ("1.5", "JPY", "2"),
        ("1.0005", "KWD", "1.001"),
        ("-1.0005", "KWD", "-1.001"),
        ("0.00005", "CLF", "0.0001"),
    ],
)
def test_round_half_away_from_zero_for_jpy_usd_kwd(amount, currency, expected):
    rounded = money.round_minor(D(amount), currency)
    assert rounded == D(expected)
    assert str(rounded) == expected  # quantized to the exponent, not just equal


def test_rounding_never_shows_negative_zero():
    assert str(money.round_minor(D("-0.004"), "USD")) == "0.00"


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("XAF", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
        ("CHF", 2),
    ],
)
def test_currency_exponents_follow_iso_4217(currency, exponent):
    assert money.currency_exponent(currency) == exponent


@pytest.mark.parametrize("code", ["ABC", "usd", "US", "", "XAU", "XXX", "XTS"])
def test_unknown_or_uninvoiceable_currency_is_rejected(code):
    with pytest.raises(UnknownCurrency) as caught:
        money.validate_currency(code)
    assert caught.value.code == "UNKNOWN_CURRENCY"
    assert caught.value.field == ("currency",)


def test_minor_units_round_trip():
    assert money.to_minor_units(D("12.345"), "USD") == 1235
    assert money.to_minor_units(D("1234.5"), "JPY") == 1235
    assert money.to_minor_units(D("-1.2345"), "KWD") == -1235
    assert money.from_minor_units(1235, "USD") == D("12.35")
    assert str(money.from_minor_units(1235, "JPY")) == "1235"
    assert str(money.from_minor_units(1235, "KWD")) == "1.235"
    assert str(money.from_minor_units(5, "USD")) == "0.05"


def test_parse_decimal_reads_numbers_exactly_as_written():
    assert money.parse_decimal("0.1") == D("0.1")
    assert money.parse_decimal("0.1") + money.parse_decimal("0.2") == D("0.3")
    assert money.parse_decimal(7) == D(7)
    assert money.parse_decimal(D("12.50")) == D("12.50")
    assert money.parse_decimal("-3") == D(-3)
    assert money.parse_decimal("1e3") == D(1000)


def test_parse_decimal_rejects_float_and_bool_with_type_error():
    with pytest.raises(TypeError):
        money.parse_decimal(0.1)
    with pytest.raises(TypeError):
        money.parse_decimal(True)
    with pytest.raises(TypeError):
        money.parse_decimal(None)


@pytest.mark.parametrize("text", ["NaN", "nan", "Infinity", "-inf", "1_000", "", "abc", " 1", "1,5", "0x10", "1e"])
def test_parse_decimal_rejects_nan_infinity_and_words(text):
    with pytest.raises(InvalidDecimal) as caught:
        money.parse_decimal(text, field=("amount",))
    assert caught.value.code == "INVALID_DECIMAL"
    assert caught.value.field == ("amount",)


def test_parse_decimal_rejects_non_finite_decimal():
    with pytest.raises(InvalidDecimal):
        money.parse_decimal(D("NaN"))
    with pytest.raises(InvalidDecimal):
        money.parse_decimal(D("-Infinity"))


def test_prices_have_at_most_twelve_decimal_places():
    assert money.parse_decimal("0.000000000001") == D("1e-12")
    assert money.parse_decimal("1.500000000000000") == D("1.5")  # trailing zeros don't count
    with pytest.raises(InvalidDecimal):
        money.parse_decimal("0.0000000000001")
    assert money.parse_decimal("0.0000000000001", max_places=None) == D("1e-13")


def test_parse_decimal_rejects_absurd_magnitudes():
    with pytest.raises(InvalidDecimal):
        money.parse_decimal("1e40")
    assert money.parse_decimal("999999999999999999") == D("999999999999999999")


@quick
@given(
    amount=st.decimals(min_value=-(10**9), max_value=10**9, places=6),
    currency=st.sampled_from(["USD", "JPY", "KWD", "CLF"]),
)
def test_rounding_is_nearest_symmetric_and_idempotent(amount, currency):
    unit = D(1).scaleb(-money.currency_exponent(currency))
    rounded = money.round_minor(amount, currency)
    assert abs(rounded - amount) <= unit / 2
    assert money.round_minor(rounded, currency) == rounded
    assert money.round_minor(-amount, currency) == -rounded
    assert money.from_minor_units(money.to_minor_units(amount, currency), currency) == rounded
