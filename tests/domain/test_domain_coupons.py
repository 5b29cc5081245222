from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import coupons, money
from domain.coupons import AppliedCoupon, Coupon, CouponDuration, CouponKind
from domain.errors import CouponCurrencyMismatch, InvalidCoupon, NegativeInvoiceAmount

quick = settings(max_examples=80, deadline=None, database=None)


def percent(p, duration=CouponDuration.ONCE, periods=None, code="PCT"):
    return Coupon(code, CouponKind.PERCENTAGE, percentage=D(p), duration=duration, duration_periods=periods)


def fixed(amount, currency="USD", duration=CouponDuration.ONCE, periods=None, code="FIX"):
    return Coupon(
        code, CouponKind.FIXED, amount=D(amount), currency=currency, duration=duration, duration_periods=periods
    )


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "code", "field"),
    [
        (lambda: percent(0), "COUPON_INVALID_PERCENTAGE", ("percentage",)),
        (lambda: percent("100.01"), "COUPON_INVALID_PERCENTAGE", ("percentage",)),
        (lambda: Coupon("P", "PERCENTAGE"), "COUPON_INVALID_PERCENTAGE", ("percentage",)),
        (lambda: Coupon("P", "PERCENTAGE", percentage=D(5), amount=D(1)), "COUPON_INVALID_AMOUNT", ("amount",)),
        (lambda: Coupon("P", "PERCENTAGE", percentage=D(5), currency="USD"), "COUPON_INVALID_CURRENCY", ("currency",)),
        (lambda: fixed(0), "COUPON_INVALID_AMOUNT", ("amount",)),
        (lambda: fixed(-5), "COUPON_INVALID_AMOUNT", ("amount",)),
        (lambda: fixed("1.005"), "COUPON_INVALID_AMOUNT", ("amount",)),
        (lambda: fixed("1.5", "JPY"), "COUPON_INVALID_AMOUNT", ("amount",)),
        (lambda: fixed(5, None), "COUPON_INVALID_CURRENCY", ("currency",)),
        (lambda: fixed(5, "ABC"), "COUPON_INVALID_CURRENCY", ("currency",)),
        (
            lambda: Coupon("F", "FIXED", amount=D(5), currency="USD", percentage=D(5)),
            "COUPON_INVALID_PERCENTAGE",
            ("percentage",),
        ),
        (lambda: percent(10, CouponDuration.REPEATING), "COUPON_INVALID_DURATION", ("durationPeriods",)),
        (lambda: percent(10, CouponDuration.REPEATING, 0), "COUPON_INVALID_DURATION", ("durationPeriods",)),
        (lambda: percent(10, CouponDuration.FOREVER, 3), "COUPON_INVALID_DURATION", ("durationPeriods",)),
        (lambda: percent(10, code=" "), "COUPON_INVALID_CODE", ("code",)),
    ],
)
def test_invalid_coupons_are_rejected_with_a_code(make, code, field):
    with pytest.raises(InvalidCoupon) as caught:
        make()
    assert (caught.value.code, caught.value.field) == (code, field)


def test_valid_coupons():
    assert percent(100).percentage == 100
    assert fixed("0.01").amount == D("0.01")
    assert fixed("500", "JPY").currency == "JPY"
    assert percent(10, "REPEATING", 3).duration is CouponDuration.REPEATING


def test_coupon_rejects_float():
    with pytest.raises(TypeError):
        Coupon("P", CouponKind.PERCENTAGE, percentage=10.0)


# --- durations ------------------------------------------------------------------------


def test_once_coupon_applies_to_one_invoice():
    applied = AppliedCoupon(percent(10))
    assert coupons.coupon_applies(applied, "USD")
    assert not coupons.coupon_applies(coupons.record_use(applied), "USD")


def test_repeating_coupon_applies_for_its_periods():
    applied = AppliedCoupon(percent(10, CouponDuration.REPEATING, 3))
    for _ in range(3):
        assert coupons.coupon_applies(applied, "EUR")
        applied = coupons.record_use(applied)
    assert not coupons.coupon_applies(applied, "EUR")


def test_forever_coupon_always_applies():
    assert coupons.coupon_applies(AppliedCoupon(percent(10, CouponDuration.FOREVER), periods_used=1000), "USD")


def test_fixed_coupon_in_another_currency_is_a_mismatch():
    assert coupons.coupon_applies(AppliedCoupon(fixed(5, "EUR")), "EUR")
    with pytest.raises(CouponCurrencyMismatch) as caught:
        coupons.coupon_applies(AppliedCoupon(fixed(5, "EUR")), "USD")
    assert caught.value.code == "COUPON_CURRENCY_MISMATCH"
    assert coupons.coupon_applies(AppliedCoupon(percent(5)), "JPY")  # a percentage has no currency


# --- discounting lines ----------------------------------------------------------------


def test_percentage_coupon_is_spread_pro_rata_by_largest_remainder():
    per_line, per_coupon = coupons.discount_lines([D("49.99"), D("12.35"), D("7.01")], [percent(10)], "USD")
    assert per_coupon == [D("6.94")]  # 10% of 69.35 = 6.935, rounded once
    assert per_line == [D("5.00"), D("1.24"), D("0.70")]


def test_fixed_coupon_is_capped_at_the_subtotal_and_the_rest_is_lost():
    per_line, per_coupon = coupons.discount_lines([D("3.00"), D("1.00")], [fixed(10)], "USD")
    assert per_coupon == [D("4.00")] and per_line == [D("3.00"), D("1.00")]


def test_percentage_applies_to_what_earlier_coupons_left():
    per_line, per_coupon = coupons.discount_lines([D("100.00")], [fixed(20), percent(50), fixed(100)], "USD")
    assert per_coupon == [D("20.00"), D("40.00"), D("40.00")]
    assert per_line == [D("100.00")]


def test_discounts_round_to_the_currency():
    assert coupons.discount_lines([D(999), D(1)], [percent("33.3")], "JPY") == ([D(333), D(0)], [D(333)])
    per_line, per_coupon = coupons.discount_lines([D("1.001"), D("2.002")], [percent(50)], "KWD")
    assert per_coupon == [D("1.502")] and sum(per_line) == D("1.502")  # 1.5015 -> 1.502


def test_no_lines_no_discount():
    assert coupons.discount_lines([], [percent(10), fixed(5)], "USD") == ([], [D("0.00"), D("0.00")])


def test_fixed_coupon_currency_must_match_the_invoice():
    with pytest.raises(CouponCurrencyMismatch) as caught:
        coupons.discount_lines([D(10)], [percent(10), fixed(5, "EUR")], "USD")
    assert caught.value.field == ("coupons", "1", "currency")


def test_lines_must_be_rounded_and_not_negative():
    with pytest.raises(NegativeInvoiceAmount):
        coupons.discount_lines([D("-1.00")], [percent(10)], "USD")
    with pytest.raises(ValueError):
        coupons.discount_lines([D("1.005")], [percent(10)], "USD")
    with pytest.raises(TypeError):
        coupons.discount_lines([1.0], [percent(10)], "USD")


def test_allocation_adds_up_and_breaks_ties_by_line_order():
    assert coupons.allocate_minor_units(2, [1, 1, 1]) == [1, 1, 0]
    assert coupons.allocate_minor_units(0, [0, 0]) == [0, 0]
    assert coupons.allocate_minor_units(10, [0, 5]) == [0, 10]


# --- properties -----------------------------------------------------------------------

CURRENCIES = ["USD", "JPY", "KWD"]


@st.composite
def lines_and_coupons(draw):
    currency = draw(st.sampled_from(CURRENCIES))
    places = money.currency_exponent(currency)
    amount = st.decimals(min_value=0, max_value=100_000, places=places)
    lines = draw(st.lists(amount, max_size=8))
    coupon = st.one_of(
        st.builds(percent, st.decimals(min_value=D("0.01"), max_value=100, places=2)),
        st.builds(
            fixed, st.decimals(min_value=D(1).scaleb(-places), max_value=100_000, places=places), st.just(currency)
        ),
    )
    return currency, lines, draw(st.lists(coupon, max_size=4))


@quick
@given(lines_and_coupons())
def test_discounts_add_up_never_exceed_the_subtotal_and_never_make_a_line_negative(case):
    currency, lines, applied = case
    per_line, per_coupon = coupons.discount_lines(lines, applied, currency)
    assert sum(per_line, D(0)) == sum(per_coupon, D(0)) <= sum(lines, D(0))
    assert all(0 <= discount <= line for line, discount in zip(lines, per_line, strict=True))
    assert all(0 <= total for total in per_coupon)
    assert all(money.round_minor(x, currency) == x for x in per_line + per_coupon)


@quick
@given(lines_and_coupons())
def test_each_coupons_allocation_adds_up_to_its_total(case):
    currency, lines, applied = case
    previous = [D(0)] * len(lines)
    for count in range(1, len(applied) + 1):
        per_line, per_coupon = coupons.discount_lines(lines, applied[:count], currency)
        shares = [now - before for now, before in zip(per_line, previous, strict=True)]
        assert sum(shares, D(0)) == per_coupon[-1]
        assert all(share >= 0 for share in shares)
        previous = per_line


@quick
@given(total=st.integers(0, 10**6), weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=10))
def test_allocation_is_exact_and_within_each_weight(total, weights):
    total = min(total, sum(weights))
    shares = coupons.allocate_minor_units(total, weights)
    assert sum(shares) == total
    assert all(0 <= share <= weight for share, weight in zip(shares, weights, strict=True))
