"""Usage alerts: a customer is told when its usage of the current billing period reaches a threshold it set.

An alert belongs to one customer and measures, in each live subscription's current period, either AMOUNT (the
usage charges so far, as `customerUsage` shows them: each rounded like an invoice line, before tax and without
the subscription fee, in the plan's currency; of one metric's charges when the alert names a metric) or UNITS
(the period's units of the alert's metric). It fires when the measure is at or above the threshold: once per
subscription period and threshold, held by a unique row (`usage_alert_firings`), so that two checks at once, a
retried job or a test clock's advance run again send one email and one `customer.usage_alert_triggered`
webhook event. Raising the threshold later in the period lets the alert fire again at the new one.

The check runs with progressive billing's threshold check: the worker's 5-minute scan (workers/jobs/progressive.py)
and, for customers on a test clock, the advance's usage-threshold moments (services/test_clocks.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from db.locks import LockNamespace, advisory_xact_lock
from db.models import Customer, UsageAlert, UsageAlertFiring
from db.repositories.alerts import UsageAlertRepository
from db.repositories.catalog import BillableMetricRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.session import UnitOfWork
from services import audit, notifications
from services.actors import Actor
from services.errors import CatalogCode, Invalid, NotFound, Resource, found
from services.subscriptions import customer_timezone, status_now
from services.usage.rating import LIVE, UsageReport, UsageUnavailable, subscription_usage, usage_window

log = logging.getLogger("valueverse.usage_alerts")

MAX_ALERTS_PER_CUSTOMER = 25
MAX_NAME_LENGTH = 200
MAX_THRESHOLD = Decimal(10) ** 24  # NUMERIC(38, 12) holds 26 digits before the point; 10^24 is past any budget
_WIDE = Context(prec=40)  # 24 digits and 12 decimals fit: quantizing never overflows (InvalidOperation)
ALERT_ACTION = "usage_alert.triggered"  # its audit entry is the webhook event customer.usage_alert_triggered


class ThresholdType(StrEnum):
    AMOUNT = "AMOUNT"  # the usage charges so far, in the plan's currency
    UNITS = "UNITS"  # a quantity of the alert's metric


class AlertCode(StrEnum):
    INVALID_THRESHOLD = "INVALID_THRESHOLD"
    METRIC_REQUIRED = "METRIC_REQUIRED"
    TOO_MANY_USAGE_ALERTS = "TOO_MANY_USAGE_ALERTS"
    NAME_TOO_LONG = "NAME_TOO_LONG"


@dataclass(frozen=True)
class AlertView:
    """An alert as it is shown: with its customer's and metric's codes and its latest firing."""

    alert: UsageAlert
    customer_external_id: str
    metric_code: str | None
    last_firing: UsageAlertFiring | None


def _not_found() -> NotFound:
    return NotFound("no usage alert with this id", field=("id",))


def _threshold(value: Decimal | None) -> Decimal:
    if value is None or not value.is_finite() or not Decimal(0) < value < MAX_THRESHOLD or (
        value != value.quantize(Decimal("1e-12"), context=_WIDE)
    ):
        raise Invalid(
            "the threshold is a positive number below 10^24 with at most 12 decimal places",
            field=("threshold",),
            code=AlertCode.INVALID_THRESHOLD,
        )
    return value


def _name(value: str | None) -> str:
    text = (value or "").strip()
    if len(text) > MAX_NAME_LENGTH:
        raise Invalid(f"a name is at most {MAX_NAME_LENGTH} characters", field=("name",), code=AlertCode.NAME_TOO_LONG)
    return text


async def _customer(session: AsyncSession, actor: Actor, external_id: str) -> Customer:
    return found(
        await CustomerRepository(session, actor.organization_id).by_external_id(external_id),
        NotFound(Resource.CUSTOMER, f"no customer with external id {external_id!r}", field=("customerExternalId",)),
    )


async def _own(uow: UnitOfWork, actor: Actor, alert_id: uuid.UUID) -> UsageAlert:
    """The alert by id, locked; a portal link's only when it is its own customer's."""
    alert = found(await UsageAlertRepository(uow.session, actor.organization_id).get(alert_id, for_update=True),
                  _not_found())
    if actor.is_portal and alert.customer_id != actor.customer_id:
        raise _not_found()
    return alert


async def _view(session: AsyncSession, actor: Actor, alerts: list[UsageAlert]) -> list[AlertView]:
    repo = UsageAlertRepository(session, actor.organization_id)
    codes = await repo.metric_codes(sorted({a.billable_metric_id for a in alerts if a.billable_metric_id}))
    last = await repo.last_firings([a.id for a in alerts])
    customers = await CustomerRepository(session, actor.organization_id).by_ids({a.customer_id for a in alerts})
    return [
        AlertView(
            a,
            customers[a.customer_id].external_id,
            codes.get(a.billable_metric_id) if a.billable_metric_id else None,
            last.get(a.id),
        )
        for a in alerts
    ]


def _shown(alert: UsageAlert, customer_external_id: str, metric_code: str | None) -> dict[str, object]:
    return {
        "customerExternalId": customer_external_id,
        "metricCode": metric_code,
        "thresholdType": alert.threshold_type,
        "threshold": alert.threshold,
        "name": alert.name,
    }


async def create_alert(
    uow: UnitOfWork,
    actor: Actor,
    *,
    customer_external_id: str,
    threshold_type: ThresholdType,
    threshold: Decimal,
    metric_code: str | None = None,
    name: str | None = None,
) -> AlertView:
    """A new alert for one customer (a portal link: its own; the caller checks that)."""
    amount = _threshold(threshold)
    label = _name(name)
    customer = await _customer(uow.session, actor, customer_external_id)
    metric = None
    if metric_code:
        metric = found(
            await BillableMetricRepository(uow.session, actor.organization_id).by_code(metric_code),
            Invalid(f"no billable metric with code {metric_code!r}", field=("metricCode",),
                    code=CatalogCode.UNKNOWN_METRIC),
        )
    elif threshold_type is ThresholdType.UNITS:
        raise Invalid("a UNITS alert counts one metric: give metricCode", field=("metricCode",),
                      code=AlertCode.METRIC_REQUIRED)
    repo = UsageAlertRepository(uow.session, actor.organization_id)
    await advisory_xact_lock(uow.session, LockNamespace.CUSTOMER_USAGE_ALERTS, customer.id)  # the cap holds
    if await repo.count_of_customer(customer.id) >= MAX_ALERTS_PER_CUSTOMER:
        raise Invalid(
            f"a customer has at most {MAX_ALERTS_PER_CUSTOMER} usage alerts: delete one first",
            field=("customerExternalId",),
            code=AlertCode.TOO_MANY_USAGE_ALERTS,
        )
    now = uow.clock.now()
    alert = await repo.add(
        UsageAlert(
            customer_id=customer.id,
            billable_metric_id=metric.id if metric else None,
            threshold_type=threshold_type.value,
            threshold=amount,
            name=label,
            created_at=now,
            updated_at=now,
        )
    )
    await audit.record(uow, actor, "usage_alert.created", "usage_alert", alert.id,
                       after=_shown(alert, customer.external_id, metric.code if metric else None))
    return AlertView(alert, customer.external_id, metric.code if metric else None, None)


async def update_alert(
    uow: UnitOfWork, actor: Actor, alert_id: uuid.UUID, *, threshold: Decimal | None = None, name: str | None = None
) -> AlertView:
    """A new threshold or name (what is not given stays)."""
    alert = await _own(uow, actor, alert_id)
    [before] = await _view(uow.session, actor, [alert])
    was = _shown(alert, before.customer_external_id, before.metric_code)
    if threshold is not None:
        alert.threshold = _threshold(threshold)
    if name is not None:
        alert.name = _name(name)
    alert.updated_at = uow.clock.now()
    await audit.record(uow, actor, "usage_alert.updated", "usage_alert", alert.id, before=was,
                       after=_shown(alert, before.customer_external_id, before.metric_code))
    return before  # the same row, changed


async def delete_alert(uow: UnitOfWork, actor: Actor, alert_id: uuid.UUID) -> AlertView:
    """Removes the alert and its firings; returns it as it was."""
    alert = await _own(uow, actor, alert_id)
    [view] = await _view(uow.session, actor, [alert])
    await UsageAlertRepository(uow.session, actor.organization_id).delete(alert)
    await audit.record(uow, actor, "usage_alert.deleted", "usage_alert", alert_id,
                       before=_shown(alert, view.customer_external_id, view.metric_code))
    return view


async def alerts_of_customer(session: AsyncSession, actor: Actor, customer_external_id: str) -> list[AlertView]:
    """A customer's alerts, oldest first, each with its latest firing."""
    customer = await _customer(session, actor, customer_external_id)
    return await _view(session, actor, await UsageAlertRepository(session, actor.organization_id).of_customer(
        customer.id))


def plain(value: Decimal) -> str:
    """A threshold or a measure as written, without the stored scale: 80, 12.5 (not 80.000000000000)."""
    return format(value.normalize(), "f")


def measure(alert: UsageAlert, metric_code: str | None, report: UsageReport) -> Decimal:
    """What an alert compares with its threshold in one subscription's current usage."""
    charges = [c for c in report.charges if metric_code is None or c.metric_code == metric_code]
    if alert.threshold_type == ThresholdType.UNITS:
        # Charges of one metric share its aggregate (filters split it into prices, not into more units).
        return max((c.units for c in charges), default=Decimal(0))
    return sum((c.amount for c in charges), Decimal(0))


async def check_usage_alerts(uow: UnitOfWork, actor: Actor, customer_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
    """Fire the customer's alerts whose threshold its current usage reached: the firings made by this call."""
    repo = UsageAlertRepository(uow.session, actor.organization_id)
    alerts = await repo.of_customer(customer_id)
    if not alerts:
        return []
    customer = (await CustomerRepository(uow.session, actor.organization_id).by_ids([customer_id])).get(customer_id)
    if customer is None:
        return []
    organization = None if customer.timezone else await OrganizationRepository(uow.session).get(actor.organization_id)
    tz = customer_timezone(customer, organization)
    codes = await repo.metric_codes(sorted({a.billable_metric_id for a in alerts if a.billable_metric_id}))
    fired: list[uuid.UUID] = []
    for sub in await SubscriptionRepository(uow.session, actor.organization_id).of_customer_with_plans(customer_id):
        if status_now(sub, now) not in LIVE:
            continue
        window = usage_window(sub, tz, now)
        done = await repo.fired_keys([a.id for a in alerts], sub.id, window.start)
        waiting = [
            a for a in alerts
            if (a.id, a.threshold) not in done and (a.billable_metric_id is None or a.billable_metric_id in codes)
        ]
        if not waiting:
            continue  # every alert told already this period: no rating on each scan until the next one
        try:
            report = await subscription_usage(uow.session, actor.organization_id, sub, tz, now)
        except UsageUnavailable as exc:  # its usage cannot be rated now: billing says so; alerts wait
            log.warning("usage alerts of subscription %s not checked: %s", sub.external_id, exc)
            continue
        for alert in waiting:
            metric_code = codes.get(alert.billable_metric_id) if alert.billable_metric_id else None
            value = measure(alert, metric_code, report)
            if value < alert.threshold:
                continue
            firing_id = await repo.fire({
                "alert_id": alert.id, "customer_id": customer.id, "subscription_id": sub.id,
                "period_start": report.from_datetime, "period_end": report.to_datetime,
                "threshold": alert.threshold, "value": value, "currency": report.currency, "triggered_at": now,
            })
            if firing_id is None:
                continue  # a concurrent check fired it
            await audit.record(
                uow, actor, ALERT_ACTION, "usage_alert", alert.id,
                after={
                    "firingId": str(firing_id), "customerId": str(customer.id),
                    "customerExternalId": customer.external_id,
                    "subscriptionExternalId": sub.external_id, "metricCode": metric_code,
                    "thresholdType": alert.threshold_type, "threshold": plain(alert.threshold), "value": plain(value),
                    "currency": report.currency, "periodStart": report.from_datetime.isoformat(),
                    "periodEnd": report.to_datetime.isoformat(), "name": alert.name,
                },
            )
            notifications.queue_usage_alert(uow, actor.organization_id, firing_id)
            fired.append(firing_id)
    return fired
