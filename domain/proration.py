"""Day-based proration, trials, upgrades and downgrades, minimum commitments.

The one rule of partial periods: an amount priced per billing period is measured over the part of
the period that the subscription covers and divided by the *full* billing period, never by the
covered part. `PeriodShare` (days billed / days in the full period) is that rule for amounts
priced per period: the subscription fee, a charge's minimum, the minimum commitment. The same
denominator serves amounts measured over time: a prorated charge divides its unit-days by the
full period's days (`aggregation.daily_levels`), a WEIGHTED_SUM divides its value-seconds by the
full period's seconds (`aggregation.aggregate(full_period=...)`). So a full period prorates to
itself, and two parts of a period never bill more than the whole.

Decisions for docs/:

- Proration counts calendar days in the customer's time zone: fee x days billed / days in
  the full period (for a partial first CALENDAR period, the whole calendar period:
  `periods.full_period_containing`). Amounts stay unrounded; the invoice line rounds.
- A day is billed when the service covers it: from the local date of `service_start`
  (that day included) up to the local date of `service_end` (that day excluded). Trial days,
  up to the local date of `trial_end` (excluded), are not billed.
- A plan change costing strictly more per year (`annualized_price`) is an upgrade and takes
  effect at once: the old plan is billed to the day before the change day, the new plan from
  the change day (pass the change moment as the old plan's `service_end` and the new plan's
  `service_start`), and the unused days of a fee paid in advance, change day included, are
  credited. An equal or cheaper plan is a downgrade and takes effect at period end.
- Termination bills the termination day: the service ends at `end_of_local_day`.
- A true-up is max(0, minimum - fees); the minimum is prorated first for a partial period, by the
  same share as the fee (`PeriodShare.of`): a charge minimum over the days its charge covers, the
  minimum commitment over the days billed (trial days excluded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from domain.errors import InvalidProrationDays, PlanChangeOutsidePeriod
from domain.money import require_decimal
from domain.periods import Interval, Period, days_in, local_date, local_midnight, require_aware

_ZERO = Decimal(0)

PERIODS_PER_YEAR: dict[Interval, int] = {
    Interval.WEEKLY: 52,
    Interval.MONTHLY: 12,
    Interval.QUARTERLY: 4,
    Interval.YEARLY: 1,
}


def _require_days(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def prorated_amount(fee: Decimal, days_billed: int, days_in_period: int) -> Decimal:
    """fee x days billed / days in the period, unrounded."""
    fee = require_decimal(fee, "fee")
    days_billed = _require_days(days_billed, "days_billed")
    days_in_period = _require_days(days_in_period, "days_in_period")
    if days_in_period <= 0 or not 0 <= days_billed <= days_in_period:
        raise InvalidProrationDays(f"cannot bill {days_billed} of {days_in_period} days", field=("daysBilled",))
    if days_billed == days_in_period:
        return fee  # no division, so a whole period is never off by a rounding digit
    return fee * days_billed / days_in_period


@dataclass(frozen=True, slots=True)
class PeriodShare:
    """The part of a full billing period that a (partial) period bills: days billed / days in the full period."""

    days_billed: int
    days_in_period: int

    def __post_init__(self) -> None:
        prorated_amount(Decimal(0), self.days_billed, self.days_in_period)  # validates both counts

    @property
    def whole(self) -> bool:
        return self.days_billed == self.days_in_period

    @property
    def fraction(self) -> Decimal:
        """days billed / days in the period (exactly 1 for a whole period)."""
        return Decimal(1) if self.whole else Decimal(self.days_billed) / Decimal(self.days_in_period)

    def of(self, amount: Decimal) -> Decimal:
        """`amount` (priced per full period) for the days billed, unrounded; a whole period is `amount` itself."""
        return prorated_amount(amount, self.days_billed, self.days_in_period)


WHOLE_PERIOD = PeriodShare(1, 1)
"""The share of a period billed in full (a charge minimum when nothing says otherwise)."""


def period_share(
    period: Period,
    full_period: Period,
    tz: str,
    service_start: datetime | None = None,
    service_end: datetime | None = None,
    trial_end: datetime | None = None,
) -> PeriodShare:
    """The share of `full_period` billed for the days of `period` that the service covers (trial days excluded)."""
    return PeriodShare(billable_days(period, service_start, service_end, trial_end, tz), days_in(full_period, tz))


def end_of_local_day(at: datetime, tz: str) -> datetime:
    """The next local midnight after `at`: a service ending then includes `at`'s day."""
    return local_midnight(local_date(at, tz) + timedelta(days=1), tz)


def trial_end(started_at: datetime, trial_period_days: int, tz: str) -> datetime | None:
    """When a trial of `trial_period_days` whole days begun on `started_at`'s day ends."""
    trial_period_days = _require_days(trial_period_days, "trial_period_days")
    if trial_period_days < 0:
        raise InvalidProrationDays("trial days must not be negative", field=("trialPeriodDays",))
    if trial_period_days == 0:
        return None
    return local_midnight(local_date(started_at, tz) + timedelta(days=trial_period_days), tz)


def billable_days(
    period: Period,
    service_start: datetime | None,
    service_end: datetime | None,
    trial_end: datetime | None,
    tz: str,
) -> int:
    """Calendar days in `tz` of `period` that the service covers, trial days excluded."""
    first = local_date(period.start, tz)
    after_last = first + timedelta(days=days_in(period, tz))
    if service_start is not None:
        first = max(first, local_date(require_aware(service_start, "service_start"), tz))
    if trial_end is not None:
        first = max(first, local_date(require_aware(trial_end, "trial_end"), tz))
    if service_end is not None:
        after_last = min(after_last, local_date(require_aware(service_end, "service_end"), tz))
    return max((after_last - first).days, 0)


def period_fee(
    fee: Decimal,
    period: Period,
    full_period: Period,
    tz: str,
    service_start: datetime | None = None,
    service_end: datetime | None = None,
    trial_end: datetime | None = None,
) -> Decimal:
    """The recurring fee for the billed days of `period`, prorated over `full_period`."""
    return period_share(period, full_period, tz, service_start, service_end, trial_end).of(fee)


def annualized_price(amount: Decimal, interval: Interval) -> Decimal:
    """What a plan's recurring amount costs per year (52 weeks, 12 months, 4 quarters)."""
    return require_decimal(amount, "amount") * PERIODS_PER_YEAR[Interval(interval)]


def is_upgrade(old_amount: Decimal, old_interval: Interval, new_amount: Decimal, new_interval: Interval) -> bool:
    """Whether the new plan costs strictly more per year than the old one."""
    return annualized_price(new_amount, new_interval) > annualized_price(old_amount, old_interval)


def plan_change_effective(is_upgrade: bool, change_at: datetime, period: Period) -> datetime:
    """When a plan change applies: at once for an upgrade, at period end for a downgrade."""
    require_aware(change_at, "change_at")
    if change_at not in period:
        raise PlanChangeOutsidePeriod("the change must happen within the current period", field=("changeAt",))
    return change_at if is_upgrade else period.end


def unused_credit(fee_paid_in_advance: Decimal, period: Period, change_at: datetime, tz: str) -> Decimal:
    """The part of a fee paid in advance for `period` that covers the change day onwards."""
    if require_aware(change_at, "change_at") not in period:
        raise PlanChangeOutsidePeriod("the change must happen within the paid period", field=("changeAt",))
    unused = billable_days(period, change_at, None, None, tz)
    return prorated_amount(fee_paid_in_advance, unused, days_in(period, tz))


def true_up(minimum_commitment: Decimal, fees_total: Decimal) -> Decimal:
    """The fee that lifts `fees_total` to the minimum commitment (0 if already reached)."""
    shortfall = require_decimal(minimum_commitment, "minimum_commitment") - require_decimal(fees_total, "fees_total")
    return shortfall if shortfall > 0 else _ZERO
