"""Revenue analytics: MRR, movements, retention, buckets (docs/analytics.md has the worked example)."""

import bisect
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import analytics, money
from domain.analytics import (
    Bucket,
    CustomerHistory,
    FeePhase,
    Granularity,
    InvoiceFact,
    MovementKind,
    PaymentFact,
    RecurringCoupon,
    SubscriptionHistory,
)
from domain.coupons import Coupon, CouponDuration, CouponKind
from domain.errors import AnalyticsRangeTooLong, InvalidAnalyticsRange
from domain.periods import Interval

quick = settings(max_examples=80, deadline=None, database=None)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def sub(started_at, *phases, trial_ends_at=None, ended_at=None):
    return SubscriptionHistory(started_at, tuple(phases), trial_ends_at=trial_ends_at, ended_at=ended_at)


def phase(starts_at, amount, interval=Interval.MONTHLY, currency="USD", ends_at=None):
    return FeePhase(starts_at, ends_at, D(amount), interval, currency)


def percent_off(percentage, duration=CouponDuration.FOREVER, periods=None):
    return Coupon("OFF", CouponKind.PERCENTAGE, percentage=D(percentage), duration=duration, duration_periods=periods)


def amount_off(amount, currency="USD", duration=CouponDuration.FOREVER, periods=None):
    return Coupon(
        "FIX", CouponKind.FIXED, amount=D(amount), currency=currency, duration=duration, duration_periods=periods
    )


# --- MRR of one subscription -------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "interval", "currency", "mrr"),
    [
        ("49.00", Interval.MONTHLY, "USD", "49.00"),
        ("10", Interval.WEEKLY, "USD", "43.33"),  # 10 x 52 / 12 = 43.333...
        ("30", Interval.WEEKLY, "USD", "130.00"),
        ("1000", Interval.WEEKLY, "JPY", "4333"),
        ("0.5", Interval.WEEKLY, "KWD", "2.167"),  # 2.1666... half away from zero
        ("90", Interval.QUARTERLY, "USD", "30.00"),
        ("100", Interval.QUARTERLY, "USD", "33.33"),
        ("1200", Interval.YEARLY, "USD", "100.00"),
        ("1000", Interval.YEARLY, "USD", "83.33"),
    ],
)
def test_fee_is_normalized_to_a_month_and_rounded_once(amount, interval, currency, mrr):
    fee = phase(utc(2026, 1, 1), amount, interval, currency)
    assert fee.monthly_fee == D(mrr)
    assert str(fee.monthly_fee) == mrr


def test_trialing_pending_and_ended_subscriptions_are_not_mrr():
    history = CustomerHistory(
        "c",
        (
            sub(
                utc(2026, 1, 10, 14),
                phase(utc(2026, 1, 10, 14), "80"),
                trial_ends_at=utc(2026, 1, 24),
                ended_at=utc(2026, 3, 5, 9),
            ),
        ),
    )
    assert history.mrr_at(utc(2026, 1, 10), "USD") == 0  # pending
    assert history.mrr_at(utc(2026, 1, 20), "USD") == 0  # trialing
    assert history.mrr_at(utc(2026, 1, 24), "USD") == D("80.00")  # trial over: active
    assert history.mrr_at(utc(2026, 3, 5, 8, 59), "USD") == D("80.00")
    assert history.mrr_at(utc(2026, 3, 5, 9), "USD") == 0  # terminated
    assert history.first_positive_at("USD") == utc(2026, 1, 24)


def test_the_plan_phase_in_effect_gives_the_fee():
    upgraded = utc(2026, 2, 10, 12)
    history = CustomerHistory(
        "c",
        (
            sub(
                utc(2026, 1, 1),
                phase(utc(2026, 1, 1), "100", ends_at=upgraded),
                phase(upgraded, "1800", Interval.YEARLY),
            ),
        ),
    )
    assert history.mrr_at(utc(2026, 2, 10, 11), "USD") == D("100.00")
    assert history.mrr_at(upgraded, "USD") == D("150.00")


def test_customer_mrr_sums_rounded_subscription_fees_per_currency():
    history = CustomerHistory(
        "c",
        (
            sub(utc(2026, 1, 1), phase(utc(2026, 1, 1), "10", Interval.WEEKLY)),
            sub(utc(2026, 1, 1), phase(utc(2026, 1, 1), "10", Interval.WEEKLY)),
            sub(utc(2026, 1, 1), phase(utc(2026, 1, 1), "1000", Interval.MONTHLY, "JPY")),
        ),
    )
    assert history.mrr_at(utc(2026, 2, 1), "USD") == D("86.66")  # 43.33 + 43.33, not 86.67
    assert history.mrr_at(utc(2026, 2, 1), "JPY") == D("1000")
    assert history.mrr_at(utc(2026, 2, 1), "EUR") == 0
    assert history.currencies == {"USD", "JPY"}


def test_recurring_coupons_lower_mrr_while_they_last_and_once_coupons_never():
    monthly = sub(utc(2026, 1, 1), phase(utc(2026, 1, 1), "99.99"))
    coupons = (
        RecurringCoupon(amount_off("50", duration=CouponDuration.ONCE), utc(2026, 1, 1)),
        RecurringCoupon(percent_off("25", CouponDuration.REPEATING, 3), utc(2026, 2, 1), utc(2026, 5, 1)),
        RecurringCoupon(amount_off("10"), utc(2026, 3, 1)),
    )
    history = CustomerHistory("c", (monthly,), coupons)
    assert history.mrr_at(utc(2026, 1, 15), "USD") == D("99.99")  # the ONCE coupon is not MRR
    assert history.mrr_at(utc(2026, 2, 15), "USD") == D("74.99")  # 99.99 - 25.00 (24.9975 rounded)
    assert history.mrr_at(utc(2026, 3, 15), "USD") == D("64.99")  # then 10 off what is left
    assert history.mrr_at(utc(2026, 5, 1), "USD") == D("89.99")  # the repeating one is used up


def test_a_fixed_coupon_counts_once_per_invoice_of_the_shortest_interval_and_never_below_zero():
    weekly = sub(utc(2026, 1, 1), phase(utc(2026, 1, 1), "30", Interval.WEEKLY))
    yearly = sub(utc(2026, 1, 1), phase(utc(2026, 1, 1), "1200", Interval.YEARLY))
    # 6 off each weekly invoice = 6 x 52 / 12 = 26.00 a month.
    history = CustomerHistory("c", (weekly, yearly), (RecurringCoupon(amount_off("6"), utc(2026, 1, 1)),))
    assert history.mrr_at(utc(2026, 2, 1), "USD") == D("130.00") + D("100.00") - D("26.00")
    yearly_coupon = CustomerHistory("d", (yearly,), (RecurringCoupon(amount_off("500"), utc(2026, 1, 1)),))
    assert yearly_coupon.mrr_at(utc(2026, 2, 1), "USD") == D("58.33")  # (1200 - 500) / 12
    capped = CustomerHistory("d", (yearly,), (RecurringCoupon(amount_off("1500"), utc(2026, 1, 1)),))
    assert capped.mrr_at(utc(2026, 2, 1), "USD") == 0
    assert capped.first_positive_at("USD") is None
    other_currency = CustomerHistory("e", (yearly,), (RecurringCoupon(amount_off("5", "EUR"), utc(2026, 1, 1)),))
    assert other_currency.mrr_at(utc(2026, 2, 1), "USD") == D("100.00")


# --- movements ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "had_before", "expected"),
    [
        ("0", "0", False, None),
        ("10", "10", False, None),
        ("0", "10", False, (MovementKind.NEW, "10")),
        ("0", "10", True, (MovementKind.REACTIVATION, "10")),
        ("10", "25", True, (MovementKind.EXPANSION, "15")),
        ("25", "10", True, (MovementKind.CONTRACTION, "15")),
        ("25", "0", True, (MovementKind.CHURNED, "25")),
    ],
)
def test_classify(start, end, had_before, expected):
    moved = analytics.classify(D(start), D(end), had_before)
    assert moved == (None if expected is None else (expected[0], D(expected[1])))


def example_tenant():
    """docs/analytics.md's worked example."""
    return [
        CustomerHistory(  # A: 100 a month, upgraded to 150 on Feb 10
            "A",
            (
                sub(
                    utc(2025, 12, 15),
                    phase(utc(2025, 12, 15), "100", ends_at=utc(2026, 2, 10)),
                    phase(utc(2026, 2, 10), "150"),
                ),
            ),
        ),
        CustomerHistory("B", (sub(utc(2026, 1, 5), phase(utc(2026, 1, 5), "1200", Interval.YEARLY)),)),
        CustomerHistory(  # C: 30 a week, terminated on Feb 20
            "C", (sub(utc(2025, 12, 1), phase(utc(2025, 12, 1), "30", Interval.WEEKLY), ended_at=utc(2026, 2, 20)),)
        ),
        CustomerHistory(  # D: 80 a month after a 14-day trial begun on Jan 20
            "D", (sub(utc(2026, 1, 20), phase(utc(2026, 1, 20), "80"), trial_ends_at=utc(2026, 2, 3)),)
        ),
        CustomerHistory(  # E: 90 a quarter, 20 % off forever from Mar 5
            "E",
            (sub(utc(2025, 11, 1), phase(utc(2025, 11, 1), "90", Interval.QUARTERLY)),),
            (RecurringCoupon(percent_off("20"), utc(2026, 3, 5)),),
        ),
        CustomerHistory(  # F: 50 a month from Jun to Oct 2025, back on Mar 10
            "F",
            (
                sub(utc(2025, 6, 1), phase(utc(2025, 6, 1), "50"), ended_at=utc(2025, 10, 1)),
                sub(utc(2026, 3, 10), phase(utc(2026, 3, 10), "50")),
            ),
        ),
    ]


def test_worked_example_month_by_month():
    points = analytics.mrr_points(
        example_tenant(), "USD", date(2026, 1, 1), date(2026, 3, 31), Granularity.MONTH, "UTC"
    )
    assert [(p.bucket.first_day, p.bucket.last_day) for p in points] == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2026, 3, 31)),
    ]
    january, february, march = (p.movements for p in points)
    assert (january.start_mrr, january.end_mrr, january.new) == (D("260.00"), D("360.00"), D("100.00"))
    assert (january.active_customers, january.new_customers) == (4, 1)
    assert points[0].arpu == D("90.00")
    assert points[0].net_revenue_retention == points[0].gross_revenue_retention == D("100.00")

    assert february.start_mrr == february.end_mrr == D("360.00")
    assert (february.new, february.expansion, february.churned) == (D("80.00"), D("50.00"), D("130.00"))
    assert (february.new_customers, february.churned_customers, february.active_customers) == (1, 1, 4)
    assert points[1].net_revenue_retention == D("77.78")  # 280 / 360
    assert points[1].gross_revenue_retention == D("63.89")  # 230 / 360

    assert march.end_mrr == D("404.00")
    assert (march.contraction, march.reactivation, march.new) == (D("6.00"), D("50.00"), D("0"))
    assert (march.reactivated_customers, march.new_customers, march.active_customers) == (1, 0, 5)
    assert points[2].arpu == D("80.80")
    assert points[2].arr == D("4848.00")
    assert points[2].net_revenue_retention == points[2].gross_revenue_retention == D("98.33")  # 354 / 360


def test_worked_example_over_the_whole_range():
    moved = analytics.movements(example_tenant(), "USD", utc(2026, 1, 1), utc(2026, 4, 1))
    assert (moved.start_mrr, moved.end_mrr) == (D("260.00"), D("404.00"))
    assert (moved.new, moved.expansion, moved.reactivation) == (D("180.00"), D("50.00"), D("50.00"))
    assert (moved.contraction, moved.churned) == (D("6.00"), D("130.00"))
    assert analytics.net_revenue_retention(moved) == D("66.92")  # (260 + 50 - 6 - 130) / 260 = 174 / 260
    assert analytics.gross_revenue_retention(moved) == D("47.69")  # 124 / 260


def test_nothing_is_forecast_after_as_of():
    # C's termination on Feb 20 is known, but on Feb 15 February shows C's MRR still there.
    points = analytics.mrr_points(
        example_tenant(), "USD", date(2026, 2, 1), date(2026, 3, 31), Granularity.MONTH, "UTC", as_of=utc(2026, 2, 15)
    )
    february, march = (p.movements for p in points)
    assert (february.end_mrr, february.expansion, february.new, february.churned) == (
        D("490.00"),  # A 150 + B 100 + C 130 + D 80 + E 30
        D("50.00"),
        D("80.00"),
        0,
    )
    assert march.start_mrr == march.end_mrr == D("490.00")
    assert (march.new, march.churned, march.contraction, march.reactivation) == (0, 0, 0, 0)


def test_retention_is_none_without_starting_mrr_and_arpu_is_zero_without_customers():
    moved = analytics.movements([], "JPY", utc(2026, 1, 1), utc(2026, 2, 1))
    assert analytics.net_revenue_retention(moved) is None
    assert analytics.gross_revenue_retention(moved) is None
    assert str(analytics.arpu(moved.end_mrr, 0, "JPY")) == "0"


def test_a_customer_in_another_currency_is_not_counted():
    points = analytics.mrr_points(
        example_tenant(), "EUR", date(2026, 1, 1), date(2026, 1, 31), Granularity.MONTH, "UTC"
    )
    assert points[0].mrr == 0 and points[0].movements.active_customers == 0


# --- buckets -------------------------------------------------------------------------------


def test_month_buckets_are_clipped_to_the_range():
    assert analytics.buckets(date(2026, 1, 15), date(2026, 3, 10), Granularity.MONTH) == [
        Bucket(date(2026, 1, 15), date(2026, 1, 31)),
        Bucket(date(2026, 2, 1), date(2026, 2, 28)),
        Bucket(date(2026, 3, 1), date(2026, 3, 10)),
    ]


def test_week_buckets_start_on_monday():
    # 2026-01-01 is a Thursday.
    assert analytics.buckets(date(2026, 1, 1), date(2026, 1, 14), Granularity.WEEK) == [
        Bucket(date(2026, 1, 1), date(2026, 1, 4)),
        Bucket(date(2026, 1, 5), date(2026, 1, 11)),
        Bucket(date(2026, 1, 12), date(2026, 1, 14)),
    ]


def test_day_buckets_are_local_days_whatever_dst_does():
    (spring,) = analytics.buckets(date(2026, 3, 29), date(2026, 3, 29), Granularity.DAY)
    assert spring.starts_at("Europe/Paris") == utc(2026, 3, 28, 23)
    assert spring.ends_at("Europe/Paris") - spring.starts_at("Europe/Paris") == timedelta(hours=23)


def test_the_time_zone_moves_bucket_boundaries():
    # C ends at 2026-02-20 00:00 UTC: the end of Feb 19 in UTC, 19:00 on Feb 19 in New York,
    # 09:00 on Feb 20 in Tokyo.
    tenant = example_tenant()
    in_utc = analytics.mrr_points(tenant, "USD", date(2026, 2, 19), date(2026, 2, 20), Granularity.DAY, "UTC")
    in_new_york = analytics.mrr_points(
        tenant, "USD", date(2026, 2, 19), date(2026, 2, 20), Granularity.DAY, "America/New_York"
    )
    assert [p.movements.churned for p in in_utc] == [D("130.00"), 0]
    assert [p.movements.churned for p in in_new_york] == [D("130.00"), 0]
    in_tokyo = analytics.mrr_points(tenant, "USD", date(2026, 2, 19), date(2026, 2, 20), Granularity.DAY, "Asia/Tokyo")
    assert [p.movements.churned for p in in_tokyo] == [0, D("130.00")]


def test_a_range_ending_before_it_starts_or_over_five_years_is_refused():
    with pytest.raises(InvalidAnalyticsRange) as error:
        analytics.buckets(date(2026, 2, 1), date(2026, 1, 31), Granularity.DAY)
    assert (error.value.code, error.value.field) == ("INVALID_DATE_RANGE", ("to",))
    with pytest.raises(AnalyticsRangeTooLong) as error:
        analytics.buckets(date(2021, 1, 1), date(2026, 1, 1), Granularity.MONTH)
    assert error.value.code == "DATE_RANGE_TOO_LONG"
    assert len(analytics.buckets(date(2021, 1, 1), date(2025, 12, 31), Granularity.MONTH)) == 60
    with pytest.raises(InvalidAnalyticsRange) as error:
        analytics.buckets(date(9999, 12, 1), date(9999, 12, 31), Granularity.MONTH)
    assert error.value.field == ("to",)
    with pytest.raises(InvalidAnalyticsRange) as error:
        analytics.buckets(date(1, 1, 1), date(1, 1, 2), Granularity.DAY)
    assert error.value.field == ("from",)


# --- invoiced, collected, overdue --------------------------------------------------------


def test_cash_figures_of_a_bucket():
    invoices = [
        InvoiceFact("USD", utc(2026, 1, 3), D("120.00"), D("120.00"), due_at=utc(2026, 1, 17), usage_amount=D("20.00")),
        InvoiceFact(
            "USD", utc(2026, 1, 10), D("50.00"), D("50.00"), due_at=utc(2026, 1, 24), closed_at=utc(2026, 1, 20)
        ),
        InvoiceFact("USD", utc(2026, 1, 30), D("70.00"), D("70.00"), due_at=utc(2026, 2, 13)),  # not due yet
        InvoiceFact("USD", utc(2025, 12, 1), D("40.00"), D("40.00"), due_at=utc(2025, 12, 15)),  # older, overdue
        InvoiceFact("EUR", utc(2026, 1, 3), D("999.00"), D("999.00"), due_at=utc(2026, 1, 4)),
    ]
    payments = [
        PaymentFact("USD", utc(2026, 1, 20), D("50.00")),
        PaymentFact("USD", utc(2026, 1, 25), D("-5.00")),
        PaymentFact("USD", utc(2026, 2, 1), D("120.00")),  # next bucket
        PaymentFact("EUR", utc(2026, 1, 25), D("10.00")),
    ]
    figures = analytics.cash_figures(invoices, payments, "USD", utc(2026, 1, 1), utc(2026, 2, 1))
    assert figures == analytics.CashFigures(
        invoiced=D("240.00"), collected=D("45.00"), overdue=D("160.00"), usage_revenue=D("20.00")
    )


# --- properties ----------------------------------------------------------------------------

BASE = utc(2025, 1, 1)
CURRENCIES = ("USD", "JPY", "KWD")
hours = st.integers(min_value=0, max_value=24 * 500)
amounts = st.decimals(min_value=0, max_value=5000, places=2)


@st.composite
def subscriptions(draw, currency):
    start = BASE + timedelta(hours=draw(hours))
    trial = draw(st.none() | st.integers(min_value=1, max_value=24 * 40))
    trial_ends_at = None if trial is None else start + timedelta(hours=trial)
    length = draw(st.none() | st.integers(min_value=1, max_value=24 * 400))
    ended_at = None if length is None else start + timedelta(hours=length)
    changes = sorted(draw(st.lists(st.integers(min_value=1, max_value=24 * 300), max_size=3, unique=True)))
    bounds = [start] + [start + timedelta(hours=h) for h in changes]
    phases = tuple(
        FeePhase(a, b, draw(amounts), draw(st.sampled_from(Interval)), currency)
        for a, b in zip(bounds, [*bounds[1:], None], strict=True)
    )
    return SubscriptionHistory(start, phases, trial_ends_at=trial_ends_at, ended_at=ended_at)


@st.composite
def coupons(draw, currency):
    start = BASE + timedelta(hours=draw(hours))
    ends_at = draw(st.none() | st.builds(lambda h: start + timedelta(hours=h), st.integers(1, 24 * 200)))
    if draw(st.booleans()):
        coupon = percent_off(draw(st.decimals(min_value="0.01", max_value=100, places=2)))
    else:
        coupon = amount_off(draw(st.integers(min_value=1, max_value=500)), currency)
    return RecurringCoupon(coupon, start, ends_at)


@st.composite
def tenants(draw):
    customers = []
    for index in range(draw(st.integers(min_value=0, max_value=8))):
        currency = draw(st.sampled_from(CURRENCIES))
        subs = tuple(draw(st.lists(subscriptions(currency), min_size=1, max_size=3)))
        applied = tuple(draw(st.lists(coupons(currency), max_size=2)))
        customers.append(CustomerHistory(f"c{index}", subs, applied))
    return customers


ranges = st.tuples(
    st.dates(min_value=date(2024, 12, 1), max_value=date(2026, 6, 30)),
    st.integers(min_value=0, max_value=500),
    st.sampled_from(Granularity),
    st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]),
)


as_ofs = st.none() | st.builds(lambda h: BASE + timedelta(hours=h), st.integers(min_value=0, max_value=24 * 600))


@quick
@given(tenants(), ranges, as_ofs)
def test_movements_add_up_per_currency_and_bucket(customers, query, as_of):
    first_day, days, granularity, tz = query
    for currency in CURRENCIES:
        last_day = first_day + timedelta(days=days)
        points = analytics.mrr_points(customers, currency, first_day, last_day, granularity, tz, as_of)
        for point in points:
            m = point.movements
            assert m.start_mrr + m.new + m.expansion + m.reactivation - m.contraction - m.churned == m.end_mrr
            assert min(m.new, m.expansion, m.reactivation, m.contraction, m.churned, m.start_mrr) >= 0
            assert point.arr == 12 * point.mrr
            assert m.active_customers <= len(customers)
        for before, after in pairwise(points):
            assert before.movements.end_mrr == after.movements.start_mrr


@quick
@given(ranges)
def test_buckets_tile_the_range(query):
    first_day, days, granularity, tz = query
    last_day = first_day + timedelta(days=days)
    found = analytics.buckets(first_day, last_day, granularity)
    assert found[0].first_day == first_day and found[-1].last_day == last_day
    for bucket in found:
        assert bucket.first_day <= bucket.last_day
        assert bucket.starts_at(tz) < bucket.ends_at(tz)
    for before, after in pairwise(found):
        assert before.last_day + timedelta(days=1) == after.first_day
        assert before.ends_at(tz) == after.starts_at(tz)
        if granularity is Granularity.WEEK:
            assert after.first_day.weekday() == 0
        if granularity is Granularity.MONTH:
            assert after.first_day.day == 1


@quick
@given(tenants(), ranges)
def test_retention_bounds(customers, query):
    first_day, days, granularity, tz = query
    for currency in CURRENCIES:
        points = analytics.mrr_points(customers, currency, first_day, first_day + timedelta(days=days), granularity, tz)
        whole = analytics.movements(customers, currency, points[0].bucket.starts_at(tz), points[-1].bucket.ends_at(tz))
        for moved in [point.movements for point in points] + [whole]:
            nrr, grr = analytics.net_revenue_retention(moved), analytics.gross_revenue_retention(moved)
            if moved.start_mrr == 0:
                assert nrr is None and grr is None
                continue
            assert D(0) <= grr <= D(100)
            assert grr <= nrr


@quick
@given(tenants(), ranges)
def test_a_customer_is_new_once_and_mrr_is_never_negative(customers, query):
    first_day, days, granularity, tz = query
    last_day = first_day + timedelta(days=days)
    found = analytics.buckets(first_day, last_day, granularity)
    for customer in customers:
        for currency in CURRENCIES:
            values = [customer.mrr_at(found[0].starts_at(tz), currency)]
            values += [customer.mrr_at(bucket.ends_at(tz), currency) for bucket in found]
            assert all(value >= 0 for value in values)
            news = sum(
                analytics.movements([customer], currency, b.starts_at(tz), b.ends_at(tz)).new_customers for b in found
            )
            assert news <= 1


moments = st.builds(lambda h: BASE + timedelta(hours=h), st.integers(min_value=0, max_value=24 * 500))


@st.composite
def invoice_facts(draw):
    finalized_at = draw(moments)
    due_at = draw(st.none() | st.builds(lambda h: finalized_at + timedelta(hours=h), st.integers(0, 24 * 40)))
    closed_at = draw(st.none() | st.builds(lambda h: finalized_at + timedelta(hours=h), st.integers(0, 24 * 90)))
    total = draw(amounts)
    return InvoiceFact(
        draw(st.sampled_from(CURRENCIES[:2])),
        finalized_at,
        total,
        draw(st.decimals(min_value=0, max_value=total, places=2)),
        due_at=due_at,
        closed_at=closed_at,
        voided=draw(st.booleans()),
        usage_amount=draw(st.decimals(min_value=0, max_value=total, places=2)),
    )


payment_facts = st.builds(
    PaymentFact, st.sampled_from(CURRENCIES[:2]), moments, st.decimals(min_value=-500, max_value=5000, places=2)
)


@quick
@given(st.lists(invoice_facts(), max_size=30), st.lists(payment_facts, max_size=30), ranges, st.none() | moments)
def test_cash_points_in_one_pass_are_the_cash_figures_of_each_bucket(invoices, payments, query, as_of):
    first_day, days, granularity, tz = query
    found = analytics.buckets(first_day, first_day + timedelta(days=days), granularity)
    windows = [analytics.bucket_window(bucket, tz, as_of) for bucket in found]
    for currency in CURRENCIES[:2]:
        expected = [analytics.cash_figures(invoices, payments, currency, *window) for window in windows]
        assert analytics.cash_points(invoices, payments, currency, windows) == expected


r = money.round_minor


def _width_bucket(at, thresholds):
    """PostgreSQL's width_bucket(x, thresholds): how many thresholds are at or before x."""
    return bisect.bisect_right(thresholds, at)


def _sums_as_sql_adds_them(invoices, payments, currency, windows):
    """`CashSums` the way db/repositories/analytics.py CASH_SUMS adds them up, in minor units."""
    t = analytics.window_thresholds(windows)
    e, n = t[1:], len(windows)
    invoiced, usage, collected, overdue = [0] * n, [0] * n, [0] * n, [0] * n
    minor = lambda amount: money.to_minor_units(amount, currency)  # noqa: E731
    for i in (i for i in invoices if i.currency == currency):
        if not i.voided and t[0] <= i.finalized_at < t[n]:
            k = _width_bucket(i.finalized_at, t) - 1
            invoiced[k] += minor(i.total)
            usage[k] += minor(i.usage_amount)
        if i.overdue_from is not None and i.overdue_from < e[-1]:
            first = _width_bucket(i.overdue_from, e)
            last = n if i.closed_at is None else _width_bucket(i.closed_at, e)
            if first < last:
                overdue[first] += minor(i.amount_due)
                if last < n:
                    overdue[last] -= minor(i.amount_due)
    for p in (p for p in payments if p.currency == currency and t[0] <= p.received_at < t[n]):
        collected[_width_bucket(p.received_at, t) - 1] += minor(p.amount)
    return analytics.CashSums(invoiced, usage, collected, overdue)


@quick
@given(st.lists(invoice_facts(), max_size=30), st.lists(payment_facts, max_size=30), ranges, st.none() | moments)
def test_cash_figures_from_sums_in_minor_units_are_the_cash_figures(invoices, payments, query, as_of):
    first_day, days, granularity, tz = query
    found = analytics.buckets(first_day, first_day + timedelta(days=days), granularity)
    windows = [analytics.bucket_window(bucket, tz, as_of) for bucket in found]
    # Stored amounts are whole minor units of their currency (JPY has none).
    invoices = [
        replace(
            i,
            total=r(i.total, i.currency),
            amount_due=r(i.amount_due, i.currency),
            usage_amount=r(i.usage_amount, i.currency),
        )
        for i in invoices
    ]
    payments = [replace(p, amount=r(p.amount, p.currency)) for p in payments]
    for currency in CURRENCIES[:2]:
        sums = _sums_as_sql_adds_them(invoices, payments, currency, windows)
        assert analytics.cash_points_from_sums(sums, currency) == analytics.cash_points(
            invoices, payments, currency, windows
        )


def test_window_thresholds_need_contiguous_windows():
    a, b, c = utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1)
    assert analytics.window_thresholds([(a, b), (b, c), (c, c)]) == [a, b, c, c]
    with pytest.raises(ValueError):
        analytics.window_thresholds([(a, b), (c, c)])
    with pytest.raises(ValueError):
        analytics.window_thresholds([])


@quick
@given(tenants(), st.lists(invoice_facts(), max_size=10), ranges, moments)
def test_figures_do_not_change_before_valid_until(customers, invoices, query, as_of):
    first_day, days, granularity, tz = query
    found = analytics.buckets(first_day, first_day + timedelta(days=days), granularity)
    # The data as it can stand at `as_of`: nothing finalized or closed later.
    invoices = [i for i in invoices if i.finalized_at <= as_of and (i.closed_at is None or i.closed_at <= as_of)]
    until = analytics.valid_until(customers, invoices, found, tz, as_of)
    later = as_of + timedelta(hours=1) if until is None else as_of + (until - as_of) / 2
    if until is not None and later == as_of:
        return
    for currency in CURRENCIES:
        now = analytics.mrr_points(customers, currency, found[0].first_day, found[-1].last_day, granularity, tz, as_of)
        then = analytics.mrr_points(customers, currency, found[0].first_day, found[-1].last_day, granularity, tz, later)
        assert [p.movements for p in now] == [p.movements for p in then]
        cash_now = analytics.cash_points(invoices, [], currency, [analytics.bucket_window(b, tz, as_of) for b in found])
        cash_then = analytics.cash_points(
            invoices, [], currency, [analytics.bucket_window(b, tz, later) for b in found]
        )
        assert cash_now == cash_then


def test_valid_until_is_the_next_change_point_due_date_or_bucket_boundary():
    tenant = example_tenant()
    found = analytics.buckets(date(2026, 1, 1), date(2026, 3, 31), Granularity.MONTH)
    assert analytics.valid_until(tenant, [], found, "UTC", utc(2026, 2, 12)) == utc(2026, 2, 20)  # C ends
    assert analytics.valid_until(tenant, [], found, "UTC", utc(2026, 2, 25)) == utc(2026, 3, 1)  # a boundary
    open_invoice = InvoiceFact("USD", utc(2026, 2, 1), D("10"), D("10"), due_at=utc(2026, 2, 15))
    assert analytics.valid_until(tenant, [open_invoice], found, "UTC", utc(2026, 2, 12)) == utc(2026, 2, 15)
    assert analytics.valid_until([], [], found, "UTC", utc(2026, 4, 2)) is None


@quick
@given(tenants(), ranges, as_ofs)
def test_movement_series_is_each_customers_start_and_end_classified(customers, query, as_of):
    first_day, days, granularity, tz = query
    found = analytics.buckets(first_day, first_day + timedelta(days=days), granularity)
    windows = [analytics.bucket_window(bucket, tz, as_of) for bucket in found]
    for currency in CURRENCIES:
        series = analytics.movement_series(customers, currency, windows)
        for (starts_at, ends_at), moved in zip(windows, series, strict=True):
            sums = dict.fromkeys(MovementKind, D(0))
            counted = dict.fromkeys(MovementKind, 0)
            for customer in customers:
                start, end = customer.mrr_at(starts_at, currency), customer.mrr_at(ends_at, currency)
                # had MRR at some earlier instant: every change here falls on a whole hour after BASE
                had = (
                    start == 0
                    and end > 0
                    and any(
                        customer.mrr_at(BASE + timedelta(hours=h), currency) > 0
                        for h in range(int((starts_at - BASE).total_seconds() // 3600) + 1)
                        if BASE + timedelta(hours=h) < starts_at
                    )
                )
                if (found_move := analytics.classify(start, end, had)) is not None:
                    sums[found_move[0]] += found_move[1]
                    counted[found_move[0]] += 1
            assert (moved.new, moved.expansion, moved.contraction, moved.churned, moved.reactivation) == tuple(
                sums[kind] for kind in MovementKind
            )
            assert (moved.new_customers, moved.churned_customers, moved.reactivated_customers) == (
                counted[MovementKind.NEW],
                counted[MovementKind.CHURNED],
                counted[MovementKind.REACTIVATION],
            )
            assert moved.start_mrr == sum((c.mrr_at(starts_at, currency) for c in customers), D(0))
            assert moved.end_mrr == sum((c.mrr_at(ends_at, currency) for c in customers), D(0))
            assert moved.active_customers == sum(1 for c in customers if c.mrr_at(ends_at, currency) > 0)
