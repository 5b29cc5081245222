"""Revenue analytics: MRR at an instant, MRR movements, retention, ARPU, buckets of a range.

Decisions for docs/ (docs/analytics.md restates them with a worked example):

- MRR at an instant is the sum of the subscription fees of subscriptions that count then,
  normalized to a month (weekly x 52 / 12, quarterly / 3, yearly / 12), after coupons that
  recur, before tax, per currency. A subscription counts from `started_at` while it is not
  trialing (`trial_ends_at`) and until it ends (`ended_at`: a termination at its moment, a
  cancel at its `endingAt`), so PENDING, TRIALING, CANCELED and TERMINATED give 0; ACTIVE and
  PAST_DUE count. The fee is the one of the plan phase in effect at that instant (overrides
  included). Usage charges are not MRR: they are usage revenue.
- Each subscription's monthly fee is rounded once, half away from zero, to its currency's
  minor unit (the project's one rule, `money.round_minor`); a customer's MRR is the sum of
  those rounded fees less its recurring discounts, each rounded once. Every total above is a
  sum of rounded amounts, so the movements add up to the cent.
- Coupons that recur are REPEATING (while they last) and FOREVER; a ONCE coupon never
  changes MRR. They apply to a customer's MRR in a currency in the order they were applied, as
  on an invoice: a percentage takes its percent of what earlier coupons left; a fixed amount
  (only in its own currency) takes its amount once per invoice, so its monthly value is its
  amount normalized by the shortest interval among the customer's counting subscriptions,
  capped at what is left. A coupon discounts subscription fees only here (MRR has no usage).
- Movements compare each customer's MRR in a currency at two instants: new (0 -> positive,
  never positive before), reactivation (0 -> positive after having been positive before),
  expansion (up), contraction (down, still positive), churned (positive -> 0). Per customer
  start + new + expansion + reactivation - contraction - churned = end, hence per bucket.
- ARR = 12 x MRR. ARPU = MRR / customers with MRR > 0, rounded once (0 with none).
- NRR = (start + expansion - contraction - churned) / start and GRR = (start - contraction -
  churned) / start, as percents with 2 decimal places, half away from zero ("97.50" = 97.5 %);
  None when start MRR is 0.
- A range is two local dates, both included. Buckets are calendar days, Monday weeks or
  calendar months in the given time zone, the first and last clipped to the range, so the
  buckets tile it. A bucket's start instant is local midnight of its first day; its end instant
  local midnight after its last day (the next bucket's start). A point's MRR is the MRR at its
  end instant. At most 5 years; `to` before `from` is refused.
- Nothing is forecast: given `as_of` (now), a bucket's instants are never later than it, so a
  bucket in progress shows the figures so far and a bucket still to come shows no movement.
- Amounts are never converted or summed between currencies: every function here takes one.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

from domain.coupons import Coupon, CouponDuration, CouponKind
from domain.errors import AnalyticsRangeTooLong, InvalidAnalyticsRange, InvalidRankingLimit
from domain.money import from_minor_units, require_decimal, round_minor, validate_currency
from domain.periods import Interval, add_months_clamped, local_midnight, require_aware
from domain.proration import PERIODS_PER_YEAR

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_PERCENT_PLACES = Decimal("0.01")
MONTHS_PER_YEAR = 12
MAX_RANGE_MONTHS = 60
"""A range holds at most 5 years of days."""


# --- buckets ----------------------------------------------------------------------------


class Granularity(enum.StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"  # Monday weeks, as CALENDAR billing weeks
    MONTH = "MONTH"


@dataclass(frozen=True, slots=True)
class Bucket:
    """Local dates `first_day` to `last_day`, both included."""

    first_day: date
    last_day: date

    def starts_at(self, tz: str) -> datetime:
        return local_midnight(self.first_day, tz)

    def ends_at(self, tz: str) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1), tz)


def _next_bucket_start(day: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return day + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return day + timedelta(days=7 - day.weekday())
    return add_months_clamped(day.replace(day=1), 1)


EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def check_range(first_day: date, last_day: date) -> None:
    """Refuse `last_day` before `first_day`, ranges over 5 years, and dates before 1970 or after 9998."""
    if first_day < EARLIEST_DAY or last_day > LATEST_DAY:
        raise InvalidAnalyticsRange(
            f"dates go from {EARLIEST_DAY} to {LATEST_DAY}", field=("from",) if first_day < EARLIEST_DAY else ("to",)
        )
    if last_day < first_day:
        raise InvalidAnalyticsRange("`to` must not be before `from`", field=("to",))
    if last_day >= add_months_clamped(first_day, MAX_RANGE_MONTHS):
        raise AnalyticsRangeTooLong("a range covers at most 5 years", field=("to",))


def buckets(first_day: date, last_day: date, granularity: Granularity) -> list[Bucket]:
    """The days, Monday weeks or calendar months of [first_day, last_day], clipped to it."""
    check_range(first_day, last_day)
    granularity = Granularity(granularity)
    result = []
    day = first_day
    while day <= last_day:
        after = _next_bucket_start(day, granularity)
        result.append(Bucket(day, min(after - timedelta(days=1), last_day)))
        day = after
    return result


# --- MRR of a subscription and of a customer ------------------------------------------


def monthly_amount(amount: Decimal, interval: Interval) -> Decimal:
    """A recurring fee per month, unrounded: weekly x 52 / 12, quarterly / 3, yearly / 12."""
    periods_per_year = PERIODS_PER_YEAR[Interval(interval)]
    amount = require_decimal(amount, "amount")
    if periods_per_year == MONTHS_PER_YEAR:
        return amount
    return amount * periods_per_year / MONTHS_PER_YEAR


@dataclass(frozen=True, slots=True)
class FeePhase:
    """A stretch of a subscription on one recurring fee: [starts_at, ends_at)."""

    starts_at: datetime
    ends_at: datetime | None
    amount: Decimal
    interval: Interval
    currency: str
    monthly_fee: Decimal = field(init=False, compare=False)
    """The phase's fee as MRR: normalized to a month, rounded once."""

    def __post_init__(self) -> None:
        require_aware(self.starts_at, "starts_at")
        if self.ends_at is not None:
            require_aware(self.ends_at, "ends_at")
        object.__setattr__(self, "amount", require_decimal(self.amount, "amount"))
        object.__setattr__(self, "interval", Interval(self.interval))
        validate_currency(self.currency)
        object.__setattr__(self, "monthly_fee", round_minor(monthly_amount(self.amount, self.interval), self.currency))

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)


@dataclass(frozen=True, slots=True)
class SubscriptionHistory:
    """What MRR needs of a subscription: when it counts, and its fee over time."""

    started_at: datetime
    phases: tuple[FeePhase, ...]
    trial_ends_at: datetime | None = None
    ended_at: datetime | None = None  # terminated, or the end of a cancel (`endingAt`)

    def __post_init__(self) -> None:
        require_aware(self.started_at, "started_at")
        for name in ("trial_ends_at", "ended_at"):
            value = getattr(self, name)
            if value is not None:
                require_aware(value, name)
        object.__setattr__(self, "phases", tuple(self.phases))

    def counts_at(self, at: datetime) -> bool:
        """ACTIVE or PAST_DUE at `at`: started, not trialing, not ended."""
        if at < self.started_at:
            return False
        if self.trial_ends_at is not None and at < self.trial_ends_at:
            return False
        return self.ended_at is None or at < self.ended_at

    def phase_at(self, at: datetime) -> FeePhase | None:
        for phase in reversed(self.phases):  # the latest phase that covers `at` wins
            if phase.covers(at):
                return phase
        return None

    def fee_at(self, at: datetime) -> FeePhase | None:
        """The phase whose fee counts as MRR at `at`, if the subscription counts then."""
        return self.phase_at(at) if self.counts_at(at) else None

    def change_points(self) -> Iterable[datetime]:
        yield self.started_at
        if self.trial_ends_at is not None:
            yield self.trial_ends_at
        if self.ended_at is not None:
            yield self.ended_at
        for phase in self.phases:
            yield phase.starts_at
            if phase.ends_at is not None:
                yield phase.ends_at


@dataclass(frozen=True, slots=True)
class RecurringCoupon:
    """A coupon applied to a customer, discounting from `starts_at` until `ends_at` (used up)."""

    coupon: Coupon
    starts_at: datetime
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.starts_at, "starts_at")
        if self.ends_at is not None:
            require_aware(self.ends_at, "ends_at")

    @property
    def recurs(self) -> bool:
        return self.coupon.duration is not CouponDuration.ONCE

    def active_at(self, at: datetime) -> bool:
        return self.recurs and self.starts_at <= at and (self.ends_at is None or at < self.ends_at)


def discounted_mrr(
    fees: Sequence[FeePhase], coupons: Sequence[RecurringCoupon], currency: str, at: datetime
) -> Decimal:
    """A customer's MRR in `currency` from the fees that count at `at`, after its recurring coupons."""
    own = [fee for fee in fees if fee.currency == currency]
    if not own:
        return _ZERO
    left = sum((fee.monthly_fee for fee in own), _ZERO)
    if not coupons:
        return left
    shortest = max(PERIODS_PER_YEAR[fee.interval] for fee in own)  # most invoices per year
    for applied in coupons:
        if left <= 0 or not applied.active_at(at):
            continue
        coupon = applied.coupon
        if coupon.kind is CouponKind.PERCENTAGE:
            assert coupon.percentage is not None
            discount = round_minor(left * coupon.percentage / _HUNDRED, currency)
        else:
            if coupon.currency != currency:
                continue
            assert coupon.amount is not None
            discount = round_minor(coupon.amount * shortest / MONTHS_PER_YEAR, currency)
        left -= min(discount, left)
    return round_minor(left, currency)


@dataclass(frozen=True)
class CustomerHistory:
    """A customer's subscriptions and coupons (in the order applied); MRR as a step function."""

    customer: str
    subscriptions: tuple[SubscriptionHistory, ...]
    coupons: tuple[RecurringCoupon, ...] = ()
    _steps: list[datetime] = field(init=False, repr=False, compare=False)
    _values: list[dict[str, Decimal]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subscriptions", tuple(self.subscriptions))
        object.__setattr__(self, "coupons", tuple(self.coupons))
        points: set[datetime] = set()
        for subscription in self.subscriptions:
            points.update(subscription.change_points())
        for applied in self.coupons:
            points.add(applied.starts_at)
            if applied.ends_at is not None:
                points.add(applied.ends_at)
        # MRR is constant between two change points: evaluate it once at each.
        steps = sorted(points)
        object.__setattr__(self, "_steps", steps)
        object.__setattr__(self, "_values", [self._compute(at) for at in steps])

    def _compute(self, at: datetime) -> dict[str, Decimal]:
        fees = [fee for sub in self.subscriptions if (fee := sub.fee_at(at)) is not None]
        currencies = {fee.currency for fee in fees}
        return {currency: discounted_mrr(fees, self.coupons, currency, at) for currency in currencies}

    @property
    def currencies(self) -> set[str]:
        return {phase.currency for sub in self.subscriptions for phase in sub.phases}

    def mrr_at(self, at: datetime, currency: str) -> Decimal:
        """The customer's MRR in `currency` at the instant `at`."""
        index = bisect_right(self._steps, require_aware(at, "at")) - 1
        if index < 0:
            return _ZERO
        return self._values[index].get(currency, _ZERO)

    def values_at(self, instants: Sequence[datetime], currency: str) -> tuple[Decimal, list[Decimal] | None]:
        """MRR in `currency` at each of the sorted `instants`: (the value, None) when it is the same at all."""
        steps, values = self._steps, self._values
        low = bisect_right(steps, instants[0])
        high = bisect_right(steps, instants[-1])
        first = values[low - 1].get(currency, _ZERO) if low else _ZERO
        if low == high:
            return first, None
        found, index, last = [], low - 1, len(steps) - 1
        for at in instants:
            while index < last and steps[index + 1] <= at:
                index += 1
            found.append(values[index].get(currency, _ZERO) if index >= 0 else _ZERO)
        return first, found

    def next_change_after(self, at: datetime) -> datetime | None:
        """The first instant after `at` at which this customer's MRR may change (None: never again)."""
        index = bisect_right(self._steps, require_aware(at, "at"))
        return self._steps[index] if index < len(self._steps) else None

    def first_positive_at(self, currency: str) -> datetime | None:
        """The first instant with MRR above 0 in `currency` (None if never)."""
        return next(
            (at for at, values in zip(self._steps, self._values, strict=True) if values.get(currency, 0) > 0), None
        )


# --- movements --------------------------------------------------------------------------


class MovementKind(enum.StrEnum):
    NEW = "NEW"
    EXPANSION = "EXPANSION"
    CONTRACTION = "CONTRACTION"
    CHURNED = "CHURNED"
    REACTIVATION = "REACTIVATION"


def classify(start: Decimal, end: Decimal, had_mrr_before: bool) -> tuple[MovementKind, Decimal] | None:
    """The movement between a customer's MRR at two instants, with its (positive) amount.

    `had_mrr_before`: the customer had MRR above 0 at some instant before the first one.
    """
    if start == end:
        return None
    if start == 0:
        return (MovementKind.REACTIVATION if had_mrr_before else MovementKind.NEW), end
    if end == 0:
        return MovementKind.CHURNED, start
    if end > start:
        return MovementKind.EXPANSION, end - start
    return MovementKind.CONTRACTION, start - end


@dataclass(frozen=True, slots=True)
class Movements:
    """MRR of a set of customers at two instants in one currency, and what moved it."""

    start_mrr: Decimal = _ZERO
    end_mrr: Decimal = _ZERO
    new: Decimal = _ZERO
    expansion: Decimal = _ZERO
    contraction: Decimal = _ZERO
    churned: Decimal = _ZERO
    reactivation: Decimal = _ZERO
    active_customers: int = 0  # MRR > 0 at the end
    new_customers: int = 0
    churned_customers: int = 0
    reactivated_customers: int = 0


def movements(customers: Iterable[CustomerHistory], currency: str, starts_at: datetime, ends_at: datetime) -> Movements:
    """Each customer's MRR in `currency` at `starts_at` and `ends_at`, classified and summed."""
    return movement_series(customers, currency, [(starts_at, ends_at)])[0]


def movement_series(
    customers: Iterable[CustomerHistory], currency: str, windows: Sequence[tuple[datetime, datetime]]
) -> list[Movements]:
    """`movements` of each (start, end) window, reading each customer's MRR once per distinct instant."""
    for starts_at, ends_at in windows:
        require_aware(starts_at, "starts_at")
        require_aware(ends_at, "ends_at")
    instants = sorted({at for window in windows for at in window})
    if not instants:
        return []
    position = {at: index for index, at in enumerate(instants)}
    pairs = [(position[starts_at], position[ends_at]) for starts_at, ends_at in windows]
    count = len(windows)
    zero = round_minor(_ZERO, currency)  # "0.00" in USD, "0" in JPY
    totals = {name: [zero] * count for name in ("start_mrr", "end_mrr", *(kind.lower() for kind in MovementKind))}
    tallies = {name: [0] * count for name in ("active_customers", "new_customers", "churned_customers")}
    tallies["reactivated_customers"] = [0] * count
    steady, steady_active = zero, 0  # customers whose MRR does not change over the windows
    for customer in customers:
        constant, values = customer.values_at(instants, currency)
        if values is None:
            if constant > 0:
                steady += constant
                steady_active += 1
            continue
        for index, (start_index, end_index) in enumerate(pairs):
            start, end = values[start_index], values[end_index]
            totals["start_mrr"][index] += start
            totals["end_mrr"][index] += end
            if end > 0:
                tallies["active_customers"][index] += 1
            if start == end:
                continue
            had_before = False
            if start == 0:
                first = customer.first_positive_at(currency)
                had_before = first is not None and first < windows[index][0]
            moved = classify(start, end, had_before)
            assert moved is not None
            kind, amount = moved
            totals[kind.lower()][index] += amount
            if kind is not MovementKind.EXPANSION and kind is not MovementKind.CONTRACTION:
                name = {"NEW": "new", "CHURNED": "churned", "REACTIVATION": "reactivated"}[kind.value]
                tallies[f"{name}_customers"][index] += 1
    return [
        Movements(
            start_mrr=totals["start_mrr"][index] + steady,
            end_mrr=totals["end_mrr"][index] + steady,
            new=totals["new"][index],
            expansion=totals["expansion"][index],
            contraction=totals["contraction"][index],
            churned=totals["churned"][index],
            reactivation=totals["reactivation"][index],
            active_customers=tallies["active_customers"][index] + steady_active,
            new_customers=tallies["new_customers"][index],
            churned_customers=tallies["churned_customers"][index],
            reactivated_customers=tallies["reactivated_customers"][index],
        )
        for index in range(count)
    ]


# --- ratios and points ------------------------------------------------------------------


def _percent(numerator: Decimal, denominator: Decimal) -> Decimal:
    return (numerator * _HUNDRED / denominator).quantize(_PERCENT_PLACES, rounding=ROUND_HALF_UP)


def net_revenue_retention(moved: Movements) -> Decimal | None:
    """(start + expansion - contraction - churned) / start, in percent; None when start is 0."""
    if moved.start_mrr == 0:
        return None
    return _percent(moved.start_mrr + moved.expansion - moved.contraction - moved.churned, moved.start_mrr)


def gross_revenue_retention(moved: Movements) -> Decimal | None:
    """(start - contraction - churned) / start, in percent; None when start is 0."""
    if moved.start_mrr == 0:
        return None
    return _percent(moved.start_mrr - moved.contraction - moved.churned, moved.start_mrr)


def arr(mrr: Decimal) -> Decimal:
    return MONTHS_PER_YEAR * require_decimal(mrr, "mrr")


def arpu(mrr: Decimal, active_customers: int, currency: str) -> Decimal:
    """MRR per customer with MRR > 0, rounded once; 0 with no such customer."""
    if active_customers <= 0:
        return round_minor(_ZERO, currency)
    return round_minor(require_decimal(mrr, "mrr") / active_customers, currency)


@dataclass(frozen=True, slots=True)
class MrrPoint:
    """The MRR figures of one bucket in one currency."""

    bucket: Bucket
    currency: str
    movements: Movements

    @property
    def mrr(self) -> Decimal:
        return self.movements.end_mrr

    @property
    def arr(self) -> Decimal:
        return arr(self.mrr)

    @property
    def arpu(self) -> Decimal:
        return arpu(self.mrr, self.movements.active_customers, self.currency)

    @property
    def net_revenue_retention(self) -> Decimal | None:
        return net_revenue_retention(self.movements)

    @property
    def gross_revenue_retention(self) -> Decimal | None:
        return gross_revenue_retention(self.movements)


def bucket_window(bucket: Bucket, tz: str, as_of: datetime | None = None) -> tuple[datetime, datetime]:
    """The instants a bucket's figures compare: its start and end, neither later than `as_of`.

    Nothing is forecast: a bucket in progress ends at `as_of`, one still to come is empty.
    """
    starts_at, ends_at = bucket.starts_at(tz), bucket.ends_at(tz)
    if as_of is not None:
        require_aware(as_of, "as_of")
        starts_at, ends_at = min(starts_at, as_of), min(ends_at, as_of)
    return starts_at, ends_at


def mrr_points(
    customers: Sequence[CustomerHistory],
    currency: str,
    first_day: date,
    last_day: date,
    granularity: Granularity,
    tz: str,
    as_of: datetime | None = None,
) -> list[MrrPoint]:
    """MRR and its movements per bucket of [first_day, last_day] in time zone `tz`, up to `as_of`."""
    validate_currency(currency)
    found = buckets(first_day, last_day, granularity)
    series = movement_series(customers, currency, [bucket_window(bucket, tz, as_of) for bucket in found])
    return [MrrPoint(bucket, currency, moved) for bucket, moved in zip(found, series, strict=True)]


# --- invoiced, collected, overdue, usage revenue ---------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceFact:
    """A finalized invoice as the cash figures see it."""

    currency: str
    finalized_at: datetime
    total: Decimal
    amount_due: Decimal  # what is left to pay while it is open
    due_at: datetime | None = None
    closed_at: datetime | None = None  # paid, voided or made uncollectible: no longer open
    voided: bool = False  # voided since: not invoiced after all
    usage_amount: Decimal = _ZERO  # its usage fees, before tax

    @property
    def overdue_from(self) -> datetime | None:
        """From when it is open and past due (None: never)."""
        if self.due_at is None:
            return None
        return max(self.finalized_at, self.due_at)


@dataclass(frozen=True, slots=True)
class PaymentFact:
    """Money received (positive) or refunded (negative)."""

    currency: str
    received_at: datetime
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CashFigures:
    invoiced: Decimal
    collected: Decimal
    overdue: Decimal
    usage_revenue: Decimal


def _in(at: datetime, starts_at: datetime, ends_at: datetime) -> bool:
    return starts_at <= at < ends_at


def _overdue_at(invoice: InvoiceFact, at: datetime) -> bool:
    since = invoice.overdue_from
    return since is not None and since < at and (invoice.closed_at is None or invoice.closed_at >= at)


def cash_figures(
    invoices: Sequence[InvoiceFact],
    payments: Sequence[PaymentFact],
    currency: str,
    starts_at: datetime,
    ends_at: datetime,
) -> CashFigures:
    """The cash figures of [starts_at, ends_at) in `currency`, by their definitions:

    invoiced and usage revenue of the invoices finalized in it (not voided since), collected there
    (less refunds), and overdue at `ends_at`: the amount due of invoices open then and past due."""
    own = [invoice for invoice in invoices if invoice.currency == currency]
    finalized = [i for i in own if not i.voided and _in(i.finalized_at, starts_at, ends_at)]
    received = [p.amount for p in payments if p.currency == currency and _in(p.received_at, starts_at, ends_at)]
    return CashFigures(
        invoiced=round_minor(sum((invoice.total for invoice in finalized), _ZERO), currency),
        collected=round_minor(sum(received, _ZERO), currency),
        overdue=round_minor(sum((i.amount_due for i in own if _overdue_at(i, ends_at)), _ZERO), currency),
        usage_revenue=round_minor(sum((invoice.usage_amount for invoice in finalized), _ZERO), currency),
    )


def cash_points(
    invoices: Iterable[InvoiceFact],
    payments: Iterable[PaymentFact],
    currency: str,
    windows: Sequence[tuple[datetime, datetime]],
) -> list[CashFigures]:
    """`cash_figures` of each window, in one pass over the invoices and payments.

    `windows` are in order and do not overlap (bucket windows, `bucket_window`)."""
    starts = [start for start, _ in windows]
    ends = [end for _, end in windows]
    if any(a > b for a, b in zip(ends, starts[1:], strict=False)) or any(s > e for s, e in windows):
        raise ValueError("windows must be in order and must not overlap")
    count = len(windows)
    invoiced, collected, usage = [_ZERO] * count, [_ZERO] * count, [_ZERO] * count
    overdue_delta = [_ZERO] * (count + 1)

    def window_of(at: datetime) -> int | None:
        index = bisect_right(starts, at) - 1
        return index if index >= 0 and at < ends[index] else None

    for invoice in invoices:
        if invoice.currency != currency:
            continue
        if not invoice.voided and (index := window_of(invoice.finalized_at)) is not None:
            invoiced[index] += invoice.total
            usage[index] += invoice.usage_amount
        since = invoice.overdue_from
        if since is None:
            continue
        first = bisect_right(ends, since)  # the first window ending after `since`
        last = count if invoice.closed_at is None else bisect_right(ends, invoice.closed_at)
        if first < last:
            overdue_delta[first] += invoice.amount_due
            overdue_delta[last] -= invoice.amount_due
    for payment in payments:
        if payment.currency == currency and (index := window_of(payment.received_at)) is not None:
            collected[index] += payment.amount
    figures, overdue = [], _ZERO
    for index in range(count):
        overdue += overdue_delta[index]
        figures.append(
            CashFigures(
                invoiced=round_minor(invoiced[index], currency),
                collected=round_minor(collected[index], currency),
                overdue=round_minor(overdue, currency),
                usage_revenue=round_minor(usage[index], currency),
            )
        )
    return figures


def invoice_moments(invoices: Iterable[InvoiceFact], as_of: datetime) -> list[datetime]:
    """The instants from `as_of` on at which the invoices alone could change figures computed at `as_of`:
    an open invoice falling due, and `as_of` itself if an invoice was finalized or closed exactly then."""
    require_aware(as_of, "as_of")
    moments = [
        since for i in invoices if i.closed_at is None and (since := i.overdue_from) is not None and since >= as_of
    ]
    # Windows end before `as_of` (half-open): what happened at `as_of` itself counts from the next instant on.
    moments += [as_of for i in invoices if as_of in (i.finalized_at, i.closed_at)]
    return moments


def valid_until(
    customers: Iterable[CustomerHistory],
    invoices: Iterable[InvoiceFact],
    found: Sequence[Bucket],
    tz: str,
    as_of: datetime,
) -> datetime | None:
    """The first instant after `as_of` at which figures computed at `as_of` may change by time alone
    (the data unchanged): an MRR change point, an open invoice falling due, a bucket boundary."""
    return valid_until_of(customers, invoice_moments(invoices, as_of), found, tz, as_of)


def valid_until_of(
    customers: Iterable[CustomerHistory],
    invoice_changes: Iterable[datetime],
    found: Sequence[Bucket],
    tz: str,
    as_of: datetime,
) -> datetime | None:
    """`valid_until` with the invoices' part given as `invoice_moments` (e.g. read in SQL)."""
    require_aware(as_of, "as_of")
    candidates = [at for customer in customers if (at := customer.next_change_after(as_of)) is not None]
    candidates += invoice_changes
    candidates += [at for bucket in found for at in (bucket.starts_at(tz), bucket.ends_at(tz)) if at > as_of]
    return min(candidates, default=None)


# --- the cash figures from sums in minor units (aggregated where the rows are) -----------


def window_thresholds(windows: Sequence[tuple[datetime, datetime]]) -> list[datetime]:
    """The boundaries of contiguous windows: the first start, then each window's end (len(windows) + 1 of them).

    Bucket windows are contiguous (each ends where the next starts, `bucket_window`), so instant `at` lies in
    window k exactly when thresholds[k] <= at < thresholds[k + 1]."""
    if not windows:
        raise ValueError("at least one window")
    for (_, end), (start, _) in pairwise(windows):
        if end != start:
            raise ValueError("windows must be contiguous: each ends where the next starts")
    if any(start > end for start, end in windows):
        raise ValueError("a window must not end before it starts")
    return [windows[0][0], *(end for _, end in windows)]


@dataclass(frozen=True, slots=True)
class CashSums:
    """The cash figures of contiguous windows as integer minor units, summed where the rows are.

    `invoiced[k]`, `usage[k]` and `collected[k]` are window k's sums (by `cash_figures`' definitions);
    `overdue_changes[k]` is what becomes overdue at window k's end less what stops being overdue then,
    so the overdue amount at the end of window k is the sum of `overdue_changes[0..k]`."""

    invoiced: Sequence[int]
    usage: Sequence[int]
    collected: Sequence[int]
    overdue_changes: Sequence[int]


def cash_points_from_sums(sums: CashSums, currency: str) -> list[CashFigures]:
    """`cash_points` from sums in minor units: the same figures, without a Decimal per invoice."""
    count = len(sums.invoiced)
    if not len(sums.usage) == len(sums.collected) == len(sums.overdue_changes) == count:
        raise ValueError("one sum of each kind per window")
    figures, overdue = [], 0
    for index in range(count):
        overdue += sums.overdue_changes[index]
        figures.append(
            CashFigures(
                invoiced=round_minor(from_minor_units(sums.invoiced[index], currency), currency),
                collected=round_minor(from_minor_units(sums.collected[index], currency), currency),
                overdue=round_minor(from_minor_units(overdue, currency), currency),
                usage_revenue=round_minor(from_minor_units(sums.usage[index], currency), currency),
            )
        )
    return figures


# --- rankings: customers by usage, revenue by plan -------------------------------------

MAX_RANKING_LIMIT = 100
"""`topCustomers` answers at most this many customers."""


def check_limit(limit: int) -> int:
    """A ranking's length: 1 to MAX_RANKING_LIMIT."""
    if not 1 <= limit <= MAX_RANKING_LIMIT:
        raise InvalidRankingLimit(f"limit is between 1 and {MAX_RANKING_LIMIT}", field=("limit",))
    return limit


@dataclass(frozen=True, slots=True)
class CustomerInvoiceFact:
    """A finalized invoice of one customer, as the rankings see it (one currency)."""

    customer: str
    finalized_at: datetime
    total: Decimal
    usage_amount: Decimal  # its usage fees before tax, less what it deducts for interim invoices
    voided: bool = False


@dataclass(frozen=True, slots=True)
class CustomerRanking:
    customer: str
    usage_revenue: Decimal
    invoiced_amount: Decimal
    invoice_count: int
    mrr: Decimal


def top_customers(
    invoices: Iterable[CustomerInvoiceFact],
    customers: Iterable[CustomerHistory],
    currency: str,
    starts_at: datetime,
    ends_at: datetime,
    limit: int,
) -> list[CustomerRanking]:
    """Customers ranked by the usage revenue of their invoices finalized in [starts_at, ends_at) in `currency`.

    Ties go by invoiced amount, then by customer; a customer without an invoice in the window is not
    ranked. Usage revenue and invoiced amounts are those of `cash_figures`, per customer, so the
    usage revenue of every customer adds up to the window's `usage_revenue`. `mrr` is at `ends_at`."""
    check_limit(limit)
    validate_currency(currency)
    usage: dict[str, Decimal] = {}
    invoiced: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    for invoice in invoices:
        if invoice.voided or not _in(invoice.finalized_at, starts_at, ends_at):
            continue
        usage[invoice.customer] = usage.get(invoice.customer, _ZERO) + invoice.usage_amount
        invoiced[invoice.customer] = invoiced.get(invoice.customer, _ZERO) + invoice.total
        counts[invoice.customer] = counts.get(invoice.customer, 0) + 1
    histories = {history.customer: history for history in customers}
    zero = round_minor(_ZERO, currency)
    ranked = sorted(usage, key=lambda name: (-usage[name], -invoiced[name], name))[:limit]
    return [
        CustomerRanking(
            customer=name,
            usage_revenue=round_minor(usage[name], currency),
            invoiced_amount=round_minor(invoiced[name], currency),
            invoice_count=counts[name],
            mrr=histories[name].mrr_at(ends_at, currency) if name in histories else zero,
        )
        for name in ranked
    ]


@dataclass(frozen=True, slots=True)
class PlannedSubscription:
    """A subscription with the plan of each of its phases (`plans[i]` is the plan of `history.phases[i]`)."""

    reference: str  # the subscription's external id, as invoice lines name it
    history: SubscriptionHistory
    plans: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.plans) != len(self.history.phases):
            raise ValueError("one plan per phase")

    def plan_at(self, at: datetime) -> str | None:
        """The plan of the latest phase covering `at`, else of the last phase started by then, else the first."""
        if not self.plans:
            return None
        started = None
        for index in range(len(self.plans) - 1, -1, -1):
            phase = self.history.phases[index]
            if phase.covers(at):
                return self.plans[index]
            if started is None and phase.starts_at <= at:
                started = index
        return self.plans[started if started is not None else 0]


class FeeKind(enum.StrEnum):
    SUBSCRIPTION = "SUBSCRIPTION"
    CHARGE = "CHARGE"
    TRUE_UP = "TRUE_UP"


@dataclass(frozen=True, slots=True)
class PlanLineFact:
    """A fee line of a period invoice finalized in the window, naming its subscription."""

    subscription: str
    kind: FeeKind
    amount: Decimal  # before discounts and tax
    period_start: datetime | None  # what the line bills from (None: the invoice's finalization)
    finalized_at: datetime


@dataclass(frozen=True, slots=True)
class PlanRevenue:
    plan: str
    mrr: Decimal
    active_subscriptions: int
    subscription_revenue: Decimal
    usage_revenue: Decimal
    true_up_revenue: Decimal

    @property
    def total_revenue(self) -> Decimal:
        return self.subscription_revenue + self.usage_revenue + self.true_up_revenue


def revenue_by_plan(
    subscriptions: Iterable[PlannedSubscription],
    lines: Iterable[PlanLineFact],
    currency: str,
    ends_at: datetime,
) -> list[PlanRevenue]:
    """Per plan in `currency`: MRR at `ends_at` (before coupons, which belong to customers, not plans),
    the subscriptions counting then, and the fees billed by the given lines, each line on the plan its
    subscription was on when the line's period began. Ordered by total revenue, then MRR, then plan."""
    validate_currency(currency)
    zero = round_minor(_ZERO, currency)
    mrr: dict[str, Decimal] = {}
    active: dict[str, int] = {}
    fees: dict[str, dict[FeeKind, Decimal]] = {}
    by_reference: dict[str, PlannedSubscription] = {}
    for subscription in subscriptions:
        by_reference[subscription.reference] = subscription
        for code in subscription.plans:
            fees.setdefault(code, {})
        fee = subscription.history.fee_at(ends_at)
        at_end = subscription.plan_at(ends_at)
        if fee is None or fee.currency != currency or at_end is None:
            continue
        mrr[at_end] = mrr.get(at_end, zero) + fee.monthly_fee
        active[at_end] = active.get(at_end, 0) + 1
    for line in lines:
        found = by_reference.get(line.subscription)
        if found is None:
            continue
        billed_on = found.plan_at(line.period_start or line.finalized_at)
        if billed_on is None:
            continue
        kind = FeeKind(line.kind)
        per_kind = fees.setdefault(billed_on, {})
        per_kind[kind] = per_kind.get(kind, _ZERO) + line.amount
    result = [
        PlanRevenue(
            plan=plan,
            mrr=mrr.get(plan, zero),
            active_subscriptions=active.get(plan, 0),
            subscription_revenue=round_minor(per_kind.get(FeeKind.SUBSCRIPTION, _ZERO), currency),
            usage_revenue=round_minor(per_kind.get(FeeKind.CHARGE, _ZERO), currency),
            true_up_revenue=round_minor(per_kind.get(FeeKind.TRUE_UP, _ZERO), currency),
        )
        for plan, per_kind in fees.items()
    ]
    return sorted(result, key=lambda item: (-item.total_revenue, -item.mrr, item.plan))
