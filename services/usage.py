"""Usage: accept events exactly once, and rate the current period of a subscription."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, DecimalException
from typing import Any, NamedTuple

import msgspec
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from db.catalog_changes import CatalogListener
from db.faults import storage_unavailable
from db.models import BillableMetric, Subscription
from db.repositories.catalog import BillableMetricRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.usage import Rollup, StoredEvent, UsageEventRepository, UsageSpan
from db.session import Database, Publish
from db.usage_writer import EventRow, UsageWriter, WriterUnavailable
from domain import aggregation, money, pricing
from domain import usage_events as rules
from domain.aggregation import Aggregation, UsageEvent
from domain.errors import EventRejected, UnrateableUsage
from domain.periods import BillingTime, Interval, Period, days_in, full_period_containing
from domain.subscriptions import SubscriptionStatus
from services import catalog_changes
from services.actors import Actor
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
)

log = logging.getLogger("valueverse.usage")


class EventInput(NamedTuple):
    """An event as sent, not yet checked (a tuple: built once per event on the hot path)."""

    transaction_id: Any
    metric_code: Any
    customer_external_id: Any = None
    subscription_external_id: Any = None
    timestamp: Any = None  # datetime, ISO 8601 text, or Unix seconds; None = received time
    properties: Any = None


@dataclass(frozen=True)
class Rejection:
    index: int
    transaction_id: str | None
    code: str
    message: str


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def usage_channel(organization_id: Any, customer_external_id: str) -> str:
    return f"usage.{organization_id}.{customer_external_id}"


def _reject(result: IngestResult, index: int, transaction_id: str | None, code: str, message: str) -> None:
    result.rejected.append(Rejection(index, transaction_id, code, message))


@dataclass(frozen=True)
class MetricInfo:
    code: str
    aggregation: Aggregation
    field_name: str | None
    filter_keys: tuple[str, ...]


class CatalogCache:
    """What ingestion checks events against, per organization, without a query per request.

    The same in every API process, whichever one answers:
    - a miss is always asked of the database: a metric, customer or subscription created a moment ago through
      another process (or this one) is found at once;
    - what was found is remembered only while this process listens for catalog changes (`db.catalog_changes`):
      a metric's filters changed, a metric archived or deleted, a customer deleted, in any process, make every
      process forget that organization's entries when the change commits (this process at once, the others as
      soon as PostgreSQL's notification reaches them, normally within milliseconds). While the listener is
      down, nothing is reused from one request to the next.
    - entries are dropped after a while anyway (`TTL`), which bounds the memory they take.
    """

    TTL = 60.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._metrics: dict[Any, tuple[float, dict[str, MetricInfo]]] = {}
        self._known: dict[Any, tuple[float, set[str], dict[str, str]]] = {}
        # Bumped by every forget: what a read begun before it found is not kept (it may predate the change).
        self._forgotten = 0
        self._forgotten_org: dict[Any, int] = {}
        # Notifications of every process's changes reach every cache of this process (rate limits too).
        self._listener = CatalogListener(db.url, catalog_changes.forget_here, catalog_changes.forget_all_here)
        catalog_changes.register(self)

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    def forget(self, org: Any) -> None:
        self._metrics.pop(org, None)
        self._known.pop(org, None)
        self._forgotten_org[org] = self._forgotten_org.get(org, 0) + 1

    def forget_all(self) -> None:
        self._metrics.clear()
        self._known.clear()
        self._forgotten += 1

    def _version(self, org: Any) -> tuple[int, int]:
        return self._forgotten, self._forgotten_org.get(org, 0)

    def _fresh(self, since: float, now: float) -> bool:
        return self._listener.listening and now - since <= self.TTL

    async def metrics(self, org: Any, codes: set[str]) -> dict[str, MetricInfo]:
        now = time.monotonic()
        loaded_at, metrics = self._metrics.get(org, (-1e9, {}))
        if not self._fresh(loaded_at, now) or not codes <= metrics.keys():
            version = self._version(org)
            async with self.db.read() as session:
                rows = await BillableMetricRepository(session, org).all()
            metrics = {
                m.code: MetricInfo(m.code, Aggregation(m.aggregation), m.field_name, tuple(sorted(m.filters)))
                for m in rows
            }
            if self._version(org) == version:
                self._metrics[org] = (now, metrics)
        return metrics

    async def owners(self, org: Any, customers: set[str], subscriptions: set[str]) -> tuple[set[str], dict[str, str]]:
        """The known customer external ids, and subscription external id -> its customer's external id."""
        now = time.monotonic()
        since, known_customers, known_subscriptions = self._known.get(org, (now, set(), {}))
        if not self._fresh(since, now):
            since, known_customers, known_subscriptions = now, set(), {}
        new_customers = customers - known_customers
        new_subscriptions = subscriptions - known_subscriptions.keys()
        if new_customers or new_subscriptions:
            version = self._version(org)
            found: set[str] = set()
            found_subs: dict[str, str] = {}
            async with self.db.read() as session:
                if new_customers:
                    found = set((await CustomerRepository(session, org).by_external_ids(new_customers)).keys())
                if new_subscriptions:
                    rows = await SubscriptionRepository(session, org).by_external_ids(new_subscriptions)
                    found_subs = {k: s.customer.external_id for k, s in rows.items()}
            # This request uses what it found, but it is kept only if nothing was forgotten meanwhile.
            known_customers, known_subscriptions = known_customers | found, {**known_subscriptions, **found_subs}
            if self._version(org) == version:
                self._known[org] = (since, known_customers, known_subscriptions)
        elif org not in self._known:
            self._known[org] = (since, known_customers, known_subscriptions)
        return known_customers, known_subscriptions


# Decimals are written as JSON numbers, digit for digit (and read back as Decimal: db/session.py).
_properties_json = msgspec.json.Encoder(decimal_format="number")


def _dims(metric: MetricInfo, properties: Mapping[str, Any]) -> str:
    """The event's values of the metric's filter dimensions: the rollup key that charge filters match."""
    if not metric.filter_keys:
        return ""
    return orjson.dumps({k: aggregation.dimension_text(properties.get(k)) for k in metric.filter_keys}).decode()


class UsageIngestor:
    """Validates batches and hands the valid events to the group-commit writer."""

    def __init__(self, db: Database, writer: UsageWriter, publish: Publish | None = None) -> None:
        self.cache = CatalogCache(db)
        self.writer = writer
        self.publish = publish

    async def ingest(self, actor: Actor, events: Sequence[EventInput], received_at: datetime) -> IngestResult:
        """Store the valid events of a batch (each transaction id once, ever); say why the others were refused.

        Every event is checked completely (`domain.usage_events`) before it joins the write shared with
        other requests. Returns once the new events are committed: an accepted event survives a crash.
        Raises WriterUnavailable when the events cannot be stored now (nothing of the batch is then stored)."""
        rules.batch_size(len(events))
        org = actor.organization_id
        result = IngestResult()
        # Only what can be an id is looked up: nothing else may reach a query.
        try:
            metrics = await self.cache.metrics(
                org, {e.metric_code for e in events if rules.is_id(e.metric_code, rules.METRIC_CODE_MAX_LENGTH)}
            )
            customers, subscriptions = await self.cache.owners(
                org,
                rules.lookup_ids(e.customer_external_id for e in events),
                rules.lookup_ids(e.subscription_external_id for e in events),
            )
        except Exception as exc:
            if storage_unavailable(exc):
                raise WriterUnavailable("the catalog cannot be read") from exc
            raise
        rows: dict[str, EventRow] = {}
        index_of: dict[str, int] = {}
        for index, event in enumerate(events):
            row = _validated(result, index, event, org, metrics, customers, subscriptions, received_at)
            if row is None:
                continue
            if row.transaction_id in rows:
                result.duplicates += 1
                continue
            rows[row.transaction_id] = row
            index_of[row.transaction_id] = index
        stored = await self.writer.store(list(rows.values()))
        inserted = stored.inserted
        result.accepted = len(inserted)
        result.duplicates += len(rows) - len(inserted) - len(stored.refused)
        if stored.refused:
            for tid, reason in stored.refused.items():
                _reject(result, index_of[tid], tid, rules.Rejection.STORAGE_REJECTED, reason)
            result.rejected.sort(key=lambda r: r.index)
        if self.publish is not None and inserted:
            owners = {rows[t].customer_external_id for t in inserted}
            try:
                await self.publish([(usage_channel(org, customer), b"{}") for customer in owners])
            except Exception:  # the events are stored: a missed live push must not fail the request
                log.exception("publishing usage updates failed")
        return result


_NUMERIC = frozenset({Aggregation.SUM, Aggregation.MAX, Aggregation.LATEST, Aggregation.WEIGHTED_SUM})


def _validated(
    result: IngestResult,
    index: int,
    event: EventInput,
    org: Any,
    metrics: Mapping[str, MetricInfo],
    customers: set[str],
    subscriptions: Mapping[str, str],
    received_at: datetime,
) -> EventRow | None:
    """The row to store for `event`, or None with the reason added to `result.rejected`."""
    tid = None
    try:
        if event.transaction_id is NOT_AN_EVENT:
            raise EventRejected(rules.Rejection.INVALID_EVENT, "an event is a JSON object")
        tid = rules.transaction_id(event.transaction_id)
        return _row(tid, event, org, metrics, customers, subscriptions, received_at)
    except EventRejected as exc:
        _reject(result, index, tid, exc.code, exc.message)
        return None
    except (TypeError, ValueError, ArithmeticError, RecursionError):  # a guard: the rules above foresee every case
        log.exception("usage event %d of a batch could not be checked", index)
        _reject(result, index, tid, rules.Rejection.INVALID_EVENT, "this event could not be read")
        return None


def _row(
    tid: str,
    event: EventInput,
    org: Any,
    metrics: Mapping[str, MetricInfo],
    customers: set[str],
    subscriptions: Mapping[str, str],
    received_at: datetime,
) -> EventRow:
    Rejected = rules.Rejection
    code = event.metric_code
    metric = metrics.get(code) if isinstance(code, str) else None
    if metric is None:
        raise EventRejected(Rejected.UNKNOWN_METRIC, f"no billable metric with code {rules.shown(code)}")
    subscription_id = rules.external_id(
        event.subscription_external_id, "subscriptionExternalId", Rejected.SUBSCRIPTION_NOT_FOUND
    )
    customer_id = rules.external_id(event.customer_external_id, "customerExternalId", Rejected.CUSTOMER_NOT_FOUND)
    if subscription_id is not None:
        owner = subscriptions.get(subscription_id)
        if owner is None:
            raise EventRejected(Rejected.SUBSCRIPTION_NOT_FOUND, f"no subscription {rules.shown(subscription_id)}")
        if customer_id is not None and customer_id != owner:
            raise EventRejected(Rejected.CUSTOMER_MISMATCH, "the subscription belongs to another customer")
        customer_id = owner
    elif customer_id is None or customer_id not in customers:
        raise EventRejected(
            Rejected.CUSTOMER_NOT_FOUND,
            f"no customer {rules.shown(customer_id)} (send customerExternalId or subscriptionExternalId)",
        )
    moment = rules.timestamp(event.timestamp, received_at)
    numeric = metric.aggregation in _NUMERIC
    properties = rules.properties(event.properties, metric.field_name if numeric else None)
    value = None
    if metric.field_name is not None and metric.aggregation is not Aggregation.COUNT:
        value = rules.metric_value(properties, metric.field_name, numeric=numeric)
    text = _properties_json.encode(properties)
    rules.properties_size(len(text))
    return EventRow(
        org,
        tid,
        customer_id,
        subscription_id,
        metric.code,
        moment,
        text.decode(),
        value,
        _dims(metric, properties),
        received_at,
    )


NOT_AN_EVENT = object()
"""The transaction id of an `EventInput` made of a batch item that is not an event object at all."""


# --- current usage ---------------------------------------------------------------------------


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

    code = "USAGE_NOT_RATEABLE"


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
        return [
            aggregation.numeric_value(e.properties.get(self.metric.field_name)) or Decimal(0)
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
        values = source.event_values(only, excluded) if charge.model is pricing.ChargeModel.PERCENTAGE else None
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
        window, sources = self.window, {}
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


async def current_usage(
    session: AsyncSession,
    organization_id: Any,
    customer_external_id: str,
    subscription_external_id: str | None,
    at: datetime,
) -> UsageReport:
    """What the customer's current period would cost in usage charges if it were invoiced now."""
    customer = await CustomerRepository(session, organization_id).by_external_id(customer_external_id)
    if customer is None:
        raise UsageUnavailable(f"no customer with externalId {customer_external_id!r}", code="CUSTOMER_NOT_FOUND")
    subscriptions = [
        s
        for s in await SubscriptionRepository(session, organization_id).of_customer_with_plans(customer.id)
        if status_now(s, at) in LIVE
    ]
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
    organization = None if customer.timezone else await OrganizationRepository(session).get(organization_id)
    tz = customer_timezone(customer, organization)
    period = current_period(subscription, tz, at)
    phase = phase_at(subscription, at)
    # The first phase covers its whole start day (as the fee does); a later phase starts at the change.
    opened = period.start if phase is subscription.phases[0] else max(period.start, phase.starts_at)
    window = Period(opened, min(period.end, phase.ends_at or period.end))
    plan = effective_plan(phase)
    charges = await rate_window(session, organization_id, subscription, plan, window, tz)
    return UsageReport(
        subscription,
        window.start,
        window.end,
        plan.plan.currency,
        sum((c.amount for c in charges), Decimal(0)),
        charges,
    )
