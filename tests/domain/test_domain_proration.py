from datetime import UTC, datetime
from decimal import Decimal as D
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import money, periods, proration
from domain.errors import InvalidProrationDays, PlanChangeOutsidePeriod
from domain.periods import BillingTime, Interval, Period

quick = settings(max_examples=80, deadline=None, database=None)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


JANUARY = Period(utc(2024, 1, 1), utc(2024, 2, 1))


def test_prorated_amount_is_fee_times_days_billed_over_days_in_period():
    assert proration.prorated_amount(D(31), 17, 31) == 17
    assert proration.prorated_amount(D(100), 10, 30) == D(100) / 3
    assert proration.prorated_amount(D("49.99"), 31, 31) == D("49.99")
    assert proration.prorated_amount(D("49.99"), 0, 31) == 0


@pytest.mark.parametrize(("billed", "total"), [(-1, 31), (32, 31), (0, 0)])
def test_prorated_amount_rejects_impossible_days(billed, total):
    with pytest.raises(InvalidProrationDays):
        proration.prorated_amount(D(10), billed, total)


def test_calendar_first_month_is_prorated_over_the_full_month():
    anchor = utc(2024, 1, 15, 16)
    first = periods.first_period(anchor, Interval.MONTHLY, BillingTime.CALENDAR, "UTC")
    full = periods.full_period_containing(anchor, Interval.MONTHLY, BillingTime.CALENDAR, anchor, "UTC")
    assert proration.period_fee(D(31), first, full, "UTC", service_start=anchor) == 17


def test_proration_counts_days_in_the_customers_timezone():
    # 23:30 UTC on Jan 14 is already Jan 15 in Berlin: 17 days are billed, not 18.
    started = utc(2024, 1, 14, 23, 30)
    berlin = periods.zone("Europe/Berlin")
    january = Period(datetime(2024, 1, 1, tzinfo=berlin), datetime(2024, 2, 1, tzinfo=berlin))
    assert proration.billable_days(january, started, None, None, "Europe/Berlin") == 17
    assert proration.billable_days(JANUARY, started, None, None, "UTC") == 18


def test_trial_days_are_not_billed():
    started = utc(2024, 1, 1, 9)
    trial_end = proration.trial_end(started, 14, "UTC")
    assert trial_end == utc(2024, 1, 15)
    assert proration.billable_days(JANUARY, started, None, trial_end, "UTC") == 17
    assert proration.trial_end(started, 0, "UTC") is None
    assert proration.billable_days(JANUARY, started, None, utc(2024, 3, 1), "UTC") == 0


def test_termination_bills_the_termination_day():
    terminated = utc(2024, 1, 10, 15)
    ends = proration.end_of_local_day(terminated, "UTC")
    assert ends == utc(2024, 1, 11)
    assert proration.billable_days(JANUARY, None, ends, None, "UTC") == 10


def test_upgrade_bills_old_plan_to_the_day_before_and_new_plan_from_the_change_day():
    change = utc(2024, 1, 10, 15)
    assert proration.plan_change_effective(True, change, JANUARY) == change
    old_days = proration.billable_days(JANUARY, None, change, None, "UTC")
    new_days = proration.billable_days(JANUARY, change, None, None, "UTC")
    assert (old_days, new_days) == (9, 22)
    assert proration.unused_credit(D(31), JANUARY, change, "UTC") == 22


def test_downgrade_applies_at_period_end():
    assert proration.plan_change_effective(False, utc(2024, 1, 10), JANUARY) == utc(2024, 2, 1)
    with pytest.raises(PlanChangeOutsidePeriod):
        proration.plan_change_effective(False, utc(2024, 2, 10), JANUARY)


def test_upgrade_means_costing_strictly_more_per_year():
    monthly, yearly, weekly = Interval.MONTHLY, Interval.YEARLY, Interval.WEEKLY
    assert proration.annualized_price(D(100), monthly) == 1200
    assert proration.annualized_price(D(25), weekly) == 1300
    assert proration.annualized_price(D(300), Interval.QUARTERLY) == 1200
    assert not proration.is_upgrade(D(100), monthly, D(1100), yearly)  # cheaper per year
    assert proration.is_upgrade(D(100), monthly, D(25), weekly)
    assert not proration.is_upgrade(D(100), monthly, D(1200), yearly)  # same price


def test_true_up_lifts_fees_to_the_minimum_commitment():
    assert proration.true_up(D(500), D("320.40")) == D("179.60")
    assert proration.true_up(D(500), D(800)) == 0
    assert proration.true_up(D(0), D(0)) == 0


@quick
@given(
    fee=st.decimals(min_value=0, max_value=100_000, places=2),
    cuts=st.lists(st.integers(1, 30), max_size=6, unique=True),
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_prorated_pieces_sum_to_the_full_fee_within_a_minor_unit_per_piece(fee, cuts, currency):
    edges = [0, *sorted(cuts), 31]
    pieces = [money.round_minor(proration.prorated_amount(fee, b - a, 31), currency) for a, b in pairwise(edges)]
    unit = D(1).scaleb(-money.currency_exponent(currency))
    assert abs(sum(pieces) - money.round_minor(fee, currency)) <= unit * len(pieces)


@quick
@given(
    change_day=st.integers(0, 30),
    hour=st.integers(0, 23),
    tz=st.sampled_from(["UTC", "America/Los_Angeles", "Asia/Tokyo"]),
)
def test_old_and_new_plan_days_cover_the_period_exactly_once(change_day, hour, tz):
    local = periods.zone(tz)
    period = Period(datetime(2024, 3, 1, tzinfo=local), datetime(2024, 4, 1, tzinfo=local))
    change = datetime(2024, 3, 1 + change_day, hour, tzinfo=local)
    old = proration.billable_days(period, None, change, None, tz)
    new = proration.billable_days(period, change, None, None, tz)
    assert old + new == periods.days_in(period, tz) == 31
    assert old == change_day
