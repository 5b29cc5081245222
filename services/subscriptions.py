"""Subscriptions: create, change plan (upgrade now / downgrade at period end), cancel, terminate."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from db.locks import LockNamespace, advisory_xact_lock
from db.models import Charge, Customer, Organization, Plan, Subscription, SubscriptionPhase
from db.repositories.catalog import PlanRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.session import UnitOfWork
from domain import money, pricing, proration
from domain.periods import BillingTime, Interval, Period, period_containing
from domain.subscriptions import Lifecycle, SubscriptionStatus, is_live, status_at
from services import audit
from services.actors import Actor
from services.catalog import check_code, parse_charge_properties
from services.clocks import on_customer_time
from services.errors import AlreadyExists, CatalogCode, CommonCode, Invalid, NotFound, Resource, SubscriptionCode, found


def lifecycle(subscription: Subscription) -> Lifecycle:
    ended = SubscriptionStatus(subscription.ended_status) if subscription.ended_status else None
    return Lifecycle(
        subscription.started_at, subscription.trial_ends_at, subscription.ending_at, ended, subscription.past_due
    )


def status_now(subscription: Subscription, at: datetime) -> SubscriptionStatus:
    return status_at(lifecycle(subscription), at)


def customer_timezone(customer: Customer, organization: Organization | None) -> str:
    return timezone_of(customer, organization.timezone if organization else None)


def timezone_of(customer: Customer, organization_timezone: str | None) -> str:
    """The customer's own time zone, else its organization's, else UTC."""
    return customer.timezone or organization_timezone or "UTC"


def phase_at(subscription: Subscription, at: datetime) -> SubscriptionPhase:
    """The phase in effect at `at` (the first one before the start, the last one after the end)."""
    phases = subscription.phases
    for phase in phases:
        if phase.starts_at <= at and (phase.ends_at is None or at < phase.ends_at):
            return phase
    return phases[0] if at < phases[0].starts_at else phases[-1]


def upcoming_phase(subscription: Subscription, at: datetime) -> SubscriptionPhase | None:
    return next((p for p in subscription.phases if p.starts_at > at), None)


def current_period(subscription: Subscription, tz: str, at: datetime) -> Period:
    """The billing period containing `at` (the first one for a subscription not started yet)."""
    phase = phase_at(subscription, at)
    return period_containing(
        subscription.started_at,
        Interval(phase.plan.interval),
        BillingTime(subscription.billing_time),
        max(at, subscription.started_at),
        tz,
    )


# --- effective prices (plan + per-subscription overrides) ---------------------------------


@dataclass(frozen=True)
class EffectiveCharge:
    charge: Charge
    metric_code: str
    model: pricing.ChargeModel
    properties: pricing.ChargeProperties
    filters: tuple[tuple[Mapping[str, Sequence[str]], pricing.ChargeProperties, str | None], ...]


@dataclass(frozen=True)
class EffectivePlan:
    plan: Plan
    amount: Decimal
    minimum_commitment: Decimal | None
    charges: tuple[EffectiveCharge, ...]


def billed_days_end(subscription: Subscription, end: datetime, tz: str) -> datetime:
    """Where the days billed for a stretch of a subscription ending at `end` stop: a termination bills
    its own day (to the next local midnight); any other end leaves its day to what follows."""
    if subscription.ended_status == SubscriptionStatus.TERMINATED and subscription.terminated_at == end:
        return proration.end_of_local_day(end, tz)
    return end


def effective_plan(phase: SubscriptionPhase) -> EffectivePlan:
    """The plan as this subscription pays it: an enterprise deal overrides the listed prices."""
    plan, overrides = phase.plan, phase.overrides or {}
    charge_overrides = overrides.get("charges", {})
    charges = []
    for charge in plan.charges:
        model = pricing.ChargeModel(charge.model)
        raw = charge_overrides.get(charge.billable_metric.code, charge.properties)
        filters = tuple(
            (f["values"], pricing.parse_properties(model, f["properties"]), f.get("invoiceDisplayName"))
            for f in charge.filters or []
        )
        charges.append(
            EffectiveCharge(charge, charge.billable_metric.code, model, pricing.parse_properties(model, raw), filters)
        )
    amount = Decimal(overrides["amount"]) if overrides.get("amount") is not None else plan.amount
    minimum = overrides.get("minimumCommitment")
    return EffectivePlan(
        plan, amount, Decimal(minimum) if minimum is not None else plan.minimum_commitment, tuple(charges)
    )


@dataclass(frozen=True)
class PlanOverrides:
    amount: Decimal | None = None
    minimum_commitment: Decimal | None = None
    trial_period_days: int | None = None
    charges: Mapping[str, Mapping[str, Any]] | None = None  # metric code -> properties


def _check_overrides(plan: Plan, overrides: PlanOverrides | None) -> dict[str, Any]:
    if overrides is None:
        return {}
    checked: dict[str, Any] = {}
    for name, value in (("amount", overrides.amount), ("minimumCommitment", overrides.minimum_commitment)):
        if value is not None:
            parsed = money.parse_decimal(value, field=("planOverrides", name))
            if parsed < 0:
                raise Invalid("must not be negative", field=("planOverrides", name), code=CommonCode.NEGATIVE_AMOUNT)
            checked[name] = str(parsed)
    if overrides.charges:
        by_code = {c.billable_metric.code: c for c in plan.charges}
        checked["charges"] = {}
        for index, (code, raw) in enumerate(overrides.charges.items()):
            charge = by_code.get(code)
            at = ("planOverrides", "charges", str(index))
            if charge is None:
                raise NotFound(
                    f"the plan has no charge for metric {code!r}",
                    field=(*at, "billableMetricCode"),
                    code=CatalogCode.UNKNOWN_METRIC,
                )
            props = parse_charge_properties(pricing.ChargeModel(charge.model), raw, (*at, "properties"))
            checked["charges"][code] = pricing.properties_as_json(props)
    return checked


# --- use cases ------------------------------------------------------------------------------


def subscription_view(subscription: Subscription) -> dict[str, Any]:
    return {
        "externalId": subscription.external_id,
        "billingTime": subscription.billing_time,
        "startedAt": subscription.started_at,
        "trialEndsAt": subscription.trial_ends_at,
        "endingAt": subscription.ending_at,
        "terminatedAt": subscription.terminated_at,
        "endedStatus": subscription.ended_status,
        "phases": [
            {"plan": p.plan.code, "startsAt": p.starts_at, "endsAt": p.ends_at, "overrides": p.overrides}
            for p in subscription.phases
        ],
    }


@dataclass(frozen=True)
class SubscriptionSpec:
    customer_external_id: str
    plan_code: str
    external_id: str | None = None
    name: str | None = None
    started_at: datetime | None = None
    billing_time: str = BillingTime.CALENDAR.value
    overrides: PlanOverrides | None = None


async def _plan_for(uow: UnitOfWork, actor: Actor, code: str, customer: Customer, field: str) -> Plan:
    plan = found(
        await PlanRepository(uow.session, actor.organization_id).by_code(code),
        NotFound(Resource.PLAN, f"no plan with code {code!r}", field=(field,)),
    )
    if customer.currency and customer.currency != plan.currency:
        raise Invalid(
            f"the plan is priced in {plan.currency} but the customer pays in {customer.currency}",
            field=(field,),
            code=SubscriptionCode.CURRENCY_MISMATCH,
        )
    return plan


async def create_subscription(uow: UnitOfWork, actor: Actor, spec: SubscriptionSpec) -> Subscription:
    customer = found(
        await CustomerRepository(uow.session, actor.organization_id).by_external_id(spec.customer_external_id),
        NotFound(
            Resource.CUSTOMER,
            f"no customer with externalId {spec.customer_external_id!r}",
            field=("customerExternalId",),
        ),
    )
    await advisory_xact_lock(uow.session, LockNamespace.CUSTOMER_BILLING, customer.id)
    await on_customer_time(uow, customer)  # a customer on a test clock starts at the clock's time
    plan = await _plan_for(uow, actor, spec.plan_code, customer, "planCode")
    external_id = check_code(spec.external_id, ("externalId",)) if spec.external_id else str(uuid.uuid4())
    repo = SubscriptionRepository(uow.session, actor.organization_id)
    if await repo.by_external_id(external_id) is not None:
        raise AlreadyExists(f"a subscription with externalId {external_id!r} exists", field=("externalId",))
    started_at = spec.started_at or uow.clock.now()
    if started_at.tzinfo is None:
        raise Invalid("startedAt needs a UTC offset", field=("startedAt",), code=CommonCode.NAIVE_DATETIME)
    overrides = _check_overrides(plan, spec.overrides)
    trial_days = plan.trial_period_days
    if spec.overrides is not None and spec.overrides.trial_period_days is not None:
        if spec.overrides.trial_period_days < 0:
            raise Invalid(
                "must not be negative", field=("planOverrides", "trialPeriodDays"), code=SubscriptionCode.INVALID_TRIAL
            )
        trial_days = spec.overrides.trial_period_days
    organization = await OrganizationRepository(uow.session).get(actor.organization_id)
    tz = customer_timezone(customer, organization)
    if customer.currency is None:
        customer.currency = plan.currency  # the first subscription fixes the customer's currency
    subscription = Subscription(
        customer=customer,
        customer_id=customer.id,
        external_id=external_id,
        name=spec.name,
        billing_time=BillingTime(spec.billing_time).value,
        started_at=started_at,
        trial_ends_at=proration.trial_end(started_at, trial_days, tz),
        cancel_at_period_end=False,
        past_due=False,
        phases=[SubscriptionPhase(plan=plan, plan_id=plan.id, starts_at=started_at, overrides=overrides)],
    )
    await repo.add(subscription)
    await audit.record(
        uow, actor, "subscription.created", "subscription", subscription.id, after=subscription_view(subscription)
    )
    return subscription


async def _live_subscription(uow: UnitOfWork, actor: Actor, external_id: str) -> Subscription:
    subscription = found(
        await SubscriptionRepository(uow.session, actor.organization_id).by_external_id(external_id, for_update=True),
        NotFound(f"no subscription with externalId {external_id!r}", field=("externalId",)),
    )
    await on_customer_time(uow, subscription.customer)
    if not is_live(status_now(subscription, uow.clock.now())):
        raise Invalid("the subscription has ended", field=("externalId",), code=SubscriptionCode.SUBSCRIPTION_ENDED)
    return subscription


async def _drop_future_phases(repo: SubscriptionRepository, subscription: Subscription, at: datetime) -> None:
    for phase in [p for p in subscription.phases if p.starts_at > at]:
        await repo.remove_phase(subscription, phase)


class PlanChangeKind(StrEnum):
    UPGRADE = "UPGRADE"  # dearer per year: applies at once
    DOWNGRADE = "DOWNGRADE"  # scheduled at the end of the current period
    PLAN_REPLACED = "PLAN_REPLACED"  # not started yet: the plan it starts on is replaced
    DOWNGRADE_CANCELED = "DOWNGRADE_CANCELED"  # back to the current plan: the scheduled downgrade is dropped


@dataclass(frozen=True)
class PlanChange:
    subscription: Subscription
    upgraded_at: datetime | None = None  # set when an upgrade of a started subscription applied at once
    previous_phase: SubscriptionPhase | None = None
    new_phase: SubscriptionPhase | None = None
    kind: PlanChangeKind = PlanChangeKind.UPGRADE
    effective_at: datetime | None = None  # when the new plan takes effect
    previous_plan: Plan | None = None  # the plan in effect before the change
    new_plan: Plan | None = None


async def change_plan(
    uow: UnitOfWork, actor: Actor, external_id: str, plan_code: str, overrides: PlanOverrides | None = None
) -> PlanChange:
    """An upgrade (dearer per year) applies now; a downgrade at the end of the current period."""
    subscription = await _live_subscription(uow, actor, external_id)
    await advisory_xact_lock(uow.session, LockNamespace.CUSTOMER_BILLING, subscription.customer_id)
    repo = SubscriptionRepository(uow.session, actor.organization_id)
    at = uow.clock.now()
    before = subscription_view(subscription)
    new_plan = await _plan_for(uow, actor, plan_code, subscription.customer, "planCode")
    current = phase_at(subscription, at)
    previous_plan = current.plan
    if overrides is not None and overrides.trial_period_days is not None:
        # A trial belongs to the subscription (trialEndsAt, set when it started): a new phase does not start one,
        # and a value taken and then ignored would say it did.
        raise Invalid(
            "a trial starts with the subscription; a plan change keeps the subscription's trial as it is",
            field=("planOverrides", "trialPeriodDays"),
            code=SubscriptionCode.TRIAL_NOT_CHANGEABLE,
        )
    new_overrides = _check_overrides(new_plan, overrides)
    if new_plan.id == current.plan_id and new_overrides == (current.overrides or {}):
        if upcoming_phase(subscription, at) is None:
            raise Invalid(
                "the subscription is already on this plan", field=("planCode",), code=SubscriptionCode.SAME_PLAN
            )
        # Back to the current plan: the scheduled downgrade is dropped.
        await _drop_future_phases(repo, subscription, at)
        current.ends_at = subscription.ending_at
        await audit.record(
            uow,
            actor,
            "subscription.downgrade_canceled",
            "subscription",
            subscription.id,
            before=before,
            after=subscription_view(subscription),
        )
        return PlanChange(
            subscription,
            kind=PlanChangeKind.DOWNGRADE_CANCELED,
            effective_at=at,
            previous_plan=previous_plan,
            new_plan=new_plan,
        )
    await _drop_future_phases(repo, subscription, at)
    if status_now(subscription, at) is SubscriptionStatus.PENDING:
        current.plan, current.plan_id, current.overrides = new_plan, new_plan.id, new_overrides
        action = "subscription.plan_changed"
        change = PlanChange(
            subscription,
            kind=PlanChangeKind.PLAN_REPLACED,
            effective_at=subscription.started_at,
            previous_plan=previous_plan,
            new_plan=new_plan,
        )
    else:
        old = effective_plan(current)
        new_amount = Decimal(new_overrides["amount"]) if "amount" in new_overrides else new_plan.amount
        upgrade = proration.is_upgrade(
            old.amount, Interval(current.plan.interval), new_amount, Interval(new_plan.interval)
        )
        organization = await OrganizationRepository(uow.session).get(actor.organization_id)
        period = current_period(subscription, customer_timezone(subscription.customer, organization), at)
        switch_at = proration.plan_change_effective(upgrade, at, period)
        current.ends_at = switch_at
        new_phase = SubscriptionPhase(plan=new_plan, plan_id=new_plan.id, starts_at=switch_at, overrides=new_overrides)
        await repo.add_phase(subscription, new_phase)
        action = "subscription.upgraded" if upgrade else "subscription.downgrade_scheduled"
        change = PlanChange(
            subscription,
            switch_at if upgrade else None,
            current if upgrade else None,
            new_phase if upgrade else None,
            kind=PlanChangeKind.UPGRADE if upgrade else PlanChangeKind.DOWNGRADE,
            effective_at=switch_at,
            previous_plan=previous_plan,
            new_plan=new_plan,
        )
    await audit.record(
        uow, actor, action, "subscription", subscription.id, before=before, after=subscription_view(subscription)
    )
    return change


async def terminate_subscription(uow: UnitOfWork, actor: Actor, external_id: str) -> Subscription:
    """Ends now: billed to today. A subscription that had not started is canceled instead."""
    subscription = await _live_subscription(uow, actor, external_id)
    repo = SubscriptionRepository(uow.session, actor.organization_id)
    at, before = uow.clock.now(), subscription_view(subscription)
    pending = status_now(subscription, at) is SubscriptionStatus.PENDING
    await _drop_future_phases(repo, subscription, at if not pending else subscription.started_at)
    subscription.terminated_at = at
    subscription.ended_status = (SubscriptionStatus.CANCELED if pending else SubscriptionStatus.TERMINATED).value
    if not pending:
        phase_at(subscription, at).ends_at = at
    await uow.session.flush()
    await audit.record(
        uow,
        actor,
        "subscription.terminated",
        "subscription",
        subscription.id,
        before=before,
        after=subscription_view(subscription),
    )
    return subscription


async def cancel_subscription(uow: UnitOfWork, actor: Actor, external_id: str) -> Subscription:
    """Ends at the end of the current period (no refund); a pending one is canceled at once."""
    subscription = await _live_subscription(uow, actor, external_id)
    at = uow.clock.now()
    if status_now(subscription, at) is SubscriptionStatus.PENDING:
        return await terminate_subscription(uow, actor, external_id)
    repo = SubscriptionRepository(uow.session, actor.organization_id)
    before = subscription_view(subscription)
    organization = await OrganizationRepository(uow.session).get(actor.organization_id)
    period = current_period(subscription, customer_timezone(subscription.customer, organization), at)
    await _drop_future_phases(repo, subscription, at)
    subscription.ending_at = period.end
    subscription.cancel_at_period_end = True
    phase_at(subscription, at).ends_at = period.end
    await uow.session.flush()
    await audit.record(
        uow,
        actor,
        "subscription.canceled",
        "subscription",
        subscription.id,
        before=before,
        after=subscription_view(subscription),
    )
    return subscription


async def update_subscription(uow: UnitOfWork, actor: Actor, external_id: str, *, name: str | None) -> Subscription:
    subscription = found(
        await SubscriptionRepository(uow.session, actor.organization_id).by_external_id(external_id),
        NotFound(f"no subscription with externalId {external_id!r}", field=("externalId",)),
    )
    before = subscription_view(subscription)
    if name is not None:
        subscription.name = name.strip() or None
    await audit.record(
        uow,
        actor,
        "subscription.updated",
        "subscription",
        subscription.id,
        before=before,
        after={**subscription_view(subscription), "name": subscription.name},
    )
    return subscription
