"""Usage: accept events exactly once, and rate the current period of a subscription."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from db.catalog_changes import CatalogListener
from db.models import BillableMetric, Subscription
from db.repositories.catalog import BillableMetricRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.usage import Rollup, StoredEvent, UsageEventRepository, UsageSpan
from db.session import Database, Publish
from db.usage_writer import EventRow, UsageWriter
from domain import aggregation, money, pricing
from domain.aggregation import Aggregation, UsageEvent
from domain.periods import BillingTime, Interval, Period, days_in, full_period_containing
from domain.subscriptions import SubscriptionStatus
from services import catalog_changes
from services.actors import Actor
from services.errors import Invalid, NotFound
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

MAX_BATCH = 10_000
MAX_ID_LENGTH = 200
MAX_PROPERTIES_BYTES = 8_192
MAX_AGE = timedelta(days=35)
CLOCK_SKEW = timedelta(minutes=5)  # a sender's clock slightly ahead is not "the future"


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


def _timestamp(value: Any, received_at: datetime) -> datetime:
    if value is None:
        return received_at
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError("timestamp is not ISO 8601 (e.g. 2026-11-23T10:00:00Z) nor Unix seconds") from exc
    else:
        raise ValueError("timestamp is not ISO 8601 nor Unix seconds")
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a UTC offset (e.g. Z or +01:00)")
    return moment.astimezone(UTC)


def _reject(result: IngestResult, index: int, transaction_id: Any, code: str, message: str) -> None:
    tid = transaction_id if isinstance(transaction_id, str) else None
    result.rejected.append(Rejection(index, tid, code, message))


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() and len(value) <= MAX_ID_LENGTH else None


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
        self._listener = CatalogListener(db.url, self.forget, self.forget_all)
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

        Returns once the new events are committed: an accepted event survives a crash."""
        if len(events) > MAX_BATCH:
            raise Invalid(f"a batch holds at most {MAX_BATCH} events", field=("events",), code="BATCH_TOO_LARGE")
        org = actor.organization_id
        result = IngestResult()
        metrics = await self.cache.metrics(org, {e.metric_code for e in events if isinstance(e.metric_code, str)})
        customers, subscriptions = await self.cache.owners(
            org,
            {e.customer_external_id for e in events if isinstance(e.customer_external_id, str)},
            {e.subscription_external_id for e in events if isinstance(e.subscription_external_id, str)},
        )
        rows: dict[str, EventRow] = {}
        for index, event in enumerate(events):
            row = _validated(result, index, event, org, metrics, customers, subscriptions, received_at)
            if row is None:
                continue
            if row.transaction_id in rows:
                result.duplicates += 1
                continue
            rows[row.transaction_id] = row
        inserted = await self.writer.write(list(rows.values()))
        result.accepted = len(inserted)
        result.duplicates += len(rows) - len(inserted)
        if self.publish is not None and inserted:
            customers = {rows[t].customer_external_id for t in inserted}
            try:
                await self.publish([(usage_channel(org, customer), b"{}") for customer in customers])
            except Exception:  # the events are stored: a missed live push must not fail the request
                log.exception("publishing usage updates failed")
        return result


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
    if not isinstance(event.transaction_id, str | None):
        _reject(result, index, None, "INVALID_EVENT", "an event is a JSON object")
        return None
    tid = _text(event.transaction_id)
    if tid is None:
        _reject(
            result,
            index,
            event.transaction_id,
            "INVALID_TRANSACTION_ID",
            f"transactionId is required: 1 to {MAX_ID_LENGTH} characters",
        )
        return None
    metric = metrics.get(event.metric_code) if isinstance(event.metric_code, str) else None
    if metric is None:
        _reject(result, index, tid, "UNKNOWN_METRIC", f"no billable metric with code {event.metric_code!r}")
        return None
    subscription_id = _text(event.subscription_external_id)
    customer_id = _text(event.customer_external_id)
    if subscription_id is not None:
        owner = subscriptions.get(subscription_id)
        if owner is None:
            _reject(result, index, tid, "SUBSCRIPTION_NOT_FOUND", f"no subscription {subscription_id!r}")
            return None
        if customer_id is not None and customer_id != owner:
            _reject(result, index, tid, "CUSTOMER_MISMATCH", "the subscription belongs to another customer")
            return None
        customer_id = owner
    elif customer_id is None or customer_id not in customers:
        _reject(
            result,
            index,
            tid,
            "CUSTOMER_NOT_FOUND",
            f"no customer {event.customer_external_id!r} (send customerExternalId or subscriptionExternalId)",
        )
        return None
    try:
        moment = _timestamp(event.timestamp, received_at)
    except ValueError as exc:
        _reject(result, index, tid, "INVALID_TIMESTAMP", str(exc))
        return None
    if moment < received_at - MAX_AGE:
        _reject(result, index, tid, "TIMESTAMP_TOO_OLD", "events may be at most 35 days old")
        return None
    if moment > received_at + CLOCK_SKEW:
        _reject(result, index, tid, "TIMESTAMP_IN_FUTURE", "the timestamp is in the future")
        return None
    properties = event.properties if event.properties is not None else {}
    if not isinstance(properties, Mapping):
        _reject(result, index, tid, "INVALID_PROPERTIES", "properties must be a JSON object")
        return None
    text = _properties_json.encode(properties).decode()
    if len(text) > MAX_PROPERTIES_BYTES:
        _reject(
            result,
            index,
            tid,
            "PROPERTIES_TOO_LARGE",
            f"properties may take at most {MAX_PROPERTIES_BYTES} bytes of JSON",
        )
        return None
    value = None
    if metric.field_name is not None and metric.aggregation is not Aggregation.COUNT:
        raw = properties.get(metric.field_name)
        if raw is None:
            _reject(
                result,
                index,
                tid,
                "MISSING_PROPERTY",
                f"the metric {metric.code!r} aggregates properties.{metric.field_name}",
            )
            return None
        value = aggregation.numeric_value(raw) if not isinstance(raw, float) else None
        if value is None and metric.aggregation is not Aggregation.UNIQUE_COUNT:
            _reject(
                result,
                index,
                tid,
                "INVALID_PROPERTY",
                f"properties.{metric.field_name} must be a number (or a numeric string)",
            )
            return None
    return EventRow(
        org, tid, customer_id, subscription_id, metric.code, moment, text, value, _dims(metric, properties), received_at
    )


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


def _as_event(row: StoredEvent) -> UsageEvent:
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
    ) -> None:
        self.metric, self.events, self.period, self.carried = metric, events, period, carried
        # For a prorated charge: the time zone, the days of the full billing period, where the days billed end.
        self.days = days

    def units(self, only: Filters | None, excluded: Sequence[Filters], prorated: bool = False) -> Decimal:
        chosen = [e for e in self.events if _selected(e.properties, None, excluded)]
        carried = self.carried if only is None else None
        kind = Aggregation(self.metric.aggregation)
        if prorated and self.days is not None:
            tz, full_days, until = self.days
            return aggregation.prorated_units(
                kind, chosen, self.metric.field_name, self.period, full_days, tz, only, carried, until
            )
        return aggregation.aggregate(kind, chosen, self.metric.field_name, self.period, only, carried)

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
    units = source.units(only, excluded, prorated=charge.charge.prorated)
    values = source.event_values(only, excluded) if charge.model is pricing.ChargeModel.PERCENTAGE else None
    fee = pricing.charge_fee(charge.model, properties, units, values)
    return units, money.round_minor(fee.amount, currency), fee


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
        if any(c.charge.prorated for c in plan.charges):
            full = full_period_containing(
                subscription.started_at,
                Interval(plan.plan.interval),
                BillingTime(subscription.billing_time),
                window.start,
                tz,
            )
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
            by_metric[row.metric_code].append(_as_event(row))
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
            sources[code] = RawUsage(metric, history, window, carried, self.days)
        if self.rolled:
            rolled: dict[str, list[Rollup]] = defaultdict(list)
            for r in rollups.get(self.key, ()) if self.rollup_span else ():
                rolled[r.metric_code].append(r)
            edges: dict[str, list[UsageEvent]] = defaultdict(list)
            for offset in (1, 2):
                for row in events.get(self.key + offset, ()):
                    edges[row.metric_code].append(_as_event(row))
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
    rated = []
    for read, (_, plan, _, _) in zip(reads, requests, strict=True):
        sources = read.sources(events, rollups)
        currency = plan.plan.currency
        rated.append(
            tuple(rate_charge(c, c.charge.billable_metric, sources[c.metric_code], currency) for c in plan.charges)
        )
    return rated


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
