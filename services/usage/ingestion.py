"""Ingestion: accept usage events exactly once (validated against the catalog, written by the group-commit
writer, the customers' live usage told)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
import orjson

from db.catalog_changes import CatalogListener
from db.faults import storage_unavailable
from db.models import OrganizationMode
from db.repositories.catalog import BillableMetricRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.test_clocks import TestClockRepository
from db.session import Database, Publish
from db.usage_writer import EventRow, UsageWriter, WriterUnavailable
from domain import aggregation
from domain import usage_events as rules
from domain.aggregation import Aggregation
from domain.errors import EventRejected
from services import catalog_changes
from services.actors import Actor

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
        self._live: dict[Any, bool] = {}  # organization -> LIVE (no test clocks, so no customer on one)
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

    async def clock_times(
        self, org: Any, customers: set[str], subscriptions: Mapping[str, str], events: Sequence[EventInput]
    ) -> dict[str, datetime]:
        """The time of each customer of the batch that lives on a test clock (never kept: clocks move)."""
        wanted = customers & rules.lookup_ids(e.customer_external_id for e in events)
        wanted |= {
            subscriptions[s] for s in rules.lookup_ids(e.subscription_external_id for e in events) if s in subscriptions
        }
        if not wanted or self._live.get(org):
            return {}
        async with self.db.read() as session:
            if org not in self._live:  # an organization's mode is fixed when it is created: asked once
                organization = await OrganizationRepository(session).get(org)
                self._live[org] = organization is None or organization.mode != OrganizationMode.TEST
                if self._live[org]:
                    return {}
            return await TestClockRepository(session, org).clock_times(wanted)

    @property
    def listening(self) -> bool:
        """Whether this process hears of every committed catalog change (db/catalog_changes.py)."""
        return self._listener.listening

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
            clock_times = await self.cache.clock_times(org, customers, subscriptions, events)
        except Exception as exc:
            if storage_unavailable(exc):
                raise WriterUnavailable("the catalog cannot be read") from exc
            raise
        rows: dict[str, EventRow] = {}
        index_of: dict[str, int] = {}
        for index, event in enumerate(events):
            row = _validated(result, index, event, org, metrics, customers, subscriptions, received_at, clock_times)
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
    clock_times: Mapping[str, datetime],
) -> EventRow | None:
    """The row to store for `event`, or None with the reason added to `result.rejected`."""
    tid = None
    try:
        if event.transaction_id is NOT_AN_EVENT:
            raise EventRejected(rules.Rejection.INVALID_EVENT, "an event is a JSON object")
        tid = rules.transaction_id(event.transaction_id)
        return _row(tid, event, org, metrics, customers, subscriptions, received_at, clock_times)
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
    clock_times: Mapping[str, datetime],
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
    # A customer on a test clock: its events are timed, and their window checked, by the clock's time.
    moment = rules.timestamp(event.timestamp, clock_times.get(customer_id, received_at))
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
