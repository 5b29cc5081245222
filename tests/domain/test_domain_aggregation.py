from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import aggregation
from domain.aggregation import Aggregation, UsageEvent, aggregate
from domain.errors import AggregationNotCombinable, FieldNameRequired, RecurringNotSupported
from domain.periods import Period

quick = settings(max_examples=60, deadline=None, database=None)
START = datetime(2024, 1, 1, tzinfo=UTC)
PERIOD = Period(START, START + timedelta(days=10))


def event(day, transaction_id="t", **properties):
    return UsageEvent(START + timedelta(days=day), properties, transaction_id)


EVENTS = [
    event(0, "a", gb="1.5", region="eu", user="ann"),
    event(1, "b", gb=2, region="us", user="bob"),
    event(2, "c", gb="0.5", region="eu", user="ann"),
    event(3, "d", gb="not a number", region="eu", user="cy"),
]


def test_count_counts_events_in_the_period():
    outside = [event(-1, "early", gb=1), event(10, "at end", gb=1)]
    assert aggregate(Aggregation.COUNT, EVENTS + outside, None, PERIOD) == 4


def test_sum_reads_decimal_strings_exactly():
    tenths = [event(0, str(i), amount="0.1") for i in range(3)]
    assert aggregate(Aggregation.SUM, tenths, "amount", PERIOD) == D("0.3")
    assert aggregate(Aggregation.SUM, EVENTS, "gb", PERIOD) == D("4.0")


def test_non_numeric_values_are_skipped_not_fatal():
    assert aggregate(Aggregation.MAX, EVENTS, "gb", PERIOD) == 2
    assert aggregate(Aggregation.SUM, [event(0, gb=None), event(1, gb=[1])], "gb", PERIOD) == 0
    assert aggregation.numeric_value("NaN") is None
    assert aggregation.numeric_value("1_000") is None
    assert aggregation.numeric_value(True) is None
    assert aggregation.numeric_value("12.50") == D("12.50")


def test_float_property_values_raise_type_error():
    with pytest.raises(TypeError):
        aggregate(Aggregation.SUM, [event(0, gb=0.1)], "gb", PERIOD)


def test_unique_count_counts_distinct_values():
    assert aggregate(Aggregation.UNIQUE_COUNT, EVENTS, "user", PERIOD) == 3
    mixed = [event(0, "a", user=1), event(1, "b", user="1"), event(2, "c")]
    assert aggregate(Aggregation.UNIQUE_COUNT, mixed, "user", PERIOD) == 1


def test_latest_takes_the_newest_event_by_timestamp_not_arrival_order():
    shuffled = [event(5, "x", seats=7), event(2, "y", seats=3), event(4, "z", seats=9)]
    assert aggregate(Aggregation.LATEST, shuffled, "seats", PERIOD) == 7
    tie = [event(5, "b", seats=1), event(5, "a", seats=2)]
    assert aggregate(Aggregation.LATEST, tie, "seats", PERIOD) == 1
    assert aggregate(Aggregation.LATEST, tie[::-1], "seats", PERIOD) == 1


def test_latest_without_events_keeps_the_carried_value():
    assert aggregate(Aggregation.LATEST, [], "seats", PERIOD, carried_value=D(12)) == 12
    assert aggregate(Aggregation.LATEST, [], "seats", PERIOD) == 0


def test_filters_keep_only_events_with_allowed_dimension_values():
    eu = {"region": ["eu"]}
    assert aggregate(Aggregation.SUM, EVENTS, "gb", PERIOD, filters=eu) == D("2.0")
    assert aggregate(Aggregation.COUNT, EVENTS, None, PERIOD, filters={"region": ["eu", "us"]}) == 4
    assert aggregate(Aggregation.COUNT, EVENTS, None, PERIOD, filters={"tier": ["gold"]}) == 0
    numeric = [event(0, "a", zone=1), event(0, "b", zone=2), event(0, "c", vip=True)]
    assert aggregate(Aggregation.COUNT, numeric, None, PERIOD, filters={"zone": ["1"]}) == 1
    assert aggregate(Aggregation.COUNT, numeric, None, PERIOD, filters={"vip": ["true"]}) == 1


def test_weighted_sum_treats_each_value_as_an_increment_lago_style():
    # 0 GB for 2 days, 4 GB for 3 days, 6 GB for 3 days, 0 GB for 2 days: (12 + 18) / 10 = 3.
    storage = [event(2, "a", gb=4), event(5, "b", gb=2), event(8, "c", gb=-6)]
    assert aggregate(Aggregation.WEIGHTED_SUM, storage, "gb", PERIOD) == 3


def test_weighted_sum_starts_from_the_carried_level_and_persists_to_period_end():
    # 10 GB carried in; +10 GB at mid-period: 10 for 5 days, 20 for 5 days = 15 on average.
    storage = [event(5, "a", gb=10)]
    assert aggregate(Aggregation.WEIGHTED_SUM, storage, "gb", PERIOD, carried_value=D(10)) == 15
    assert aggregate(Aggregation.WEIGHTED_SUM, [], "gb", PERIOD, carried_value=D(10)) == 10
    closing = aggregation.closing_value(Aggregation.WEIGHTED_SUM, storage, "gb", PERIOD, carried_value=D(10))
    assert closing == 20


def test_weighted_sum_weighs_by_the_second():
    hour = Period(START, START + timedelta(hours=1))
    at_45_minutes = UsageEvent(START + timedelta(minutes=45), {"gb": 4}, "a")
    assert aggregate(Aggregation.WEIGHTED_SUM, [at_45_minutes], "gb", hour) == 1


def test_recurring_sum_and_count_add_to_the_carried_value():
    seats = [event(1, "a", seats=1), event(2, "b", seats=1), event(3, "c", seats=-1)]
    assert aggregate(Aggregation.SUM, seats, "seats", PERIOD, carried_value=D(5)) == 6
    assert aggregate(Aggregation.COUNT, seats, None, PERIOD, carried_value=D(5)) == 8
    assert aggregate(Aggregation.MAX, seats, "seats", PERIOD, carried_value=D(5)) == 5


def test_metrics_beyond_count_need_a_field_name():
    with pytest.raises(FieldNameRequired) as caught:
        aggregate(Aggregation.SUM, EVENTS, None, PERIOD)
    assert caught.value.code == "FIELD_NAME_REQUIRED"
    assert caught.value.field == ("fieldName",)
    aggregation.validate_metric(Aggregation.COUNT, None, recurring=True)


def test_unique_count_cannot_be_recurring():
    with pytest.raises(RecurringNotSupported):
        aggregation.validate_metric(Aggregation.UNIQUE_COUNT, "user", recurring=True)
    with pytest.raises(RecurringNotSupported):
        aggregate(Aggregation.UNIQUE_COUNT, EVENTS, "user", PERIOD, carried_value=D(1))


def test_count_sum_and_max_partials_combine():
    assert aggregation.combine(Aggregation.COUNT, D(3), D(4)) == 7
    assert aggregation.combine(Aggregation.SUM, D("1.5"), D("2.25")) == D("3.75")
    assert aggregation.combine(Aggregation.MAX, D(-3), D(-4)) == -3
    assert aggregation.combine(Aggregation.MAX, None, D(-4)) == -4
    assert aggregation.combine(Aggregation.SUM, None, None) is None


@pytest.mark.parametrize("kind", [Aggregation.LATEST, Aggregation.UNIQUE_COUNT, Aggregation.WEIGHTED_SUM])
def test_other_aggregations_do_not_combine(kind):
    with pytest.raises(AggregationNotCombinable):
        aggregation.combine(kind, D(1), D(2))


values = st.one_of(
    st.integers(-1000, 1000),
    st.decimals(min_value=-1000, max_value=1000, places=3).map(str),
    st.sampled_from(["n/a", None]),
)


@quick
@given(
    rows=st.lists(st.tuples(st.integers(0, 9 * 86400), values, st.sampled_from(["eu", "us"])), max_size=30),
    kind=st.sampled_from(sorted(aggregation.COMBINABLE)),
    split=st.integers(0, 30),
)
def test_streamed_partials_equal_the_whole_aggregate(rows, kind, split):
    events = [
        UsageEvent(START + timedelta(seconds=s), {"v": v, "region": r}, str(i)) for i, (s, v, r) in enumerate(rows)
    ]
    filters = {"region": ["eu"]}
    whole = aggregate(kind, events, "v", PERIOD, filters)

    def partial(chunk):
        contributions = [aggregation.event_contribution(kind, e, "v", filters) for e in chunk]
        return reduce(lambda a, b: aggregation.combine(kind, a, b), contributions, None)

    combined = aggregation.combine(kind, partial(events[:split]), partial(events[split:]))
    assert (combined if combined is not None else D(0)) == whole
    assert isinstance(whole, D)


@quick
@given(
    increments=st.lists(st.tuples(st.integers(0, 10 * 86400 - 1), st.integers(-50, 50)), max_size=20),
    carried=st.integers(0, 100),
)
def test_weighted_sum_lies_between_the_lowest_and_highest_level(increments, carried):
    events = [UsageEvent(START + timedelta(seconds=s), {"gb": v}, str(i)) for i, (s, v) in enumerate(increments)]
    levels = [D(carried)]
    for _, value in sorted(increments, key=lambda row: row[0]):
        levels.append(levels[-1] + value)
    result = aggregate(Aggregation.WEIGHTED_SUM, events, "gb", PERIOD, carried_value=D(carried))
    assert isinstance(result, D)
    assert min(levels) - D("1e-20") <= result <= max(levels) + D("1e-20")


# --- prorated charges on recurring metrics ----------------------------------------------------------

JUNE = Period(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))


def seat(day: int, change, hour: int = 12, transaction_id: str = "s"):
    return UsageEvent(datetime(2026, 6, day, hour, tzinfo=UTC), {"seats": change}, transaction_id)


def test_prorated_seats_count_each_unit_for_the_days_it_was_in_use():
    # Lago's example, in a 30-day month: 10 seats all month, 5 more from the 16th (16..30: 15 days)
    units = aggregation.prorated_units(Aggregation.SUM, [seat(16, 5)], "seats", JUNE, 30, "UTC", carried_value=D(10))
    assert units == D("12.5")


def test_a_removed_seat_counts_through_its_removal_day():
    # one seat added on the 1st and removed on the 10th: in use June 1..10, 10 of 30 days
    events = [seat(1, 1, transaction_id="a"), seat(10, -1, transaction_id="b")]
    units = aggregation.prorated_units(Aggregation.SUM, events, "seats", JUNE, 30, "UTC")
    assert units == D(10) / 30


def test_prorated_count_adds_one_unit_per_event_and_days_are_local():
    # 23:30 UTC on June 29 is already June 30 in Tokyo: one day of 30 there, two in UTC
    late = UsageEvent(datetime(2026, 6, 29, 23, 30, tzinfo=UTC), {}, "x")
    tokyo = Period(datetime(2026, 5, 31, 15, tzinfo=UTC), datetime(2026, 6, 30, 15, tzinfo=UTC))
    assert aggregation.prorated_units(Aggregation.COUNT, [late], None, tokyo, 30, "Asia/Tokyo") == D(1) / 30
    assert aggregation.prorated_units(Aggregation.COUNT, [late], None, JUNE, 30, "UTC") == D(2) / 30


def test_a_partial_first_period_is_prorated_over_the_full_period():
    # subscribed on June 21 (calendar billing): 4 seats carried in from the start, 10 of 30 days
    window = Period(datetime(2026, 6, 21, tzinfo=UTC), JUNE.end)
    assert aggregation.prorated_units(
        Aggregation.SUM, [], "seats", window, 30, "UTC", carried_value=D(4)
    ) == D(4) * 10 / 30


def test_only_recurring_count_and_sum_can_be_prorated():
    for kind in (Aggregation.MAX, Aggregation.LATEST, Aggregation.WEIGHTED_SUM, Aggregation.UNIQUE_COUNT):
        with pytest.raises(aggregation.ProrationNotSupported):
            aggregation.validate_proration(kind, recurring=True)
    with pytest.raises(aggregation.ProrationNotSupported):
        aggregation.validate_proration(Aggregation.SUM, recurring=False)


@quick
@given(
    carried=st.integers(0, 50),
    additions=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 20)), max_size=8),
)
def test_prorated_units_never_exceed_the_full_count_and_reach_it_when_all_is_there_from_day_one(carried, additions):
    events = [seat(day, n, transaction_id=str(i)) for i, (day, n) in enumerate(additions)]
    full = D(carried + sum(n for _, n in additions))
    units = aggregation.prorated_units(Aggregation.SUM, events, "seats", JUNE, 30, "UTC", carried_value=D(carried))
    assert 0 <= units <= full
    from_day_one = [seat(1, n, transaction_id=str(i)) for i, (_, n) in enumerate(additions)]
    assert aggregation.prorated_units(
        Aggregation.SUM, from_day_one, "seats", JUNE, 30, "UTC", carried_value=D(carried)
    ) == full


@quick
@given(day=st.integers(1, 29), n=st.integers(1, 9))
def test_a_unit_added_earlier_never_costs_less(day, n):
    earlier = aggregation.prorated_units(Aggregation.SUM, [seat(day, n)], "seats", JUNE, 30, "UTC")
    later = aggregation.prorated_units(Aggregation.SUM, [seat(day + 1, n)], "seats", JUNE, 30, "UTC")
    assert earlier > later


def test_negative_values_are_taken_as_they_are_by_every_aggregation_as_in_lago():
    """docs/billing-semantics.md, "Negative values": aggregations take a negative value as it is."""
    values = [event(1, "a", v=10), event(2, "b", v=-3), event(3, "c", v=-12)]
    assert aggregate(Aggregation.SUM, values, "v", PERIOD) == -5
    assert aggregate(Aggregation.MAX, [event(1, "a", v=-2), event(2, "b", v=-7)], "v", PERIOD) == -2
    assert aggregate(Aggregation.LATEST, values, "v", PERIOD) == -12
    assert aggregate(Aggregation.COUNT, values, None, PERIOD) == 3
    assert aggregate(Aggregation.UNIQUE_COUNT, [event(1, "a", v=-1), event(2, "b", v=1)], "v", PERIOD) == 2
    # 0 GB, +10 at mid-period, -10 at three quarters: 10 GB held for a quarter of the period
    gb = [event(5, "a", v=10), event(7.5, "b", v=-10)]
    assert aggregate(Aggregation.WEIGHTED_SUM, gb, "v", PERIOD) == D("2.5")
    # a recurring SUM carries a negative closing value into the next period
    assert aggregation.closing_value(Aggregation.SUM, values, "v", PERIOD, carried_value=D(2)) == -3
