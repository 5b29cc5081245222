"""Billing periods: calendar vs anniversary alignment, month-end clamping, time zones.

A period is the half-open interval [start, end) between two local midnights in the
customer's time zone, returned as aware UTC datetimes. Periods are computed on local dates,
so a period always holds whole local days whatever DST does to its length in hours.

- ANNIVERSARY: the k-th period starts k intervals after the local date of the anchor
  (the subscription start). Each start is computed from the anchor, never from the previous
  period, so a Jan 31 anchor gives Feb 28 (29), Mar 31, Apr 30, May 31 … without drifting.
- CALENDAR: periods align to Monday weeks, calendar months, quarters (Jan, Apr, Jul, Oct)
  and years in the customer's time zone. The first period begins at the local midnight of
  the subscription's start date, so it is partial unless the start is itself aligned;
  `full_period_containing` gives the unclipped calendar period to prorate against.

The subscription's start day is always a whole day of service: a subscription started at
14:00 owns its start date from local midnight (proration counts calendar days).
"""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import BeforeSubscriptionStart, InvalidPeriod, NaiveDatetime, UnknownTimezone


class Interval(enum.StrEnum):
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"


class BillingTime(enum.StrEnum):
    CALENDAR = "CALENDAR"
    ANNIVERSARY = "ANNIVERSARY"


_MONTHS_PER_INTERVAL = {Interval.MONTHLY: 1, Interval.QUARTERLY: 3, Interval.YEARLY: 12}
_WEEK = timedelta(days=7)


def require_aware(moment: datetime, name: str) -> datetime:
    """`moment` if it carries a UTC offset; naive datetimes are ambiguous for billing."""
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetime(f"{name} must include a UTC offset", field=(name,))
    return moment


@dataclass(frozen=True, slots=True)
class Period:
    """Half-open billing period [start, end) between two aware datetimes."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        # Kept in UTC: aware datetimes sharing a ZoneInfo compare by wall time, which is
        # wrong inside a DST fold; UTC ones compare by instant.
        object.__setattr__(self, "start", require_aware(self.start, "start").astimezone(UTC))
        object.__setattr__(self, "end", require_aware(self.end, "end").astimezone(UTC))
        if self.end <= self.start:
            raise InvalidPeriod("a period must end after it starts", field=("end",))

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@lru_cache(maxsize=512)
def zone(tz: str) -> ZoneInfo:
    """The IANA time zone named `tz` (e.g. "Europe/Paris"); raises UNKNOWN_TIMEZONE."""
    if not isinstance(tz, str):
        raise TypeError(f"tz must be a str, not {type(tz).__name__}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimezone(f"{tz!r} is not an IANA time zone", field=("timezone",)) from exc


def local_date(moment: datetime, tz: str) -> date:
    """The calendar date of `moment` in time zone `tz`."""
    return require_aware(moment, "at").astimezone(zone(tz)).date()


def local_midnight(day: date, tz: str) -> datetime:
    """The first instant of `day` in `tz`, in UTC.

    Where midnight does not exist (a DST gap at 00:00), fold=0 reads it with the offset
    before the gap, which is exactly the instant the day begins.
    """
    return datetime.combine(day, time(0), tzinfo=zone(tz)).astimezone(UTC)


def _first_day_on_or_after(moment: datetime, tz: str) -> date:
    """The first local date whose midnight is not before `moment`."""
    day = local_date(moment, tz)
    return day if local_midnight(day, tz) == moment else day + timedelta(days=1)


def add_months_clamped(anchor: date, months: int) -> date:
    """`anchor` moved by `months`, its day clamped to the target month's last day."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def _anniversary_start(anchor_day: date, interval: Interval, k: int) -> date:
    if interval is Interval.WEEKLY:
        return anchor_day + k * _WEEK
    return add_months_clamped(anchor_day, k * _MONTHS_PER_INTERVAL[interval])


def _anniversary_bounds(anchor_day: date, interval: Interval, day: date) -> tuple[date, date]:
    if interval is Interval.WEEKLY:
        k = (day - anchor_day).days // 7
    else:
        months = (day.year - anchor_day.year) * 12 + day.month - anchor_day.month
        k = months // _MONTHS_PER_INTERVAL[interval]
    # The estimate can be one off when the anchor's day of month is later than `day`'s.
    while _anniversary_start(anchor_day, interval, k) > day:
        k -= 1
    while _anniversary_start(anchor_day, interval, k + 1) <= day:
        k += 1
    return (
        _anniversary_start(anchor_day, interval, k),
        _anniversary_start(anchor_day, interval, k + 1),
    )


def _calendar_bounds(interval: Interval, day: date) -> tuple[date, date]:
    if interval is Interval.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + _WEEK
    months = _MONTHS_PER_INTERVAL[interval]
    first = date(day.year, (day.month - 1) // months * months + 1, 1)
    return first, add_months_clamped(first, months)


def _bounds(
    anchor: datetime, interval: Interval, billing_time: BillingTime, at: datetime, tz: str
) -> tuple[date, date, date]:
    """Start and end dates of the full period containing `at`, and the subscription's first day."""
    interval, billing_time = Interval(interval), BillingTime(billing_time)
    first_day = local_date(require_aware(anchor, "anchor"), tz)
    day = local_date(require_aware(at, "at"), tz)
    if day < first_day:
        raise BeforeSubscriptionStart("the moment is before the subscription's first billing day", field=("at",))
    if billing_time is BillingTime.ANNIVERSARY:
        start, end = _anniversary_bounds(first_day, interval, day)
    else:
        start, end = _calendar_bounds(interval, day)
    return start, end, first_day


def period_containing(anchor: datetime, interval: Interval, billing_time: BillingTime, at: datetime, tz: str) -> Period:
    """The billing period of a subscription started at `anchor` that contains `at`."""
    start, end, first_day = _bounds(anchor, interval, billing_time, at, tz)
    return Period(local_midnight(max(start, first_day), tz), local_midnight(end, tz))


def full_period_containing(
    anchor: datetime, interval: Interval, billing_time: BillingTime, at: datetime, tz: str
) -> Period:
    """Like `period_containing`, but a partial first CALENDAR period is not clipped.

    Proration divides by the days of this period: a monthly plan started Jan 15 bills
    17/31 of its fee for [Jan 15, Feb 1).
    """
    start, end, _ = _bounds(anchor, interval, billing_time, at, tz)
    return Period(local_midnight(start, tz), local_midnight(end, tz))


def first_period(anchor: datetime, interval: Interval, billing_time: BillingTime, tz: str) -> Period:
    """The subscription's first billing period."""
    return period_containing(anchor, interval, billing_time, anchor, tz)


def next_period(anchor: datetime, interval: Interval, billing_time: BillingTime, period: Period, tz: str) -> Period:
    """The billing period that starts where `period` ends."""
    return period_containing(anchor, interval, billing_time, period.end, tz)


def periods_between(
    anchor: datetime,
    interval: Interval,
    billing_time: BillingTime,
    start: datetime,
    end: datetime,
    tz: str,
) -> Iterator[Period]:
    """The whole billing periods that overlap [start, end), in order (none before `anchor`)."""
    require_aware(start, "start")
    require_aware(end, "end")
    period = first_period(anchor, interval, billing_time, tz)
    if start > period.start:
        period = period_containing(anchor, interval, billing_time, start, tz)
    while period.start < end:
        yield period
        period = next_period(anchor, interval, billing_time, period, tz)


def days_in(period: Period, tz: str) -> int:
    """Calendar days in `tz` that `period` touches (a period between midnights: its days)."""
    first = local_date(period.start, tz)
    after_last = _first_day_on_or_after(period.end, tz)
    return (after_last - first).days
