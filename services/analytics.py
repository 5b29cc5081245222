"""Revenue analytics (`revenueMetrics`): the rules of domain/analytics.py over the organization's tables.

Computed on read from the subscriptions, coupons, invoices and credit notes of one organization and
currency, then kept per API process until either the organization's data changes (its audit
sequence number moves: every change to what is read here writes an audit entry) or time alone
could change a figure (`valid_until`: an MRR change point, an open invoice falling due, a bucket
boundary). Reading the cache costs two indexed queries. docs/analytics.md explains the design.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from db.repositories.analytics import AnalyticsRepository
from db.repositories.organizations import OrganizationRepository
from db.session import Database
from domain import analytics
from domain.analytics import (
    CustomerHistory,
    FeePhase,
    Granularity,
    InvoiceFact,
    PaymentFact,
    RecurringCoupon,
    SubscriptionHistory,
)
from domain.coupons import Coupon
from domain.money import from_minor_units, validate_currency
from domain.periods import Interval, require_aware

CACHE_ENTRIES = 256
"""Results kept per API process (least recently used go first)."""


@dataclass(frozen=True, slots=True)
class RevenuePoint:
    period_start: date
    period_end: date
    currency: str
    mrr: Decimal
    arr: Decimal
    new_mrr: Decimal
    expansion_mrr: Decimal
    contraction_mrr: Decimal
    churned_mrr: Decimal
    reactivation_mrr: Decimal
    active_customers: int
    new_customers: int
    churned_customers: int
    arpu: Decimal
    net_revenue_retention: Decimal | None
    gross_revenue_retention: Decimal | None
    invoiced_amount: Decimal
    collected_amount: Decimal
    overdue_amount: Decimal
    usage_revenue: Decimal


@dataclass(frozen=True, slots=True)
class _Entry:
    version: int
    valid_until: datetime | None
    points: tuple[RevenuePoint, ...]

    def answers(self, version: int, as_of: datetime) -> bool:
        return self.version == version and (self.valid_until is None or as_of < self.valid_until)


_Key = tuple[uuid.UUID, str, str, date, date, Granularity]
_cache: OrderedDict[_Key, _Entry] = OrderedDict()
_computing: dict[_Key, asyncio.Lock] = {}


def forget_cached() -> None:
    """Drop every cached result of this process."""
    _cache.clear()


async def revenue_answer(
    db: Database,
    organization_id: uuid.UUID,
    first_day: date,
    last_day: date,
    granularity: Granularity,
    currency: str | None,
    as_of: datetime,
) -> tuple[list[RevenuePoint], datetime | None]:
    """The organization's revenue figures per bucket of [first_day, last_day], as they stand at `as_of`, and the first
    moment after `as_of` at which time alone could change one (None: only a change of the organization's data can)."""
    require_aware(as_of, "as_of")
    granularity = Granularity(granularity)
    analytics.check_range(first_day, last_day)
    if currency is not None:
        currency = validate_currency(currency.strip().upper())
    async with db.read() as session:
        tz, default_currency, version = await AnalyticsRepository(session, organization_id).settings_and_version()
    currency = currency or default_currency
    key: _Key = (organization_id, currency, tz, first_day, last_day, granularity)
    entry = _cache.get(key)
    if entry is not None and entry.answers(version, as_of):
        _cache.move_to_end(key)
        return list(entry.points), entry.valid_until
    lock = _computing.setdefault(key, asyncio.Lock())
    async with lock:  # concurrent misses of one key wait for one computation
        entry = _cache.get(key)
        if entry is None or not entry.answers(version, as_of):
            entry = await _compute(db, key, version, as_of)
            _cache[key] = entry
            _cache.move_to_end(key)
            while len(_cache) > CACHE_ENTRIES:
                _cache.popitem(last=False)
    _computing.pop(key, None)
    return list(entry.points), entry.valid_until


async def _compute(db: Database, key: _Key, version: int, as_of: datetime) -> _Entry:
    organization_id, currency, tz, first_day, last_day, granularity = key
    found = analytics.buckets(first_day, last_day, granularity)
    windows = [analytics.bucket_window(bucket, tz, as_of) for bucket in found]
    # Read after the version: a change committed in between makes the next read recompute, never
    # keeps stale figures under a newer version.
    async with db.read() as session:
        repo = AnalyticsRepository(session, organization_id)
        phases = await repo.fee_phases(currency)
        coupons = await repo.recurring_coupons()
        # The cash figures are summed in SQL, in integer minor units: no row per invoice comes back.
        sums = cash_sums_of(await repo.cash_sums(currency, analytics.window_thresholds(windows)), len(windows))
        invoice_moments = await repo.invoice_moments(currency, as_of)
    return await asyncio.to_thread(
        _figures, phases, coupons, sums, invoice_moments, currency, tz, found, windows, version, as_of
    )


def cash_sums_of(rows: Sequence[Any], count: int) -> analytics.CashSums:
    """`CashSums` of `count` windows from the (figure, k, minor) rows of `AnalyticsRepository.cash_sums`."""
    sums = {name: [0] * count for name in ("invoiced", "usage", "collected", "overdue")}
    for row in rows:
        sums[row.figure][row.k] += int(row.minor)
    return analytics.CashSums(sums["invoiced"], sums["usage"], sums["collected"], sums["overdue"])


def _figures(
    phase_rows: Sequence[Any],
    coupon_rows: Sequence[Any],
    sums: analytics.CashSums,
    invoice_moments: Sequence[datetime],
    currency: str,
    tz: str,
    found: Sequence[analytics.Bucket],
    windows: Sequence[tuple[datetime, datetime]],
    version: int,
    as_of: datetime,
) -> _Entry:
    customers = customer_histories(phase_rows, coupon_rows)
    cash = analytics.cash_points_from_sums(sums, currency)
    series = analytics.movement_series(customers, currency, windows)
    points = []
    for bucket, moved, figures in zip(found, series, cash, strict=True):
        point = analytics.MrrPoint(bucket, currency, moved)
        points.append(
            RevenuePoint(
                period_start=bucket.first_day,
                period_end=bucket.last_day,
                currency=currency,
                mrr=point.mrr,
                arr=point.arr,
                new_mrr=moved.new,
                expansion_mrr=moved.expansion,
                contraction_mrr=moved.contraction,
                churned_mrr=moved.churned,
                reactivation_mrr=moved.reactivation,
                active_customers=moved.active_customers,
                new_customers=moved.new_customers,
                churned_customers=moved.churned_customers,
                arpu=point.arpu,
                net_revenue_retention=point.net_revenue_retention,
                gross_revenue_retention=point.gross_revenue_retention,
                invoiced_amount=figures.invoiced,
                collected_amount=figures.collected,
                overdue_amount=figures.overdue,
                usage_revenue=figures.usage_revenue,
            )
        )
    until = analytics.valid_until_of(customers, invoice_moments, found, tz, as_of)
    return _Entry(version, until, tuple(points))


def customer_histories(phase_rows: Sequence[Any], coupon_rows: Sequence[Any]) -> list[CustomerHistory]:
    """Each customer's subscriptions (rows ordered by customer, subscription, phase) and coupons."""
    coupons: dict[uuid.UUID, list[RecurringCoupon]] = {}
    for row in coupon_rows:
        coupon = Coupon(
            code=row.code,
            kind=row.kind,
            amount=row.amount,
            percentage=row.percentage,
            currency=row.currency,
            duration=row.duration,
            duration_periods=row.duration_periods,
        )
        coupons.setdefault(row.customer_id, []).append(RecurringCoupon(coupon, row.created_at, row.terminated_at))
    subscriptions: dict[uuid.UUID, dict[uuid.UUID, list[Any]]] = {}
    for row in phase_rows:
        subscriptions.setdefault(row.customer_id, {}).setdefault(row.subscription_id, []).append(row)
    histories = []
    for customer_id, by_subscription in subscriptions.items():
        subs = []
        for rows in by_subscription.values():
            first = rows[0]
            ends = [at for at in (first.terminated_at, first.ending_at) if at is not None]
            phases = tuple(
                FeePhase(
                    row.starts_at,
                    row.ends_at,
                    Decimal(row.amount_override) if row.amount_override is not None else row.amount,
                    Interval(row.interval),
                    row.currency,
                )
                for row in rows
            )
            subs.append(
                SubscriptionHistory(
                    first.started_at, phases, trial_ends_at=first.trial_ends_at, ended_at=min(ends, default=None)
                )
            )
        histories.append(CustomerHistory(str(customer_id), tuple(subs), tuple(coupons.get(customer_id, ()))))
    return histories


def cash_facts(
    invoice_rows: Sequence[Any], refund_rows: Sequence[Any], currency: str
) -> tuple[list[InvoiceFact], list[PaymentFact]]:
    """Finalized invoices as the cash figures see them, and the money received and paid back."""
    invoices, payments = [], []
    for row in invoice_rows:
        if row.status == "PAID":
            closed_at = row.paid_at or row.finalized_at
        elif row.status == "VOID":
            closed_at = row.voided_at or row.finalized_at
        elif row.status == "UNCOLLECTIBLE":
            closed_at = row.uncollectible_at or row.finalized_at  # none before migration 0027: never overdue
        else:
            closed_at = None
        invoices.append(
            InvoiceFact(
                currency=currency,
                finalized_at=row.finalized_at,
                total=from_minor_units(row.total_minor, currency),
                amount_due=from_minor_units(row.amount_due_minor - row.paid_minor, currency),
                due_at=row.due_at,
                closed_at=closed_at,
                voided=row.status == "VOID",
                usage_amount=from_minor_units(int(row.charges_minor) - row.progressive_credit_minor, currency),
            )
        )
        if row.paid_minor and row.paid_at is not None:
            payments.append(PaymentFact(currency, row.paid_at, from_minor_units(row.paid_minor, currency)))
    for row in refund_rows:
        payments.append(PaymentFact(currency, row.created_at, -from_minor_units(row.amount_minor, currency)))
    return invoices, payments


# --- rankings: topCustomers, revenueByPlan ---------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerRevenue:
    customer_external_id: str
    customer_name: str
    currency: str
    usage_revenue: Decimal
    invoiced_amount: Decimal
    invoice_count: int
    mrr: Decimal


@dataclass(frozen=True, slots=True)
class PlanRevenue:
    plan_code: str
    plan_name: str
    currency: str
    mrr: Decimal
    active_subscriptions: int
    subscription_revenue: Decimal
    usage_revenue: Decimal
    true_up_revenue: Decimal
    total_revenue: Decimal


async def _range_context(
    db: Database, organization_id: uuid.UUID, first_day: date, last_day: date, currency: str | None, as_of: datetime
) -> tuple[str, datetime, datetime]:
    """The currency (default: the organization's) and the instants [start, end) of a range, never after `as_of`."""
    require_aware(as_of, "as_of")
    analytics.check_range(first_day, last_day)
    if currency is not None:
        currency = validate_currency(currency.strip().upper())
    async with db.read() as session:
        organization = await OrganizationRepository(session).existing(organization_id)
    whole = analytics.Bucket(first_day, last_day)
    starts_at, ends_at = analytics.bucket_window(whole, organization.timezone, as_of)
    return currency or organization.default_currency, starts_at, ends_at


async def top_customers(
    db: Database,
    organization_id: uuid.UUID,
    first_day: date,
    last_day: date,
    currency: str | None,
    limit: int,
    as_of: datetime,
) -> list[CustomerRevenue]:
    """The customers with the most usage revenue over [first_day, last_day], with what they were invoiced."""
    analytics.check_limit(limit)
    currency, starts_at, ends_at = await _range_context(db, organization_id, first_day, last_day, currency, as_of)
    async with db.read() as session:
        repo = AnalyticsRepository(session, organization_id)
        phases = await repo.fee_phases(currency)
        coupons = await repo.recurring_coupons()
        invoice_rows = await repo.finalized_invoices(currency)
        facts = [
            analytics.CustomerInvoiceFact(
                customer=str(row.customer_id),
                finalized_at=row.finalized_at,
                total=from_minor_units(row.total_minor, currency),
                usage_amount=from_minor_units(int(row.charges_minor) - row.progressive_credit_minor, currency),
                voided=row.status == "VOID",
            )
            for row in invoice_rows
        ]
        ranked = analytics.top_customers(
            facts, customer_histories(phases, coupons), currency, starts_at, ends_at, limit
        )
        names = await repo.customer_names(uuid.UUID(item.customer) for item in ranked)
    return [
        CustomerRevenue(
            customer_external_id=names[uuid.UUID(item.customer)][0],
            customer_name=names[uuid.UUID(item.customer)][1],
            currency=currency,
            usage_revenue=item.usage_revenue,
            invoiced_amount=item.invoiced_amount,
            invoice_count=item.invoice_count,
            mrr=item.mrr,
        )
        for item in ranked
    ]


async def revenue_by_plan(
    db: Database,
    organization_id: uuid.UUID,
    first_day: date,
    last_day: date,
    currency: str | None,
    as_of: datetime,
) -> list[PlanRevenue]:
    """Per plan in the currency: MRR at the range's end and the fees billed over [first_day, last_day]."""
    currency, starts_at, ends_at = await _range_context(db, organization_id, first_day, last_day, currency, as_of)
    async with db.read() as session:
        repo = AnalyticsRepository(session, organization_id)
        phase_rows = await repo.fee_phases(currency)
        line_rows = await repo.plan_lines(currency, starts_at, ends_at)
    names = {row.plan_code: row.plan_name for row in phase_rows}
    lines = [
        analytics.PlanLineFact(
            subscription=row.subscription_external_id,
            kind=analytics.FeeKind(row.kind),
            amount=from_minor_units(row.amount_minor, currency),
            period_start=row.period_start,
            finalized_at=row.finalized_at,
        )
        for row in line_rows
    ]
    found = analytics.revenue_by_plan(planned_subscriptions(phase_rows), lines, currency, ends_at)
    return [
        PlanRevenue(
            plan_code=item.plan,
            plan_name=names.get(item.plan, item.plan),
            currency=currency,
            mrr=item.mrr,
            active_subscriptions=item.active_subscriptions,
            subscription_revenue=item.subscription_revenue,
            usage_revenue=item.usage_revenue,
            true_up_revenue=item.true_up_revenue,
            total_revenue=item.total_revenue,
        )
        for item in found
    ]


def planned_subscriptions(phase_rows: Sequence[Any]) -> list[analytics.PlannedSubscription]:
    """Each subscription (rows ordered by customer, subscription, phase) with the plan of each phase."""
    by_subscription: dict[uuid.UUID, list[Any]] = {}
    for row in phase_rows:
        by_subscription.setdefault(row.subscription_id, []).append(row)
    result = []
    for rows in by_subscription.values():
        first = rows[0]
        ends = [at for at in (first.terminated_at, first.ending_at) if at is not None]
        history = SubscriptionHistory(
            first.started_at,
            tuple(_fee_phase(row) for row in rows),
            trial_ends_at=first.trial_ends_at,
            ended_at=min(ends, default=None),
        )
        result.append(
            analytics.PlannedSubscription(first.subscription_external_id, history, tuple(row.plan_code for row in rows))
        )
    return result


def _fee_phase(row: Any) -> FeePhase:
    amount = Decimal(row.amount_override) if row.amount_override is not None else row.amount
    return FeePhase(row.starts_at, row.ends_at, amount, Interval(row.interval), row.currency)
