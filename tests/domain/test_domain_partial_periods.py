"""Partial periods: one rule (measure the part covered, divide by the full billing period) for fees,
charge minimums, minimum commitments, weighted sums and prorated charges, checked against Lago's published
vectors (getlago/lago-api spec/), with the arithmetic next to each figure, and by properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import aggregation, invoicing, money, pricing, proration
from domain.aggregation import Aggregation, UsageEvent
from domain.errors import InvalidPeriod
from domain.periods import Period

quick = settings(max_examples=80, deadline=None, database=None)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def month(year: int, number: int) -> Period:
    return Period(utc(year, number, 1), utc(year + number // 12, number % 12 + 1, 1))


def events(year: int, number: int, changes: list[tuple[int, int]], field: str = "amount", hour: int = 0):
    return [
        UsageEvent(utc(year, number, day, hour), {field: D(value)}, f"t{index}")
        for index, (day, value) in enumerate(changes)
    ]


def cents(amount: D) -> D:
    return money.round_minor(amount, "USD")


THREE_RANGES = (
    pricing.GraduatedRange(D(0), D(5), D(10), D(100)),
    pricing.GraduatedRange(D(6), D(15), D(5), D(50)),
    pricing.GraduatedRange(D(16), None, D(2), D(0)),
)
SEPTEMBER = month(2023, 9)
# Lago prorated_graduated_spec.rb, "three ranges and one overflow case": a recurring SUM, each event at midnight
OVERFLOW_CASE = [(10, 2), (16, 5), (20, -6), (25, 10), (26, 4), (30, 60)]


def levels(window: Period, changes, full_days: int, carried: int = 0, until: datetime | None = None, **kw):
    year, number = window.start.year, window.start.month
    return aggregation.daily_levels(
        Aggregation.SUM,
        events(year, number, changes, **kw),
        "amount",
        window,
        full_days,
        "UTC",
        carried_value=D(carried),
        days_until=until,
    )


# --- (a) a charge minimum in a partial period ----------------------------------------------------------------


def test_a_charge_minimum_is_prorated_like_the_fee_lago_true_up_vector():
    # Lago spec/services/fees/create_true_up_service_spec.rb "when prorated": charges Aug 1-15 of 31 days, a
    # 10.00 minimum and 2.00 of usage: 10.00 x 15/31 - 2.00 = 2.8387… -> 2.84 (was 10.00 - 2.00 = 8.00).
    august = month(2022, 8)
    share = proration.period_share(august, august, "UTC", august.start, utc(2022, 8, 16))
    assert (share.days_billed, share.days_in_period) == (15, 31)
    true_up = invoicing.charge_minimum_true_up(D(10), D(2), share)
    assert true_up == D(10) * 15 / 31 - 2
    assert cents(true_up) == D("2.84")
    # a whole period keeps the whole minimum: 10.00 - 7.00 = 3.00 (the same spec's unprorated case)
    assert invoicing.charge_minimum_true_up(D(10), D(7), proration.period_share(august, august, "UTC")) == 3
    assert invoicing.charge_minimum_true_up(D(10), D(7)) == 3


def test_the_minimum_commitment_takes_the_same_share_exactly():
    # 62.00 over 17 of 31 days is exactly 34.00 (a fraction 17/31 as a decimal would leave 33.99999…)
    january = month(2024, 1)
    share = proration.period_share(january, january, "UTC", utc(2024, 1, 15))
    assert invoicing.minimum_commitment_true_up(D(62), share, D(17)) == D(17)


# --- (b) a weighted sum in a partial period -------------------------------------------------------------------


def test_a_weighted_sum_in_a_first_partial_period_averages_over_the_full_period():
    # Lago spec/scenarios/billable_metrics/weighted_sum_spec.rb: a recurring weighted sum, subscribed (calendar)
    # on March 5; 2,500 from March 5: 2,500 x 27/31 = 2,177.4193… unit-periods, 2,177.42 at 1.00 each.
    march = month(2023, 3)
    window = Period(utc(2023, 3, 5), march.end)
    value = aggregation.aggregate(
        Aggregation.WEIGHTED_SUM,
        events(2023, 3, [(5, 2500)], "value"),
        "value",
        window,
        carried_value=D(0),
        full_period=march,
    )
    assert value == D(2500) * 27 / 31
    assert cents(value) == D("2177.42")
    # averaged over the part covered, as before, it was the full 2,500: a month of storage billed for 27 days
    assert (
        aggregation.aggregate(
            Aggregation.WEIGHTED_SUM, events(2023, 3, [(5, 2500)], "value"), "value", window, carried_value=D(0)
        )
        == 2500
    )


def test_a_weighted_sum_carried_into_a_whole_period_lago_second_month():
    # the same spec's April (30 days): 2,500 carried, -2,000 on the 4th, -200 on the 6th:
    # (2,500 x 3 + 500 x 2 + 300 x 25) / 30 = 533.33…
    april = month(2023, 4)
    value = aggregation.aggregate(
        Aggregation.WEIGHTED_SUM,
        events(2023, 4, [(4, -2000), (6, -200)], "value"),
        "value",
        april,
        carried_value=D(2500),
        full_period=april,
    )
    assert value == D(16000) / 30
    assert cents(value) == D("533.33")


def test_a_weighted_sum_cut_by_a_termination_averages_over_the_full_period():
    # 100 GB all along, terminated at the end of the 10th day of a 30-day month: 100 x 10/30
    april = month(2023, 4)
    window = Period(april.start, utc(2023, 4, 11))
    value = aggregation.aggregate(Aggregation.WEIGHTED_SUM, [], "gb", window, carried_value=D(100), full_period=april)
    assert value == D(100) / 3


def test_the_full_period_must_contain_the_window():
    with pytest.raises(InvalidPeriod):
        aggregation.aggregate(Aggregation.WEIGHTED_SUM, [], "v", month(2023, 3), full_period=month(2023, 4))


# --- (c) prorated graduated ------------------------------------------------------------------------------------


def test_prorated_graduated_prices_each_ranges_unit_days_lago_overflow_case():
    # level by day: 0 (1st-9th), 2 (10th-15th), 7 (16th-19th), 1 (20th-24th), 11 (25th), 15 (26th-29th), 75 (30th)
    daily = levels(SEPTEMBER, OVERFLOW_CASE, 30)
    assert daily.runs == ((0, 9), (2, 6), (7, 4), (1, 5), (11, 1), (15, 4), (75, 1))
    fee = pricing.prorated_graduated_amount(daily, THREE_RANGES)
    # unit-days in 0-5: 2x6 + 5x4 + 1x5 + 5x1 + 5x4 + 5x1 = 67; in 6-15: 2x4 + 6x1 + 10x4 + 10x1 = 64; 16+: 60x1
    assert [daily.unit_days_between(D(a), b) for a, b in ((0, D(5)), (5, D(15)), (15, None))] == [67, 64, 60]
    assert [line.units for line in fee.breakdown] == [D(67) / 30, D(64) / 30, D(60) / 30]
    # 67/30 x 10 + 64/30 x 5 + 60/30 x 2 + flat 100 + 50 + 0 = 22.33… + 10.66… + 4 + 150 = 187.00
    assert cents(fee.amount) == D("187.00")
    # pricing the prorated total (191/30 = 6.37 units) through the ranges instead puts every unit in the cheapest
    # ranges: 150 + 50 + 1.37 x 5 = 206.83 (207.83 before, when a removal at midnight still counted its day)
    assert cents(pricing.graduated_amount(daily.units, THREE_RANGES).amount) == D("206.83")


@pytest.mark.parametrize(
    ("events_so_far", "amount"),
    # Lago's current usage after each event (prorated to the period end): 114.00, 184.00, 165.67, 179.67, 183.00
    [(1, "114.00"), (2, "184.00"), (3, "165.67"), (4, "179.67"), (5, "183.00"), (6, "187.00")],
)
def test_prorated_graduated_usage_through_the_month_lago_overflow_case(events_so_far, amount):
    daily = levels(SEPTEMBER, OVERFLOW_CASE[:events_so_far], 30)
    assert cents(pricing.prorated_graduated_amount(daily, THREE_RANGES).amount) == D(amount)


def test_a_full_month_carried_in_bills_every_range_in_full():
    # Lago, same spec, October: 75 carried in all month: 5x10 + 10x5 + 60x2 + 150 = 370.00
    october = month(2023, 10)
    assert cents(pricing.prorated_graduated_amount(levels(october, [], 31, carried=75), THREE_RANGES).amount) == D(
        "370.00"
    )
    # and +20 at midnight on the 17th (15 of 31 days): 370 + 20 x 15/31 x 2 = 389.35
    daily = levels(october, [(17, 20)], 31, carried=75)
    assert cents(pricing.prorated_graduated_amount(daily, THREE_RANGES).amount) == D("389.35")


def test_an_upgrade_bills_each_plan_its_days_flat_amounts_in_full():
    # Lago, "when upgrade is performed": 75 carried, +20 on Oct 17, upgraded on Oct 18 at 05:20.
    october = month(2023, 10)
    change = utc(2023, 10, 18, 5, 20)
    new_plan = levels(Period(change, october.end), [], 31, carried=95)
    # the new plan from the change day, Oct 18-31, 14 of 31 days: flat 150 + (5x10 + 10x5 + 80x2) x 14/31 = 267.42
    assert cents(pricing.prorated_graduated_amount(new_plan, THREE_RANGES).amount) == D("267.42")
    # the old plan to the day before (Oct 1-17): 75 x 17 days and the +20 on its one day, the 17th:
    # 150 + (5x17x10 + 10x17x5 + (60x17 + 20x1) x 2) / 31 = 150 + 3780/31 = 271.935… -> 271.94. Lago bills 273.23,
    # counting the +20 on the 17th and on the change day too (2/31), while the new plan also bills the change day.
    old_plan = levels(Period(october.start, change), [(17, 20)], 31, carried=75)
    assert old_plan.runs == ((75, 16), (95, 1))
    assert cents(pricing.prorated_graduated_amount(old_plan, THREE_RANGES).amount) == D("271.94")


def test_a_termination_bills_its_own_day_lago_terminated_vector():
    # Lago, "old events before first invoice and subscription is terminated": ranges 0-5 at 0, 6+ at 10; 6 units
    # carried into December, +1 on Dec 7, terminated on Dec 7: (1 x 7 + 1 x 1) / 31 x 10 = 2.58
    ranges = (pricing.GraduatedRange(D(0), D(5), D(0)), pricing.GraduatedRange(D(6), None, D(10)))
    december = month(2023, 12)
    terminated = utc(2023, 12, 7, 15)
    daily = levels(
        Period(december.start, terminated), [(7, 1)], 31, carried=6, until=proration.end_of_local_day(terminated, "UTC")
    )
    assert cents(pricing.prorated_graduated_amount(daily, ranges).amount) == D("2.58")
    # its current usage before the termination, prorated to the month's end: 10.00, then 10 + 1 x 25/31 x 10 = 18.06
    assert cents(pricing.prorated_graduated_amount(levels(december, [], 31, carried=6), ranges).amount) == D("10.00")
    after = levels(december, [(7, 1)], 31, carried=6)
    assert cents(pricing.prorated_graduated_amount(after, ranges).amount) == D("18.06")


def test_units_carried_from_before_the_period_lago_old_events_vector():
    # Lago, "old events before first invoice": ranges 0-5 at 0, 6+ at 12; 10 units carried into January:
    # 5 x 12 = 60.00; +2 on Jan 6: 60 + 2 x 26/31 x 12 = 80.13
    ranges = (pricing.GraduatedRange(D(0), D(5), D(0)), pricing.GraduatedRange(D(6), None, D(12)))
    january = month(2024, 1)
    assert cents(pricing.prorated_graduated_amount(levels(january, [], 31, carried=10), ranges).amount) == D("60.00")
    daily = levels(january, [(6, 2)], 31, carried=10)
    assert cents(pricing.prorated_graduated_amount(daily, ranges).amount) == D("80.13")


def test_a_removal_counts_its_day_unless_it_happens_at_midnight():
    # removed at noon on the 20th: in use that day; removed at 00:00 on the 20th: not in use on the 20th
    at_noon = levels(SEPTEMBER, [(1, 1), (20, -1)], 30, hour=12)
    at_midnight = levels(SEPTEMBER, [(1, 1), (20, -1)], 30)
    assert (at_noon.unit_days, at_midnight.unit_days) == (20, 19)


def test_prorated_volume_uses_the_range_of_the_periods_units():
    # 0-100 at 2 + 10 flat, 101+ at 1: 150 units from the 16th of a 30-day month -> 150 x 15/30 = 75 prorated
    # units, priced in 101+ (where the 150 units fall): 75 x 1 + 0 = 75.00
    ranges = (pricing.GraduatedRange(D(0), D(100), D(2), D(10)), pricing.GraduatedRange(D(101), None, D(1)))
    daily = levels(SEPTEMBER, [(16, 150)], 30)
    fee = pricing.prorated_charge_fee(pricing.ChargeModel.VOLUME, pricing.VolumeProperties(ranges), daily)
    assert (fee.units, fee.amount) == (75, 75)


def test_prorated_standard_is_the_prorated_units_times_the_amount():
    daily = levels(SEPTEMBER, [(16, 5)], 30, carried=10)
    fee = pricing.prorated_charge_fee(pricing.ChargeModel.STANDARD, pricing.StandardProperties(D(10)), daily)
    assert (fee.units, fee.amount) == (D("12.5"), 125)


def test_a_package_charge_cannot_be_prorated():
    daily = levels(SEPTEMBER, [], 30)
    with pytest.raises(ValueError):
        pricing.prorated_charge_fee(pricing.ChargeModel.PACKAGE, pricing.PackageProperties(D(1), D(10)), daily)


# --- properties ---------------------------------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
changes = st.lists(st.tuples(st.integers(1, 30), st.integers(-20, 40)), max_size=8)


@quick
@given(amount=amounts, days=st.integers(28, 31))
def test_a_full_period_prorates_to_itself(amount, days):
    full = Period(utc(2023, 1, 1), utc(2023, 1, 1) + timedelta(days=days))
    share = proration.period_share(full, full, "UTC", full.start)
    assert share.whole and share.fraction == 1 and share.of(amount) == amount
    assert invoicing.charge_minimum_true_up(amount, D(0), share) == amount
    assert invoicing.minimum_commitment_true_up(amount, share, D(0)) == amount


@quick
@given(carried=st.integers(0, 50), moves=changes)
def test_a_full_period_measured_against_itself_is_unchanged(carried, moves):
    # the weighted sum and the prorated units of a whole period are what they were before partial periods
    kept = [(day, value) for day, value in moves if carried + value >= 0]
    evs = events(2023, 9, kept, "v", hour=12)
    plain = aggregation.aggregate(Aggregation.WEIGHTED_SUM, evs, "v", SEPTEMBER, carried_value=D(carried))
    assert plain == aggregation.aggregate(
        Aggregation.WEIGHTED_SUM, evs, "v", SEPTEMBER, carried_value=D(carried), full_period=SEPTEMBER
    )
    # every unit there from day one: the prorated units are the period's units
    from_day_one = levels(SEPTEMBER, [(1, value) for _, value in kept], 30, carried=carried)
    assert from_day_one.units == from_day_one.closing


@quick
@given(amount=amounts, split=st.integers(1, 30), used=amounts)
def test_splitting_a_period_in_two_never_bills_more_than_the_whole(amount, split, used):
    september = SEPTEMBER
    cut = september.start + timedelta(days=split)
    first = proration.period_share(september, september, "UTC", september.start, cut)
    second = proration.period_share(september, september, "UTC", cut)
    # fees and minimums: the two shares add up to exactly the whole
    assert first.of(amount) + second.of(amount) == amount
    # a charge minimum with all the usage in one part still bills at most the whole minimum
    parts = invoicing.charge_minimum_true_up(amount, used, first) + invoicing.charge_minimum_true_up(
        amount, D(0), second
    )
    assert parts <= max(amount, used)


@quick
@given(carried=st.integers(0, 30), moves=changes, split=st.integers(1, 29))
def test_splitting_a_period_never_bills_more_prorated_units_or_range_prices(carried, moves, split):
    cut = SEPTEMBER.start + timedelta(days=split)
    kept, level = [], carried
    for day, value in sorted(moves):
        if level + value >= 0:
            kept.append((day, value))
            level += value
    whole = levels(SEPTEMBER, kept, 30, carried=carried, hour=12)
    head = levels(Period(SEPTEMBER.start, cut), kept, 30, carried=carried, hour=12)
    tail = levels(Period(cut, SEPTEMBER.end), kept, 30, carried=int(head.closing), hour=12)
    assert head.unit_days + tail.unit_days == whole.unit_days
    unflat = tuple(pricing.GraduatedRange(r.from_value, r.to_value, r.per_unit_amount) for r in THREE_RANGES)
    parts = sum(pricing.prorated_graduated_amount(p, unflat).amount for p in (head, tail))
    assert parts <= pricing.prorated_graduated_amount(whole, unflat).amount + D("1e-20")


@quick
@given(carried=st.integers(0, 50), moves=changes, split=st.integers(1, 29))
def test_splitting_a_weighted_sum_never_bills_more_than_the_whole(carried, moves, split):
    cut = SEPTEMBER.start + timedelta(days=split, hours=7)
    evs = events(2023, 9, moves, "v", hour=12)
    whole = aggregation.aggregate(Aggregation.WEIGHTED_SUM, evs, "v", SEPTEMBER, carried_value=D(carried))
    head_window, tail_window = Period(SEPTEMBER.start, cut), Period(cut, SEPTEMBER.end)
    head = aggregation.aggregate(
        Aggregation.WEIGHTED_SUM, evs, "v", head_window, carried_value=D(carried), full_period=SEPTEMBER
    )
    opening = aggregation.closing_value(Aggregation.WEIGHTED_SUM, evs, "v", head_window, carried_value=D(carried))
    tail = aggregation.aggregate(
        Aggregation.WEIGHTED_SUM, evs, "v", tail_window, carried_value=opening, full_period=SEPTEMBER
    )
    assert abs(head + tail - whole) < D("1e-20")


@quick
@given(amount=amounts, days=st.integers(0, 29))
def test_proration_is_monotone_in_days_covered(amount, days):
    september = SEPTEMBER
    shorter = proration.period_share(september, september, "UTC", september.start + timedelta(days=days + 1))
    longer = proration.period_share(september, september, "UTC", september.start + timedelta(days=days))
    assert shorter.days_billed + 1 == longer.days_billed
    assert shorter.of(amount) <= longer.of(amount)
    assert invoicing.charge_minimum_true_up(amount, D(0), shorter) <= invoicing.charge_minimum_true_up(
        amount, D(0), longer
    )


@quick
@given(
    carried=st.integers(0, 30),
    moves=st.lists(st.tuples(st.integers(1, 30), st.integers(0, 40)), max_size=8),
    days=st.integers(1, 29),
)
def test_prorated_charges_and_weighted_sums_are_monotone_in_days_covered(carried, moves, days):
    # with levels that never go below zero, covering one more day never bills less
    shorter, longer = (Period(SEPTEMBER.start + timedelta(days=d), SEPTEMBER.end) for d in (days, days - 1))
    late = [(max(day, days + 1), value) for day, value in moves]  # events inside both windows
    a, b = (levels(w, late, 30, carried=carried, hour=12) for w in (shorter, longer))
    assert (
        pricing.prorated_graduated_amount(a, THREE_RANGES).amount
        <= pricing.prorated_graduated_amount(b, THREE_RANGES).amount
    )
    evs = events(2023, 9, late, "v", hour=12)
    ws = [
        aggregation.aggregate(Aggregation.WEIGHTED_SUM, evs, "v", w, carried_value=D(carried), full_period=SEPTEMBER)
        for w in (shorter, longer)
    ]
    assert ws[0] <= ws[1]
