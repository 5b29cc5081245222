"""Billable-metric aggregation of usage events over a billing period.

Decisions (write them into docs/ as the metric reference):

- Only events with ``period.start <= timestamp < period.end`` count, and only those whose
  properties pass every filter (dimension -> allowed values; a missing dimension fails).
  Property values are compared as their JSON text: "eu" is "eu", 1 is "1", true is "true".
- A numeric property is an int, a Decimal or a numeric string (the app reads JSON numbers
  as Decimal, so "0.1" is one tenth). Anything else -- a word, null, a list -- is skipped by
  SUM, MAX, LATEST and WEIGHTED_SUM instead of failing the whole invoice; ingestion should
  reject such events up front with `numeric_value(...) is None`. A float is a bug upstream
  and raises TypeError.
- COUNT counts events; SUM adds values; MAX is the largest value; UNIQUE_COUNT counts
  distinct values of the field (by JSON text); LATEST is the value of the newest event, ties
  on timestamp broken by the larger transaction id so the answer never depends on order.
  With no (numeric) event they are 0, or the carried value.
- WEIGHTED_SUM follows Lago: each event's value is an *increment* to a running level that
  starts at `carried_value` (or 0) at period start; each level is weighted by the seconds
  it is in effect, the last one up to period end; the sum is divided by the seconds of the
  *full* billing period (`full_period`), not of the part the subscription covers. E.g. 0 GB,
  +10 at mid-period -> 5 GB average; 2,500 GB from the 5th of a 31-day month (a first
  CALENDAR period) -> 2,500 x 27/31 = 2,177.42 GB, as Lago bills it.
- `carried_value` is the previous period's closing value of a recurring metric
  (see `closing_value`): SUM and COUNT add to it, MAX keeps it as a floor, LATEST falls
  back to it when the period has no event, WEIGHTED_SUM starts its level at it.
  UNIQUE_COUNT cannot carry a number (it would need the set): RECURRING_NOT_SUPPORTED.
- A *prorated* charge on a recurring COUNT or SUM metric (seats) counts each unit for the local
  days it was in use ÷ the days of the full billing period, as Lago does: the carried units for
  every day of the window, a unit added on a day from that day on, a unit removed on a day up to
  and including that day -- a day counts when the unit was in use at some moment of it, so a unit
  removed exactly at a local midnight is not billed for the day that midnight starts. E.g. in a
  30-day month, 10 seats all month and +5 on the 16th: 10 + 5 x 15/30 = 12.5 units. The day by
  day level (`daily_levels`) is what prorated GRADUATED and VOLUME price; see `prorated_units`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import (
    AggregationNotCombinable,
    FieldNameRequired,
    InvalidPeriod,
    ProrationNotSupported,
    RecurringNotSupported,
)
from domain.money import require_decimal
from domain.periods import Period, local_date, local_midnight, require_aware

PRORATABLE = frozenset({"COUNT", "SUM"})
"""Aggregations of recurring metrics whose charges may be prorated (a level of units changed by events)."""


class Aggregation(enum.StrEnum):
    COUNT = "COUNT"
    SUM = "SUM"
    MAX = "MAX"
    UNIQUE_COUNT = "UNIQUE_COUNT"
    LATEST = "LATEST"
    WEIGHTED_SUM = "WEIGHTED_SUM"


COMBINABLE = frozenset({Aggregation.COUNT, Aggregation.SUM, Aggregation.MAX})
"""Aggregations whose partial results over disjoint event sets `combine` exactly."""

_ZERO = Decimal(0)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One usage event as the metric sees it."""

    timestamp: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)
    transaction_id: str = ""

    def __post_init__(self) -> None:
        require_aware(self.timestamp, "timestamp")


def validate_metric(aggregation: Aggregation, field_name: str | None, recurring: bool) -> None:
    """Check a billable metric's definition (FIELD_NAME_REQUIRED, RECURRING_NOT_SUPPORTED)."""
    aggregation = Aggregation(aggregation)
    if aggregation is not Aggregation.COUNT and not field_name:
        raise FieldNameRequired(f"{aggregation} needs the event property to aggregate", field=("fieldName",))
    if recurring and aggregation is Aggregation.UNIQUE_COUNT:
        raise RecurringNotSupported(
            "UNIQUE_COUNT cannot be recurring; use SUM of +1/-1 or LATEST", field=("recurring",)
        )


def numeric_value(value: object) -> Decimal | None:
    """The exact number a property value holds, or None if it holds none."""
    if isinstance(value, float):
        raise TypeError("property values must be parsed as Decimal, never float")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        # Decimal() also reads "NaN", "Infinity" and "1_000"; none is a JSON number.
        return number if number.is_finite() and "_" not in value else None
    return None


def dimension_text(value: object) -> str | None:
    """A property value as JSON text for filters and UNIQUE_COUNT, None if not a scalar."""
    if isinstance(value, float):
        raise TypeError("property values must be parsed as Decimal, never float")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    return None


def matches_filters(properties: Mapping[str, Any], filters: Mapping[str, Sequence[str]] | None) -> bool:
    """Whether an event's properties pass every filter dimension."""
    if not filters:
        return True
    for dimension, allowed in filters.items():
        if dimension_text(properties.get(dimension)) not in allowed:
            return False
    return True


def event_contribution(
    aggregation: Aggregation,
    event: UsageEvent,
    field_name: str | None,
    filters: Mapping[str, Sequence[str]] | None = None,
) -> Decimal | None:
    """One event's partial aggregate for COUNT/SUM/MAX (None: the event does not count)."""
    aggregation = Aggregation(aggregation)
    if aggregation not in COMBINABLE:
        raise AggregationNotCombinable(f"{aggregation} has no per-event partial aggregate")
    if not matches_filters(event.properties, filters):
        return None
    if aggregation is Aggregation.COUNT:
        return Decimal(1)
    return numeric_value(event.properties.get(field_name or ""))


def combine(aggregation: Aggregation, first: Decimal | None, second: Decimal | None) -> Decimal | None:
    """Merge partial aggregates of disjoint event sets (None: no event counted)."""
    aggregation = Aggregation(aggregation)
    if aggregation not in COMBINABLE:
        raise AggregationNotCombinable(f"{aggregation} partials cannot be combined")
    if first is None:
        return second
    if second is None:
        return first
    first, second = require_decimal(first, "first"), require_decimal(second, "second")
    if aggregation is Aggregation.MAX:
        return max(first, second)
    return first + second


def _sort_key(event: UsageEvent) -> tuple[datetime, str]:
    return event.timestamp, event.transaction_id


def _weighted_sum(
    events: list[UsageEvent], field_name: str, period: Period, opening_level: Decimal, full_period: Period
) -> Decimal:
    level = opening_level
    weighted = _ZERO
    since = period.start
    for event in sorted(events, key=_sort_key):
        increment = numeric_value(event.properties.get(field_name))
        if increment is None:
            continue
        weighted += level * ((event.timestamp - since) // _MICROSECOND)
        since = event.timestamp
        level += increment
    weighted += level * ((period.end - since) // _MICROSECOND)
    return weighted / (full_period.duration // _MICROSECOND)


def _enclosing(period: Period, full_period: Period | None) -> Period:
    if full_period is None:
        return period
    if not isinstance(full_period, Period):
        raise TypeError(f"full_period must be a Period, not {type(full_period).__name__}")
    if not (full_period.start <= period.start and period.end <= full_period.end):
        raise InvalidPeriod("the period must lie within its full billing period", field=("fullPeriod",))
    return full_period


def aggregate(
    aggregation: Aggregation,
    events: Iterable[UsageEvent],
    field_name: str | None,
    period: Period,
    filters: Mapping[str, Sequence[str]] | None = None,
    carried_value: Decimal | None = None,
    full_period: Period | None = None,
) -> Decimal:
    """The metric's value over `period` (the charge's units).

    `full_period` is the billing period that `period` is part of (default: `period` itself); only
    WEIGHTED_SUM reads it, as the time it averages over."""
    aggregation = Aggregation(aggregation)
    validate_metric(aggregation, field_name, recurring=carried_value is not None)
    full_period = _enclosing(period, full_period)
    carried = None if carried_value is None else require_decimal(carried_value, "carried_value")
    start, end = period.start, period.end
    counted = [
        event for event in events if start <= event.timestamp < end and matches_filters(event.properties, filters)
    ]
    if aggregation is Aggregation.COUNT:
        return Decimal(len(counted)) + (carried or _ZERO)

    assert field_name is not None  # validate_metric requires it beyond COUNT
    if aggregation is Aggregation.WEIGHTED_SUM:
        return _weighted_sum(counted, field_name, period, carried or _ZERO, full_period)
    if aggregation is Aggregation.UNIQUE_COUNT:
        distinct = {dimension_text(event.properties.get(field_name)) for event in counted}
        distinct.discard(None)
        return Decimal(len(distinct))
    if aggregation is Aggregation.LATEST:
        for event in sorted(counted, key=_sort_key, reverse=True):
            value = numeric_value(event.properties.get(field_name))
            if value is not None:
                return value
        return carried or _ZERO

    values = [numeric_value(event.properties.get(field_name)) for event in counted]
    numbers = [value for value in values if value is not None]
    if aggregation is Aggregation.SUM:
        return sum(numbers, carried or _ZERO)
    if carried is not None:
        numbers.append(carried)
    return max(numbers, default=_ZERO)


def validate_proration(aggregation: Aggregation, recurring: bool) -> None:
    """Whether a charge on this metric may be prorated (PRORATION_NOT_SUPPORTED otherwise)."""
    if not recurring or Aggregation(aggregation) not in PRORATABLE:
        raise ProrationNotSupported(
            "only charges on a recurring COUNT or SUM metric can be prorated", field=("prorated",)
        )


@dataclass(frozen=True, slots=True)
class DailyLevels:
    """A recurring metric's level on each billed local day of a window, in runs of equal days.

    A day's level is the level at its start plus what was added during it (a unit removed during
    a day was in use that day). `closing` is the level at the window's end, the units a charge that
    is not prorated counts; `full_period_days` divides unit-days into units."""

    runs: tuple[tuple[Decimal, int], ...]  # (level, days), in order
    full_period_days: int
    opening: Decimal
    closing: Decimal

    @property
    def unit_days(self) -> Decimal:
        return sum((level * days for level, days in self.runs), _ZERO)

    @property
    def units(self) -> Decimal:
        """Unit-days ÷ the days of the full billing period (a prorated STANDARD charge's units)."""
        return self.unit_days / self.full_period_days

    @property
    def peak(self) -> Decimal:
        """The highest level of a billed day (the opening level if no day is billed)."""
        return max((level for level, _ in self.runs), default=self.opening)

    def unit_days_between(self, lower: Decimal, upper: Decimal | None) -> Decimal:
        """Unit-days of the units above `lower` and up to `upper` (None: no upper bound), day by day."""
        total = _ZERO
        for level, days in self.runs:
            top = level if upper is None else min(level, upper)
            if top > lower:
                total += (top - lower) * days
        return total


def daily_levels(
    aggregation: Aggregation,
    events: Iterable[UsageEvent],
    field_name: str | None,
    window: Period,
    full_period_days: int,
    tz: str,
    filters: Mapping[str, Sequence[str]] | None = None,
    carried_value: Decimal | None = None,
    days_until: datetime | None = None,
) -> DailyLevels:
    """The level of a prorated charge's metric on each local day of `window` it bills.

    The level opens at `carried_value` on the window's first local day; an event changes it by its
    value (COUNT: +1). An increase counts from its local day, a decrease from the day after its own
    (from its own day when it happens exactly at that day's local midnight: the unit was not in use
    that day). The days run from the window's first local day to the local day of `days_until`
    (default: the window's end), excluded: a window cut by a plan change leaves the change day to
    the next plan, as fees do; a termination passes the end of its day, which it bills.
    """
    aggregation = Aggregation(aggregation)
    validate_proration(aggregation, recurring=True)
    validate_metric(aggregation, field_name, recurring=True)
    if not isinstance(full_period_days, int) or isinstance(full_period_days, bool) or full_period_days <= 0:
        raise ValueError("full_period_days must be a positive int")
    after_last = local_date(require_aware(days_until or window.end, "days_until"), tz)
    first = local_date(window.start, tz)
    opening = require_decimal(carried_value or _ZERO, "carried_value")
    closing = opening
    changes: dict[date, Decimal] = {}
    for event in events:
        if not (window.start <= event.timestamp < window.end and matches_filters(event.properties, filters)):
            continue
        if aggregation is Aggregation.COUNT:
            change: Decimal | None = Decimal(1)
        else:
            change = numeric_value(event.properties.get(field_name or ""))
        if not change:
            continue
        closing += change
        day = local_date(event.timestamp, tz)
        if change < 0 and local_midnight(day, tz) != event.timestamp:
            day += timedelta(days=1)  # in use on the day it was removed
        day = max(day, first)
        changes[day] = changes.get(day, _ZERO) + change
    runs: list[tuple[Decimal, int]] = []
    level, since = opening, first
    for day in sorted(d for d in changes if d < after_last):
        if day > since:
            runs.append((level, (day - since).days))
        level, since = level + changes[day], max(since, day)
    if after_last > since:
        runs.append((level, (after_last - since).days))
    return DailyLevels(tuple(runs), full_period_days, opening, closing)


def prorated_units(
    aggregation: Aggregation,
    events: Iterable[UsageEvent],
    field_name: str | None,
    window: Period,
    full_period_days: int,
    tz: str,
    filters: Mapping[str, Sequence[str]] | None = None,
    carried_value: Decimal | None = None,
    days_until: datetime | None = None,
) -> Decimal:
    """Units of a prorated charge: unit-days in use over `window` ÷ the days of the full period (see `daily_levels`)."""
    return daily_levels(
        aggregation, events, field_name, window, full_period_days, tz, filters, carried_value, days_until
    ).units


def closing_value(
    aggregation: Aggregation,
    events: Iterable[UsageEvent],
    field_name: str | None,
    period: Period,
    filters: Mapping[str, Sequence[str]] | None = None,
    carried_value: Decimal | None = None,
) -> Decimal:
    """The value a recurring metric carries into the next period.

    For WEIGHTED_SUM this is the level at period end (opening level plus increments), not
    the time-weighted average; for the others it is the aggregate itself.
    """
    aggregation = Aggregation(aggregation)
    if aggregation is Aggregation.WEIGHTED_SUM:
        aggregation = Aggregation.SUM
    return aggregate(aggregation, events, field_name, period, filters, carried_value)
