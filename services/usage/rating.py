"""Rating: what the usage of a subscription's period costs, from raw events or hourly rollups, for
`customerUsage` and for billing (many windows read together)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, DecimalException
from typing import Any, NamedTuple, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import BillableMetric, Plan, Subscription
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.usage import Rollup, StoredEvent, UsageEventRepository, UsageSpan
from domain import aggregation, money, pricing
from domain import usage_events as rules
from domain.aggregation import Aggregation, UsageEvent
from domain.errors import UnrateableUsage, UsageCode
from domain.periods import BillingTime, Interval, Period, days_in, full_period_containing
from domain.subscriptions import SubscriptionStatus
from services.errors import NotFound
from services.subscriptions import (
    EffectiveCharge,
    EffectivePlan,
    billed_days_end,
    current_period,
    customer_timezone,
    effective_plan,
    phase_at,
    status_now,
    timezone_of,
)

log = logging.getLogger("valueverse.usage")


@dataclass(frozen=True)
class FilterUsage:
    values: Mapping[str, Sequence[str]] | None  # None: events matching no filter (the charge's default price)
    invoice_display_name: str | None
    units: Decimal
    amount: Decimal
    fee: pricing.ChargeFee


@dataclass(frozen=True)
class ChargeUsage:
    metric_code: str
    metric_name: str
    model: pricing.ChargeModel
    units: Decimal
    amount: Decimal
    fee: pricing.ChargeFee | None
    filters: tuple[FilterUsage, ...]


@dataclass(frozen=True)
class UsageReport:
    subscription: Subscription
    from_datetime: datetime
    to_datetime: datetime
    currency: str
    amount: Decimal
    charges: tuple[ChargeUsage, ...]


class UsageUnavailable(NotFound):
    pass


class UsageNotRateable(UsageUnavailable):
    """The customer's stored usage cannot be rated (e.g. a value stored before today's limits): the
    reason says which event; other customers are rated and billed as usual."""

    code = UsageCode.USAGE_NOT_RATEABLE


def _as_event(row: StoredEvent, metric: BillableMetric) -> UsageEvent:
    """A stored event as rating sees it, once checked against the limits of events (it may predate them)."""
    if row.properties is None:
        raise UnrateableUsage(
            f"the stored event {rules.shown(row.transaction_id)} of metric {metric.code!r} has properties "
            "that cannot be read back (nested too deeply)"
        )
    if metric.field_name is not None:
        rules.stored_value(row.properties.get(metric.field_name), row.transaction_id, metric.code)
    return UsageEvent(row.timestamp, row.properties, row.transaction_id)


Filters = Mapping[str, Sequence[str]]


def _selected(properties: Mapping[str, Any], only: Filters | None, excluded: Sequence[Filters]) -> bool:
    return aggregation.matches_filters(properties, only) and not any(
        aggregation.matches_filters(properties, f) for f in excluded
    )


class RawUsage:
    """A metric's events of the period, read one by one: exact for every aggregation and model."""

    def __init__(
        self,
        metric: BillableMetric,
        events: list[UsageEvent],
        period: Period,
        carried: Decimal | None,
        days: tuple[str, int, datetime] | None = None,
        full_period: Period | None = None,
    ) -> None:
        self.metric, self.events, self.period, self.carried = metric, events, period, carried
        # For a prorated charge: the time zone, the days of the full billing period, where the days billed end.
        self.days = days
        self.full_period = full_period  # the billing period `period` is part of: what a weighted sum averages over

    def levels(self, only: Filters | None, excluded: Sequence[Filters]) -> aggregation.DailyLevels:
        """The metric's level on each billed day, for a prorated charge."""
        assert self.days is not None, "a prorated charge's usage is read with its days"
        chosen = [e for e in self.events if _selected(e.properties, None, excluded)]
        carried = self.carried if only is None else None
        tz, full_days, until = self.days
        return aggregation.daily_levels(
            Aggregation(self.metric.aggregation),
            chosen,
            self.metric.field_name,
            self.period,
            full_days,
            tz,
            only,
            carried,
            until,
        )

    def units(self, only: Filters | None, excluded: Sequence[Filters], prorated: bool = False) -> Decimal:
        if prorated and self.days is not None:
            return self.levels(only, excluded).units
        chosen = [e for e in self.events if _selected(e.properties, None, excluded)]
        carried = self.carried if only is None else None
        kind = Aggregation(self.metric.aggregation)
        return aggregation.aggregate(
            kind, chosen, self.metric.field_name, self.period, only, carried, full_period=self.full_period
        )

    def event_values(self, only: Filters | None, excluded: Sequence[Filters]) -> list[Decimal]:
        field = self.metric.field_name
        return [
            aggregation.numeric_value(e.properties.get(field) if field else None) or Decimal(0)
            for e in self.events
            if self.period.start <= e.timestamp < self.period.end and _selected(e.properties, only, excluded)
        ]


class RolledUpUsage:
    """COUNT, SUM or MAX from hourly rollups, plus the raw events of the partial hours at both ends."""

    def __init__(
        self, metric: BillableMetric, rollups: list[Rollup], edge_events: list[UsageEvent], period: Period
    ) -> None:
        self.metric, self.period = metric, period
        self.kind = Aggregation(metric.aggregation)
        for r in rollups:
            rules.stored_rollup(r.events, r.value_sum, r.value_max, metric.code)
        self.rollups = [(orjson.loads(r.dims) if r.dims else {}, r) for r in rollups]
        self.edge = RawUsage(metric, edge_events, period, None)

    def units(self, only: Filters | None, excluded: Sequence[Filters], prorated: bool = False) -> Decimal:
        # (a prorated charge's metric is recurring: never rolled up)
        total = None
        for dims, rollup in self.rollups:
            if not _selected(dims, only, excluded):
                continue
            part = {
                Aggregation.COUNT: Decimal(rollup.events),
                Aggregation.SUM: rollup.value_sum,
                Aggregation.MAX: rollup.value_max,
            }[self.kind]
            total = aggregation.combine(self.kind, total, part)
        edge = [e for e in self.edge.events if _selected(e.properties, only, excluded)]
        if edge:
            total = aggregation.combine(
                self.kind, total, aggregation.aggregate(self.kind, edge, self.metric.field_name, self.period, None)
            )
        return total if total is not None else Decimal(0)


def _fee(
    charge: EffectiveCharge,
    source: RawUsage | RolledUpUsage,
    only: Filters | None,
    excluded: Sequence[Filters],
    properties: pricing.ChargeProperties,
    currency: str,
) -> tuple[Decimal, Decimal, pricing.ChargeFee]:
    if charge.charge.prorated and isinstance(source, RawUsage) and source.days is not None:
        levels = source.levels(only, excluded)
        units, fee = levels.units, pricing.prorated_charge_fee(charge.model, properties, levels)
    else:
        units = source.units(only, excluded)
        values = None
        if charge.model is pricing.ChargeModel.PERCENTAGE:
            assert isinstance(source, RawUsage)  # percentage charges are rated from their events (_uses_rollups)
            values = source.event_values(only, excluded)
        fee = pricing.charge_fee(charge.model, properties, units, values)
    amount = money.round_minor(fee.amount, currency)
    if not money.fits_minor_units(amount, currency):
        raise UnrateableUsage(
            f"the charge of metric {charge.metric_code!r} comes to {amount} {currency}, more than an invoice can hold"
        )
    return units, amount, fee


def rate_charge(
    charge: EffectiveCharge, metric: BillableMetric, source: RawUsage | RolledUpUsage, currency: str
) -> ChargeUsage:
    """A charge's usage for a period: one fee per charge filter plus one for the rest, each rounded."""
    if not charge.filters:
        units, amount, fee = _fee(charge, source, None, (), charge.properties, currency)
        return ChargeUsage(charge.metric_code, metric.name, charge.model, units, amount, fee, ())
    parts = []
    earlier: list[Filters] = []
    for values, properties, display in charge.filters:
        # An event matching several filters is priced once, by the first of them.
        units, amount, fee = _fee(charge, source, values, tuple(earlier), properties, currency)
        parts.append(FilterUsage(values, display, units, amount, fee))
        earlier.append(values)
    units, amount, fee = _fee(charge, source, None, [f[0] for f in charge.filters], charge.properties, currency)
    parts.append(FilterUsage(None, None, units, amount, fee))
    return ChargeUsage(
        charge.metric_code,
        metric.name,
        charge.model,
        sum((p.units for p in parts), Decimal(0)),
        sum((p.amount for p in parts), Decimal(0)),
        None,
        tuple(parts),
    )


LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)


def _uses_rollups(metric: BillableMetric, charges: Sequence[EffectiveCharge]) -> bool:
    return (
        Aggregation(metric.aggregation) in aggregation.COMBINABLE
        and not metric.recurring
        and all(c.model is not pricing.ChargeModel.PERCENTAGE for c in charges)
    )


def _hour_ceil(moment: datetime) -> datetime:
    floor = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(hours=1)


class _UsageReads:
    """Where the units of one rating request come from: rollups where they suffice, raw events otherwise.

    The spans to read are keyed `3 * index` (the raw events, or the rollups), `+ 1` and `+ 2` (the raw
    events of the partial hours at both ends of the rolled-up part)."""

    def __init__(self, index: int, request: RatingRequest) -> None:
        subscription, plan, window, tz = request
        self.window = window
        self.days: tuple[str, int, datetime] | None = None
        # A partial window is measured against the full billing period it is part of (domain/proration.py).
        full = full_period_containing(
            subscription.started_at,
            Interval(plan.plan.interval),
            BillingTime(subscription.billing_time),
            window.start,
            tz,
        )
        # (a window of a plan whose interval is not its period's is averaged over itself)
        self.full = full if full.start <= window.start and window.end <= full.end else window
        if any(c.charge.prorated for c in plan.charges):
            self.days = (tz, days_in(full, tz), billed_days_end(subscription, window.end, tz))
        self.key = 3 * index
        self.metrics = {c.charge.billable_metric.code: c.charge.billable_metric for c in plan.charges}
        charges_of: dict[str, list[EffectiveCharge]] = defaultdict(list)
        for charge in plan.charges:
            charges_of[charge.metric_code].append(charge)
        self.rolled = tuple(sorted(code for code, m in self.metrics.items() if _uses_rollups(m, charges_of[code])))
        self.raw = tuple(sorted(set(self.metrics) - set(self.rolled)))
        owner = (subscription.customer.external_id, subscription.external_id)
        self.event_spans: list[UsageSpan] = []
        self.rollup_span: UsageSpan | None = None
        # Recurring metrics carry their value from the subscription's start: read their whole history.
        self.history = (
            subscription.started_at if any(self.metrics[c].recurring for c in self.raw) else window.start
        )
        if self.raw:
            self.event_spans.append(
                UsageSpan(self.key, *owner, self.raw, min(self.history, window.start), window.end)
            )
        if self.rolled:
            first_hour = _hour_ceil(window.start)
            last_hour = window.end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            if first_hour < last_hour:
                self.rollup_span = UsageSpan(self.key, *owner, self.rolled, first_hour, last_hour)
                edges = [(window.start, first_hour), (last_hour, window.end)]
            else:
                edges = [(window.start, window.end)]
            for offset, (start, end) in enumerate(edges, 1):
                if start < end:
                    self.event_spans.append(UsageSpan(self.key + offset, *owner, self.rolled, start, end))

    def sources(
        self, events: Mapping[int, list[StoredEvent]], rollups: Mapping[int, list[Rollup]]
    ) -> dict[str, RawUsage | RolledUpUsage]:
        window = self.window
        sources: dict[str, RawUsage | RolledUpUsage] = {}
        by_metric: dict[str, list[UsageEvent]] = defaultdict(list)
        for row in events.get(self.key, ()) if self.raw else ():
            by_metric[row.metric_code].append(_as_event(row, self.metrics[row.metric_code]))
        for code in self.raw:
            metric, history = self.metrics[code], by_metric.get(code, [])
            carried = None
            if metric.recurring:
                carried = (
                    Decimal(0)
                    if self.history >= window.start
                    else aggregation.closing_value(
                        Aggregation(metric.aggregation), history, metric.field_name, Period(self.history, window.start)
                    )
                )
            sources[code] = RawUsage(metric, history, window, carried, self.days, self.full)
        if self.rolled:
            rolled: dict[str, list[Rollup]] = defaultdict(list)
            for r in rollups.get(self.key, ()) if self.rollup_span else ():
                rolled[r.metric_code].append(r)
            edges: dict[str, list[UsageEvent]] = defaultdict(list)
            for offset in (1, 2):
                for row in events.get(self.key + offset, ()):
                    edges[row.metric_code].append(_as_event(row, self.metrics[row.metric_code]))
            for code in self.rolled:
                sources[code] = RolledUpUsage(self.metrics[code], rolled.get(code, []), edges.get(code, []), window)
        return sources


class RatingRequest(NamedTuple):
    subscription: Subscription
    plan: EffectivePlan
    window: Period
    tz: str  # the customer's: where prorated charges count their days


async def rate_windows(
    session: AsyncSession, organization_id: Any, requests: Sequence[RatingRequest]
) -> list[tuple[ChargeUsage, ...]]:
    """Every charge of each plan over each window of a subscription's usage (what usage views and invoices
    show), read with two queries however many windows there are."""
    reads = [_UsageReads(i, r) for i, r in enumerate(requests)]
    repo = UsageEventRepository(session, organization_id)
    events = await repo.events_in([span for r in reads for span in r.event_spans])
    rollups = await repo.rollups_in([r.rollup_span for r in reads if r.rollup_span is not None])
    return [_rated(read, request, events, rollups) for read, request in zip(reads, requests, strict=True)]


def _rated(
    read: _UsageReads,
    request: RatingRequest,
    events: Mapping[int, list[StoredEvent]],
    rollups: Mapping[int, list[Rollup]],
) -> tuple[ChargeUsage, ...]:
    """One window's charges; usage that cannot be rated is a UsageNotRateable naming the customer and why."""
    subscription, plan = request.subscription, request.plan
    who = f"the usage of customer {rules.shown(subscription.customer.external_id)} cannot be rated"
    try:
        sources = read.sources(events, rollups)
        currency = plan.plan.currency
        return tuple(rate_charge(c, c.charge.billable_metric, sources[c.metric_code], currency) for c in plan.charges)
    except UnrateableUsage as exc:
        raise UsageNotRateable(f"{who}: {exc.message}") from None
    except (DecimalException, OverflowError):  # a guard: the limits of events keep amounts computable
        log.warning("rating subscription %s failed in decimal arithmetic", subscription.external_id, exc_info=True)
        raise UsageNotRateable(f"{who}: its amounts are beyond what can be computed exactly") from None


async def rate_window(
    session: AsyncSession, organization_id: Any, subscription: Subscription, plan: Any, window: Period, tz: str
) -> tuple[ChargeUsage, ...]:
    """Every charge of a plan over a window of a subscription's usage."""
    return (await rate_windows(session, organization_id, [RatingRequest(subscription, plan, window, tz)]))[0]


class BatchedRating:
    """`rate_window` for many coroutines at once (the DataLoader pattern): the requests they make while
    they run side by side are read together, in one `rate_windows`, when they are all waiting for it."""

    def __init__(self, session: AsyncSession, organization_id: Any) -> None:
        self.session, self.organization_id = session, organization_id
        self._queue: list[tuple[RatingRequest, asyncio.Future[tuple[ChargeUsage, ...]]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(
        self, subscription: Subscription, plan: EffectivePlan, window: Period, tz: str
    ) -> asyncio.Future[tuple[ChargeUsage, ...]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[ChargeUsage, ...]] = loop.create_future()
        self._queue.append((RatingRequest(subscription, plan, window, tz), future))
        if len(self._queue) == 1:  # read once every coroutine now ready has had its turn
            loop.call_soon(self._dispatch)
        return future

    def _dispatch(self) -> None:
        task = asyncio.ensure_future(self._rate(self._queue))
        self._queue = []
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rate(self, queue: list[tuple[RatingRequest, asyncio.Future[tuple[ChargeUsage, ...]]]]) -> None:
        try:
            rated = await rate_windows(self.session, self.organization_id, [request for request, _ in queue])
        except BaseException as exc:  # every waiting coroutine fails with it
            for _, future in queue:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(queue, rated, strict=True):
            if not future.done():
                future.set_result(result)


class KeptCatalog(Protocol):
    """What an organization's catalog version fixes, kept by an API process: its plans and its time zone."""

    async def plan(self, session: AsyncSession, plan_id: uuid.UUID) -> Plan: ...

    async def organization_timezone(self, session: AsyncSession) -> str | None: ...


async def current_usage(
    session: AsyncSession,
    organization_id: Any,
    customer_external_id: str,
    subscription_external_id: str | None,
    at: datetime,
    catalog: KeptCatalog | None = None,
) -> UsageReport:
    """What the customer's current period would cost in usage charges if it were invoiced now. With `catalog`, the
    plans and the organization's time zone are the catalog's (kept by the caller for the catalog's version) and the
    customer and its subscriptions are read in one statement."""
    found: list[Subscription] = []
    if catalog is not None:
        found = await SubscriptionRepository(session, organization_id).of_customer_with_kept_plans(
            customer_external_id, lambda plan_id: catalog.plan(session, plan_id)
        )
    customer = found[0].customer if found else None
    if customer is None:
        customer = await CustomerRepository(session, organization_id).by_external_id(customer_external_id)
        if customer is None:
            raise UsageUnavailable(f"no customer with externalId {customer_external_id!r}", code="CUSTOMER_NOT_FOUND")
        found = await SubscriptionRepository(session, organization_id).of_customer_with_plans(customer.id)
    subscriptions = [s for s in found if status_now(s, at) in LIVE]
    if subscription_external_id is not None:
        subscriptions = [s for s in subscriptions if s.external_id == subscription_external_id]
    if not subscriptions:
        raise UsageUnavailable(
            "the customer has no active subscription"
            + (f" {subscription_external_id!r}" if subscription_external_id else ""),
            code="NO_ACTIVE_SUBSCRIPTION",
        )
    if len(subscriptions) > 1:
        raise UsageUnavailable(
            "the customer has several active subscriptions: give subscriptionExternalId", code="SUBSCRIPTION_REQUIRED"
        )
    subscription = subscriptions[0]
    # The organization's time zone is read only when the customer has none of its own.
    if customer.timezone:
        tz = timezone_of(customer, None)
    elif catalog is not None:
        tz = timezone_of(customer, await catalog.organization_timezone(session))
    else:
        tz = customer_timezone(customer, await OrganizationRepository(session).get(organization_id))
    return await subscription_usage(session, organization_id, subscription, tz, at)


def usage_window(subscription: Subscription, tz: str, at: datetime) -> Period:
    """The part of a subscription's current period whose usage `customerUsage` shows: its current phase's."""
    period = current_period(subscription, tz, at)
    phase = phase_at(subscription, at)
    # The first phase covers its whole start day (as the fee does); a later phase starts at the change.
    opened = period.start if phase is subscription.phases[0] else max(period.start, phase.starts_at)
    return Period(opened, min(period.end, phase.ends_at or period.end))


async def subscription_usage(
    session: AsyncSession, organization_id: Any, subscription: Subscription, tz: str, at: datetime
) -> UsageReport:
    """The usage charges of a live subscription's current period (its current phase's part of it) at `at`."""
    window = usage_window(subscription, tz, at)
    plan = effective_plan(phase_at(subscription, at))
    charges = await rate_window(session, organization_id, subscription, plan, window, tz)
    return UsageReport(
        subscription,
        window.start,
        window.end,
        plan.plan.currency,
        sum((c.amount for c in charges), Decimal(0)),
        charges,
    )
