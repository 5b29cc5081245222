"""Usage: accept events exactly once, and rate the current period of a subscription."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import BillableMetric, Subscription
from db.repositories.catalog import BillableMetricRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.usage import UsageEventRepository
from db.session import UnitOfWork
from domain import aggregation, money, pricing
from domain.aggregation import Aggregation, UsageEvent
from domain.periods import Period
from domain.subscriptions import SubscriptionStatus
from services.actors import Actor
from services.audit import jsonable
from services.errors import Invalid, NotFound
from services.subscriptions import (
    EffectiveCharge,
    current_period,
    customer_timezone,
    effective_plan,
    phase_at,
    status_now,
)

MAX_BATCH = 10_000
MAX_ID_LENGTH = 200
MAX_PROPERTIES_BYTES = 8_192
MAX_AGE = timedelta(days=35)
CLOCK_SKEW = timedelta(minutes=5)  # a sender's clock slightly ahead is not "the future"


@dataclass(frozen=True)
class EventInput:
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


async def ingest(uow: UnitOfWork, actor: Actor, events: Sequence[EventInput], received_at: datetime) -> IngestResult:
    """Store the valid events of a batch (each transaction id once, ever); say why the others were refused."""
    if len(events) > MAX_BATCH:
        raise Invalid(f"a batch holds at most {MAX_BATCH} events", field=("events",), code="BATCH_TOO_LARGE")
    result = IngestResult()
    org = actor.organization_id
    metrics = await BillableMetricRepository(uow.session, org).by_codes(
        {e.metric_code for e in events if isinstance(e.metric_code, str)}
    )
    subscriptions = {
        s: await SubscriptionRepository(uow.session, org).by_external_id(s)
        for s in {e.subscription_external_id for e in events if isinstance(e.subscription_external_id, str)}
    }
    customers = await CustomerRepository(uow.session, org).by_external_ids(
        {e.customer_external_id for e in events if isinstance(e.customer_external_id, str)}
    )
    rows: dict[str, dict[str, Any]] = {}
    seen_in_batch = 0
    for index, event in enumerate(events):
        tid = _text(event.transaction_id)
        if tid is None:
            _reject(
                result,
                index,
                event.transaction_id,
                "INVALID_TRANSACTION_ID",
                f"transactionId is required: 1 to {MAX_ID_LENGTH} characters",
            )
            continue
        metric = metrics.get(event.metric_code) if isinstance(event.metric_code, str) else None
        if metric is None:
            _reject(result, index, tid, "UNKNOWN_METRIC", f"no billable metric with code {event.metric_code!r}")
            continue
        subscription_id = _text(event.subscription_external_id)
        customer_id = _text(event.customer_external_id)
        if subscription_id is not None:
            subscription = subscriptions.get(subscription_id)
            if subscription is None:
                _reject(result, index, tid, "SUBSCRIPTION_NOT_FOUND", f"no subscription {subscription_id!r}")
                continue
            if customer_id is not None and customer_id != subscription.customer.external_id:
                _reject(result, index, tid, "CUSTOMER_MISMATCH", "the subscription belongs to another customer")
                continue
            customer_id = subscription.customer.external_id
        elif customer_id is None or customer_id not in customers:
            _reject(
                result,
                index,
                tid,
                "CUSTOMER_NOT_FOUND",
                f"no customer {event.customer_external_id!r} (send customerExternalId or subscriptionExternalId)",
            )
            continue
        try:
            moment = _timestamp(event.timestamp, received_at)
        except ValueError as exc:
            _reject(result, index, tid, "INVALID_TIMESTAMP", str(exc))
            continue
        if moment < received_at - MAX_AGE:
            _reject(result, index, tid, "TIMESTAMP_TOO_OLD", "events may be at most 35 days old")
            continue
        if moment > received_at + CLOCK_SKEW:
            _reject(result, index, tid, "TIMESTAMP_IN_FUTURE", "the timestamp is in the future")
            continue
        properties = event.properties if event.properties is not None else {}
        problem = _property_problem(metric, properties)
        if problem is not None:
            _reject(result, index, tid, *problem)
            continue
        if tid in rows:
            seen_in_batch += 1
            continue
        rows[tid] = {
            "transaction_id": tid,
            "customer_external_id": customer_id,
            "subscription_external_id": subscription_id,
            "metric_code": metric.code,
            "timestamp": moment,
            "properties": jsonable(properties),
            "received_at": received_at,
        }
    inserted = await UsageEventRepository(uow.session, org).insert_new(list(rows.values()))
    result.accepted = len(inserted)
    result.duplicates = len(rows) - len(inserted) + seen_in_batch
    for customer in sorted({rows[t]["customer_external_id"] for t in inserted}):
        uow.publish_after_commit(usage_channel(org, customer), b"{}")
    return result


def _property_problem(metric: BillableMetric, properties: Any) -> tuple[str, str] | None:
    if not isinstance(properties, Mapping):
        return "INVALID_PROPERTIES", "properties must be a JSON object"
    if len(orjson.dumps(jsonable(properties))) > MAX_PROPERTIES_BYTES:
        return "PROPERTIES_TOO_LARGE", f"properties may take at most {MAX_PROPERTIES_BYTES} bytes of JSON"
    kind = Aggregation(metric.aggregation)
    if kind is Aggregation.COUNT or metric.field_name is None:
        return None
    value = properties.get(metric.field_name)
    if value is None:
        return "MISSING_PROPERTY", f"the metric {metric.code!r} aggregates properties.{metric.field_name}"
    if kind is not Aggregation.UNIQUE_COUNT and aggregation.numeric_value(value) is None:
        return "INVALID_PROPERTY", f"properties.{metric.field_name} must be a number (or a numeric string)"
    return None


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


def _as_event(row: Any) -> UsageEvent:
    return UsageEvent(row.timestamp, row.properties, row.transaction_id)


def _rate(
    charge: EffectiveCharge,
    metric: BillableMetric,
    events: list[UsageEvent],
    period: Period,
    carried: Decimal | None,
    values: Mapping[str, Sequence[str]] | None,
    properties: pricing.ChargeProperties,
    currency: str,
) -> tuple[Decimal, Decimal, pricing.ChargeFee]:
    kind = Aggregation(metric.aggregation)
    units = aggregation.aggregate(kind, events, metric.field_name, period, values, carried)
    event_values = None
    if charge.model is pricing.ChargeModel.PERCENTAGE:
        counted = [
            e
            for e in events
            if period.start <= e.timestamp < period.end and aggregation.matches_filters(e.properties, values)
        ]
        event_values = [aggregation.numeric_value(e.properties.get(metric.field_name)) or Decimal(0) for e in counted]
    fee = pricing.charge_fee(charge.model, properties, units, event_values)
    return units, money.round_minor(fee.amount, currency), fee


def rate_charge(
    charge: EffectiveCharge,
    metric: BillableMetric,
    events: list[UsageEvent],
    period: Period,
    carried: Decimal | None,
    currency: str,
) -> ChargeUsage:
    """A charge's usage for a period: one fee per charge filter plus one for the rest, each rounded."""
    if not charge.filters:
        units, amount, fee = _rate(charge, metric, events, period, carried, None, charge.properties, currency)
        return ChargeUsage(charge.metric_code, metric.name, charge.model, units, amount, fee, ())
    parts: list[FilterUsage] = []
    unmatched = list(events)
    for values, properties, display in charge.filters:
        units, amount, fee = _rate(charge, metric, events, period, None, values, properties, currency)
        parts.append(FilterUsage(values, display, units, amount, fee))
        unmatched = [e for e in unmatched if not aggregation.matches_filters(e.properties, values)]
    units, amount, fee = _rate(charge, metric, unmatched, period, carried, None, charge.properties, currency)
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
        for s in await SubscriptionRepository(session, organization_id).of_customer(customer.id)
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
    organization = await OrganizationRepository(session).get(organization_id)
    tz = customer_timezone(customer, organization)
    period = current_period(subscription, tz, at)
    phase = phase_at(subscription, at)
    window = Period(max(period.start, phase.starts_at), min(period.end, phase.ends_at or period.end))
    plan = effective_plan(phase)
    metrics = {c.charge.billable_metric.code: c.charge.billable_metric for c in plan.charges}
    recurring = [m for m in metrics.values() if m.recurring]
    # Recurring metrics carry their value from the subscription's start: read their whole history.
    history_start = subscription.started_at if recurring else window.start
    rows = await UsageEventRepository(session, organization_id).for_subscription(
        customer_external_id=customer.external_id,
        subscription_external_id=subscription.external_id,
        metric_codes=metrics.keys(),
        start=history_start,
        end=window.end,
    )
    by_metric: dict[str, list[UsageEvent]] = defaultdict(list)
    for row in rows:
        by_metric[row.metric_code].append(_as_event(row))
    currency = plan.plan.currency
    charges = []
    for charge in plan.charges:
        metric = metrics[charge.metric_code]
        events = by_metric.get(charge.metric_code, [])
        carried = None
        if metric.recurring and history_start < window.start:
            carried = aggregation.closing_value(
                Aggregation(metric.aggregation), events, metric.field_name, Period(history_start, window.start)
            )
        elif metric.recurring:
            carried = Decimal(0)
        charges.append(rate_charge(charge, metric, events, window, carried, currency))
    return UsageReport(
        subscription, window.start, window.end, currency, sum((c.amount for c in charges), Decimal(0)), tuple(charges)
    )
