"""What is due at a billing date: the fees, usage and true-ups of each subscription period that ended,
and fees in advance, from where billing of each subscription stands (nothing is written here).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from db.models import Customer, Organization, Subscription, SubscriptionPhase
from domain import invoicing, money, proration
from domain.billing_keys import BillingKey
from domain.invoicing import InvoiceLineKind
from domain.periods import BillingTime, Interval, Period, full_period_containing, period_containing
from domain.subscriptions import SubscriptionStatus
from services import audit
from services.subscriptions import EffectivePlan, billed_days_end, customer_timezone, effective_plan
from services.usage.rating import BatchedRating, ChargeUsage


@dataclass
class DueLine:
    kind: InvoiceLineKind  # SUBSCRIPTION, CHARGE, TRUE_UP, ONE_OFF
    description: str
    amount: Decimal
    subscription: Subscription | None
    tax_targets: tuple[tuple[str, uuid.UUID], ...]  # (CHARGE|PLAN, id) most specific first
    units: Decimal | None = None
    metric_code: str | None = None
    period: Period | None = None
    breakdown: list[dict[str, Any]] = field(default_factory=list)


def _phase_window(subscription: Subscription, phase: SubscriptionPhase, period: Period, end: datetime) -> Period | None:
    """The part of `period` (cut at `end`) during which `phase` was in effect."""
    start = period.start if phase is subscription.phases[0] else max(period.start, phase.starts_at)
    stop = min(end, phase.ends_at or end)
    return Period(start, stop) if start < stop else None


def _service_end(subscription: Subscription, tz: str) -> datetime | None:
    """When billing of a subscription stops: its termination (billed at once), or the end of a cancel."""
    if subscription.terminated_at is not None and subscription.ended_status == SubscriptionStatus.TERMINATED:
        return subscription.terminated_at
    return subscription.ending_at


def fee_line(
    subscription: Subscription, phase: SubscriptionPhase, period: Period, end: datetime, tz: str, anchor: datetime
) -> DueLine | None:
    plan = effective_plan(phase)
    window = _phase_window(subscription, phase, period, end)
    if window is None or plan.amount == 0:
        return None
    interval, billing_time = Interval(phase.plan.interval), BillingTime(subscription.billing_time)
    full = full_period_containing(anchor, interval, billing_time, period.start, tz)
    window = Period(window.start, min(period.end, billed_days_end(subscription, window.end, tz)))
    amount = proration.period_fee(
        plan.amount,
        period,
        full,
        tz,
        service_start=window.start,
        service_end=window.end,
        trial_end=subscription.trial_ends_at,
    )
    if amount == 0:
        return None
    days = proration.billable_days(period, window.start, window.end, subscription.trial_ends_at, tz)
    description = (
        f"{phase.plan.name} ({days}/{proration.days_in(full, tz)} days)" if amount != plan.amount else phase.plan.name
    )
    return DueLine(
        InvoiceLineKind.SUBSCRIPTION,
        description,
        amount,
        subscription,
        (("PLAN", phase.plan.id),),
        period=Period(window.start, window.end),
    )


def _usage_lines(
    subscription: Subscription,
    phase: SubscriptionPhase,
    plan: EffectivePlan,
    charges: Sequence[ChargeUsage],
    window: Period,
    share: proration.PeriodShare = proration.WHOLE_PERIOD,
) -> list[DueLine]:
    lines: list[DueLine] = []
    fees = Decimal(0)
    for effective, usage in zip(plan.charges, charges, strict=True):
        targets = (("CHARGE", effective.charge.id), ("PLAN", phase.plan.id))
        name = effective.charge.invoice_display_name or usage.metric_name
        parts = usage.filters or ()
        if parts:
            for part in parts:
                label = part.invoice_display_name or (
                    name + " - " + ", ".join(f"{k}: {'/'.join(v)}" for k, v in part.values.items())
                    if part.values
                    else name
                )
                lines.append(
                    DueLine(
                        InvoiceLineKind.CHARGE,
                        label,
                        part.fee.amount,
                        subscription,
                        targets,
                        part.units,
                        usage.metric_code,
                        window,
                        _breakdown(part.fee),
                    )
                )
                fees += money.round_minor(part.fee.amount, plan.plan.currency)
        else:
            assert usage.fee is not None  # a charge without filters has one fee
            lines.append(
                DueLine(
                    InvoiceLineKind.CHARGE,
                    name,
                    usage.fee.amount,
                    subscription,
                    targets,
                    usage.units,
                    usage.metric_code,
                    window,
                    _breakdown(usage.fee),
                )
            )
            fees += money.round_minor(usage.fee.amount, plan.plan.currency)
        if effective.charge.min_amount:
            topped = invoicing.charge_minimum_true_up(effective.charge.min_amount, usage.amount, share)
            if topped > 0:
                lines.append(
                    DueLine(
                        InvoiceLineKind.TRUE_UP,
                        f"{name} - minimum spend",
                        topped,
                        subscription,
                        targets,
                        metric_code=usage.metric_code,
                        period=window,
                    )
                )
                fees += topped
    return lines


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _breakdown(fee: Any) -> list[dict[str, Any]]:
    """A fee's math as the API shows it (camelCase keys, decimal strings)."""
    return [{_camel(k): v for k, v in step.items()} for step in _raw_breakdown(fee)]


def _raw_breakdown(fee: Any) -> list[dict[str, Any]]:
    return [
        audit.jsonable({k: getattr(line, k) for k in line.__slots__ if getattr(line, k) is not None})
        for line in fee.breakdown
    ]


@dataclass
class BillingDate:
    at: datetime
    lines: list[DueLine] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)
    advanced: dict[uuid.UUID, datetime] = field(default_factory=dict)  # subscription -> billed through
    progressive: list[tuple[Subscription, Period]] = field(default_factory=list)  # periods that may have interims

    @property
    def key(self) -> str:
        """The invoice's `billing_key`: a customer has one invoice per billing date."""
        return str(BillingKey.billing_date(self.at))


async def _due(
    rate: BatchedRating | None,
    org: Organization,
    customer: Customer,
    subscriptions: Sequence[Subscription],
    as_of: datetime,
) -> dict[datetime, BillingDate]:
    """What each billing date of the customer up to `as_of` bills, from where billing of each subscription stands.

    Usage is rated through `rate`, so that the dates of many customers computed side by side read their usage
    together. With `rate=None`, the dates only (the same dates, periods and advances; no lines are priced and no
    usage is read): for finding when billing next falls due (a test clock's advance asks at every moment)."""
    tz = customer_timezone(customer, org)
    dates: dict[datetime, BillingDate] = {}

    def at(moment: datetime) -> BillingDate:
        return dates.setdefault(moment, BillingDate(moment))

    for sub in subscriptions:
        anchor, billing_time = sub.started_at, BillingTime(sub.billing_time)
        service_end = _service_end(sub, tz)
        if sub.ended_status == SubscriptionStatus.CANCELED and sub.terminated_at and sub.started_at > sub.terminated_at:
            continue  # canceled before it started: nothing to bill
        first_phase = sub.phases[0]
        first = period_containing(anchor, Interval(first_phase.plan.interval), billing_time, anchor, tz)
        cursor = sub.billed_through
        if cursor is None:
            if first.start > as_of:
                continue
            if first_phase.plan.pay_in_advance and rate is not None:
                line = fee_line(sub, first_phase, first, first.end, tz, anchor)
                if line is not None:
                    at(first.start).lines.append(line)
            at(first.start).advanced[sub.id] = first.start
            cursor = first.start
        while True:
            phase = _phase_at(sub, cursor)
            period = period_containing(anchor, Interval(phase.plan.interval), billing_time, cursor, tz)
            end = min(period.end, service_end) if service_end else period.end
            # An upgrade to a plan of another interval ends the old plan's cadence at the change: the old
            # plan is billed to the change; the new plan runs on its own periods from there, its first one
            # billed in advance by the upgrade itself (services/plan_changes.py).
            cadence_changed = _upgrade_to_another_interval(sub, phase, cursor, end)
            if cadence_changed is not None:
                end = cadence_changed
            if end > as_of or end <= cursor:
                break
            bill = at(end)
            bill.periods.append(Period(max(period.start, cursor), end))
            sub_lines: list[DueLine] = []
            paid_in_advance = Decimal(0)  # this period's fees billed at its start (net of any credit since)
            if rate is not None:  # pricing the period (the dates alone need none of it)
                for p in sub.phases:
                    if p.ends_at is not None and p.ends_at <= cursor:
                        continue  # billed with an earlier period (an upgrade that changed the interval)
                    window = _phase_window(sub, p, period, end)
                    if window is None:
                        continue
                    line = fee_line(sub, p, period, end, tz, anchor)
                    if line is not None and p.plan.pay_in_advance:
                        paid_in_advance += money.round_minor(line.amount, p.plan.currency)
                    elif line is not None:
                        sub_lines.append(line)
                    plan = effective_plan(p)
                    # a charge's minimum covers the days its charge covers, of the full period (domain/proration.py)
                    full = full_period_containing(anchor, Interval(phase.plan.interval), billing_time, period.start, tz)
                    share = proration.period_share(period, full, tz, window.start, billed_days_end(sub, window.end, tz))
                    sub_lines += _usage_lines(sub, p, plan, await rate(sub, plan, window, tz), window, share)
            commitment = effective_plan(phase).minimum_commitment if rate is not None else None
            if commitment:
                # The commitment covers the days billed (not trial days), and every fee of the period counts
                # towards it, whether billed now or in advance.
                full = full_period_containing(anchor, Interval(phase.plan.interval), billing_time, period.start, tz)
                share = proration.period_share(
                    period, full, tz, max(period.start, cursor), billed_days_end(sub, end, tz), sub.trial_ends_at
                )
                spent = paid_in_advance + sum(
                    (money.round_minor(line.amount, phase.plan.currency) for line in sub_lines), Decimal(0)
                )
                topped = invoicing.minimum_commitment_true_up(commitment, share, spent)
                if topped > 0:
                    sub_lines.append(
                        DueLine(
                            InvoiceLineKind.TRUE_UP,
                            f"{phase.plan.name} - minimum commitment",
                            topped,
                            sub,
                            (("PLAN", phase.plan.id),),
                            period=Period(period.start, end),
                        )
                    )
            bill.lines += sub_lines
            if phase.plan.usage_thresholds or any(c.pay_in_advance for c in phase.plan.charges):
                bill.progressive.append((sub, Period(period.start, end)))
            ended = service_end is not None and end >= service_end
            if not ended and cadence_changed is None:  # after an upgrade, its own invoice billed the new fee
                next_phase = _phase_at(sub, end)
                if next_phase.plan.pay_in_advance and rate is not None:
                    following = period_containing(anchor, Interval(next_phase.plan.interval), billing_time, end, tz)
                    line = fee_line(sub, next_phase, following, following.end, tz, anchor)
                    if line is not None:
                        bill.lines.append(line)
            bill.advanced[sub.id] = end
            cursor = end
            if ended:
                break
    return dates


def _upgrade_to_another_interval(
    subscription: Subscription, phase: SubscriptionPhase, cursor: datetime, end: datetime
) -> datetime | None:
    """When `phase` is cut short within (cursor, end) by an upgrade to a plan of another interval: the change."""
    if phase.ends_at is None or not cursor < phase.ends_at < end:
        return None
    following = next((p for p in subscription.phases if p.starts_at == phase.ends_at), None)
    if following is None or following.plan.interval == phase.plan.interval:
        return None
    return phase.ends_at


def _phase_at(subscription: Subscription, at: datetime) -> SubscriptionPhase:
    for phase in subscription.phases:
        if phase.starts_at <= at and (phase.ends_at is None or at < phase.ends_at):
            return phase
    return subscription.phases[0] if at < subscription.phases[0].starts_at else subscription.phases[-1]
