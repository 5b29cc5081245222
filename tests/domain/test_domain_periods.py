import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import periods
from domain.errors import BeforeSubscriptionStart, InvalidPeriod, NaiveDatetime, UnknownTimezone
from domain.periods import BillingTime, Interval, Period

quick = settings(max_examples=60, deadline=None, database=None)
MONTHLY, ANNIVERSARY, CALENDAR = Interval.MONTHLY, BillingTime.ANNIVERSARY, BillingTime.CALENDAR


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def starts(anchor, interval, billing_time, count, tz="UTC"):
    period = periods.first_period(anchor, interval, billing_time, tz)
    found = []
    for _ in range(count):
        found.append(period.start.astimezone(ZoneInfo(tz)).date())
        period = periods.next_period(anchor, interval, billing_time, period, tz)
    return found


def test_jan_31_anniversary_clamps_to_month_end():
    assert starts(utc(2024, 1, 31, 9), MONTHLY, ANNIVERSARY, 6) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
        date(2024, 6, 30),
    ]
    assert starts(utc(2023, 1, 31), MONTHLY, ANNIVERSARY, 3)[1] == date(2023, 2, 28)


def test_anniversary_day_30_returns_to_30_after_february():
    assert starts(utc(2023, 1, 30), MONTHLY, ANNIVERSARY, 3) == [
        date(2023, 1, 30),
        date(2023, 2, 28),
        date(2023, 3, 30),
    ]


def test_feb_29_yearly_anniversary_clamps_and_comes_back_in_leap_years():
    assert starts(utc(2024, 2, 29), Interval.YEARLY, ANNIVERSARY, 5) == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_quarterly_anniversary_of_nov_30_clamps_in_february():
    assert starts(utc(2023, 11, 30), Interval.QUARTERLY, ANNIVERSARY, 4) == [
        date(2023, 11, 30),
        date(2024, 2, 29),
        date(2024, 5, 30),
        date(2024, 8, 30),
    ]


def test_weekly_anniversary_repeats_the_start_weekday():
    assert starts(utc(2024, 1, 3), Interval.WEEKLY, ANNIVERSARY, 3) == [
        date(2024, 1, 3),
        date(2024, 1, 10),
        date(2024, 1, 17),
    ]


def test_calendar_monthly_first_period_is_partial():
    anchor = utc(2024, 1, 15, 14, 30)
    first = periods.period_containing(anchor, MONTHLY, CALENDAR, anchor, "UTC")
    assert first == Period(utc(2024, 1, 15), utc(2024, 2, 1))
    full = periods.full_period_containing(anchor, MONTHLY, CALENDAR, anchor, "UTC")
    assert full == Period(utc(2024, 1, 1), utc(2024, 2, 1))
    assert periods.next_period(anchor, MONTHLY, CALENDAR, first, "UTC") == Period(utc(2024, 2, 1), utc(2024, 3, 1))


def test_calendar_weeks_start_on_monday():
    anchor = utc(2024, 1, 3)  # a Wednesday
    assert starts(anchor, Interval.WEEKLY, CALENDAR, 3) == [
        date(2024, 1, 3),
        date(2024, 1, 8),
        date(2024, 1, 15),
    ]


def test_calendar_quarters_start_jan_apr_jul_oct():
    assert starts(utc(2024, 2, 10), Interval.QUARTERLY, CALENDAR, 5) == [
        date(2024, 2, 10),
        date(2024, 4, 1),
        date(2024, 7, 1),
        date(2024, 10, 1),
        date(2025, 1, 1),
    ]


def test_calendar_years_start_jan_1():
    assert starts(utc(2024, 6, 1), Interval.YEARLY, CALENDAR, 3) == [
        date(2024, 6, 1),
        date(2025, 1, 1),
        date(2026, 1, 1),
    ]


def test_calendar_subscription_started_on_a_boundary_has_a_full_first_period():
    anchor = utc(2024, 4, 1, 10)
    first = periods.first_period(anchor, Interval.QUARTERLY, CALENDAR, "UTC")
    assert first == Period(utc(2024, 4, 1), utc(2024, 7, 1))


def test_periods_follow_the_customers_local_date_and_midnight():
    # 03:00 UTC on Mar 1 is still Feb 29 in New York: the anniversary is the 29th.
    anchor = utc(2024, 3, 1, 3)
    tz = "America/New_York"
    first = periods.first_period(anchor, MONTHLY, ANNIVERSARY, tz)
    assert first.start == utc(2024, 2, 29, 5)  # local midnight, EST
    assert first.end == utc(2024, 3, 29, 4)  # local midnight, EDT


def test_calendar_month_across_dst_holds_whole_local_days():
    tz = "Europe/Berlin"
    period = periods.period_containing(utc(2024, 1, 1), MONTHLY, CALENDAR, utc(2024, 3, 15), tz)
    assert period == Period(utc(2024, 2, 29, 23), utc(2024, 3, 31, 22))
    assert periods.days_in(period, tz) == 31
    assert period.duration == timedelta(days=31) - timedelta(hours=1)


def test_day_whose_midnight_is_skipped_by_dst_starts_at_the_transition():
    # Chile springs forward at 00:00 -> 01:00 on 2024-09-08: that day starts at 04:00 UTC.
    assert periods.local_midnight(date(2024, 9, 8), "America/Santiago") == utc(2024, 9, 8, 4)
    anchor = utc(2024, 9, 1, 12)
    week = periods.first_period(anchor, Interval.WEEKLY, ANNIVERSARY, "America/Santiago")
    assert week.end == utc(2024, 9, 8, 4)
    assert periods.days_in(week, "America/Santiago") == 7


def test_period_containing_a_moment_before_the_subscription_is_rejected():
    with pytest.raises(BeforeSubscriptionStart) as caught:
        periods.period_containing(utc(2024, 5, 10), MONTHLY, ANNIVERSARY, utc(2024, 5, 9), "UTC")
    assert caught.value.code == "BEFORE_SUBSCRIPTION_START"


def test_periods_between_lists_the_periods_overlapping_a_window():
    anchor = utc(2024, 1, 15)
    found = list(periods.periods_between(anchor, MONTHLY, CALENDAR, utc(2024, 2, 10), utc(2024, 4, 1), "UTC"))
    assert found == [
        Period(utc(2024, 2, 1), utc(2024, 3, 1)),
        Period(utc(2024, 3, 1), utc(2024, 4, 1)),
    ]
    from_before_start = list(
        periods.periods_between(anchor, MONTHLY, CALENDAR, utc(2023, 1, 1), utc(2024, 2, 2), "UTC")
    )
    assert [p.start for p in from_before_start] == [utc(2024, 1, 15), utc(2024, 2, 1)]


def test_days_in_counts_calendar_days_in_the_timezone():
    assert periods.days_in(Period(utc(2024, 2, 1), utc(2024, 3, 1)), "UTC") == 29
    # Two hours that cross local midnight in Tokyo touch two local days.
    assert periods.days_in(Period(utc(2024, 2, 1, 14), utc(2024, 2, 1, 16)), "Asia/Tokyo") == 2


def test_naive_datetimes_and_unknown_timezones_are_rejected():
    with pytest.raises(NaiveDatetime):
        periods.first_period(datetime(2024, 1, 1), MONTHLY, CALENDAR, "UTC")
    with pytest.raises(UnknownTimezone) as caught:
        periods.first_period(utc(2024, 1, 1), MONTHLY, CALENDAR, "Mars/Olympus_Mons")
    assert caught.value.code == "UNKNOWN_TIMEZONE"
    with pytest.raises(UnknownTimezone):
        periods.first_period(utc(2024, 1, 1), MONTHLY, CALENDAR, "../etc/passwd")


def test_a_period_must_end_after_it_starts():
    with pytest.raises(InvalidPeriod):
        Period(utc(2024, 1, 2), utc(2024, 1, 1))


def test_periods_are_kept_in_utc_so_they_compare_by_instant():
    paris = ZoneInfo("Europe/Paris")
    period = Period(datetime(2024, 1, 1, tzinfo=paris), datetime(2024, 2, 1, tzinfo=paris))
    assert period.start == utc(2023, 12, 31, 23)
    assert period.start.tzinfo is UTC


TIMEZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Auckland",
]


@st.composite
def anchors(draw):
    day = draw(st.dates(min_value=date(2001, 1, 1), max_value=date(2035, 12, 31)))
    if draw(st.booleans()):  # month ends are where clamping bites
        last = calendar.monthrange(day.year, day.month)[1]
        day = day.replace(day=last - draw(st.integers(0, 3)))
    seconds = draw(st.integers(0, 86399))
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(seconds=seconds)


@quick
@given(
    anchor=anchors(),
    interval=st.sampled_from(list(Interval)),
    billing_time=st.sampled_from(list(BillingTime)),
    tz=st.sampled_from(TIMEZONES),
)
def test_periods_tile_time_without_gaps_or_overlaps(anchor, interval, billing_time, tz):
    zone = ZoneInfo(tz)
    anchor_day = anchor.astimezone(zone).date()
    period = periods.first_period(anchor, interval, billing_time, tz)
    assert period.start == periods.local_midnight(anchor_day, tz)
    for _ in range(14):
        nxt = periods.next_period(anchor, interval, billing_time, period, tz)
        assert nxt.start == period.end
        assert period.start < period.end
        local_start = nxt.start.astimezone(zone)
        assert periods.local_midnight(local_start.date(), tz) == nxt.start
        # The moment just before the end still belongs to the period; the end does not.
        last_moment = period.end - timedelta(microseconds=1)
        assert periods.period_containing(anchor, interval, billing_time, last_moment, tz) == period
        assert periods.period_containing(anchor, interval, billing_time, period.end, tz) == nxt
        if billing_time is BillingTime.ANNIVERSARY and interval is not Interval.WEEKLY:
            # Computed from the anchor each time: the day of month never drifts.
            days_in_month = calendar.monthrange(local_start.year, local_start.month)[1]
            assert local_start.day == min(anchor_day.day, days_in_month)
        if billing_time is BillingTime.CALENDAR:
            if interval is Interval.WEEKLY:
                assert local_start.weekday() == 0
            else:
                assert local_start.day == 1
        period = nxt


@quick
@given(
    anchor=anchors(),
    offset=st.integers(0, 3 * 366 * 86400),
    interval=st.sampled_from(list(Interval)),
    billing_time=st.sampled_from(list(BillingTime)),
    tz=st.sampled_from(TIMEZONES),
)
def test_period_containing_contains_the_moment(anchor, offset, interval, billing_time, tz):
    at = anchor + timedelta(seconds=offset)
    period = periods.period_containing(anchor, interval, billing_time, at, tz)
    assert at in period
    full = periods.full_period_containing(anchor, interval, billing_time, at, tz)
    assert full.start <= period.start and full.end == period.end
    assert 1 <= periods.days_in(period, tz) <= periods.days_in(full, tz) <= 366
