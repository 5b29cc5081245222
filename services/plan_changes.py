"""Plan changes and terminations with their money: a fee paid in advance for the current period is
credited for what the customer no longer owes (credit note), and an upgrade bills a new in-advance fee
for the rest of the period at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from db.models import CreditNote, Invoice, Organization, Subscription, SubscriptionPhase
from db.repositories.billing import InvoiceRepository
from db.repositories.organizations import OrganizationRepository
from db.session import UnitOfWork
from domain import money
from domain.billing_keys import BillingKey
from domain.invoicing import InvoiceLineKind
from domain.numbering import InvoiceStatus
from domain.periods import BillingTime, Interval, Period, period_containing
from domain.subscriptions import SubscriptionStatus
from services import credits, subscriptions
from services.actors import Actor
from services.billing.due import BillingDate, fee_line
from services.billing.issue import issue_invoice
from services.billing.kinds import UpgradeInvoice


@dataclass(frozen=True)
class Credit:
    """A credit note for unused time paid in advance, and the invoice it credits."""

    note: CreditNote
    invoice: Invoice


@dataclass(frozen=True)
class PlanChangeOutcome:
    """What a plan change did: the change itself, the credit notes for unused time paid in advance, and the
    invoice of an upgrade's new fee in advance (both empty when nothing was billed)."""

    change: subscriptions.PlanChange
    credits: tuple[Credit, ...] = ()
    invoice: Invoice | None = None


async def plan_change(
    uow: UnitOfWork,
    actor: Actor,
    external_id: str,
    plan_code: str,
    overrides: subscriptions.PlanOverrides | None = None,
) -> PlanChangeOutcome:
    """Change the plan with its money. The one use case behind both changeSubscriptionPlan and its preview
    (which runs it in a transaction that is rolled back)."""
    change = await subscriptions.change_plan(uow, actor, external_id, plan_code, overrides)
    if change.upgraded_at is None:
        return PlanChangeOutcome(change)
    notes, invoice = await _settle_upgrade(uow, actor, change)
    return PlanChangeOutcome(change, notes, invoice)


async def change_subscription_plan(
    uow: UnitOfWork,
    actor: Actor,
    external_id: str,
    plan_code: str,
    overrides: subscriptions.PlanOverrides | None = None,
) -> Subscription:
    return (await plan_change(uow, actor, external_id, plan_code, overrides)).change.subscription


async def terminate_subscription(uow: UnitOfWork, actor: Actor, external_id: str) -> Subscription:
    """Ends now, billed to the end of today; the rest of a fee paid in advance for this period is credited."""
    sub = await subscriptions.terminate_subscription(uow, actor, external_id)
    if sub.ended_status != SubscriptionStatus.TERMINATED.value:
        return sub  # it had not started: nothing was billed
    org = await OrganizationRepository(uow.session).existing(actor.organization_id)
    assert sub.terminated_at is not None  # a TERMINATED subscription has its end
    phase = next(p for p in sub.phases if p.ends_at == sub.terminated_at)
    period = _period_at(sub, phase, org, sub.terminated_at)
    await _credit_unused_advance_fee(uow, actor, org, sub, phase, period, f"Unused {phase.plan.name} after termination")
    return sub


def _period_at(sub: Subscription, phase: SubscriptionPhase, org: Organization, at: datetime) -> Period:
    tz = subscriptions.customer_timezone(sub.customer, org)
    return period_containing(sub.started_at, Interval(phase.plan.interval), BillingTime(sub.billing_time), at, tz)


async def _credit_unused_advance_fee(
    uow: UnitOfWork,
    actor: Actor,
    org: Organization,
    sub: Subscription,
    phase: SubscriptionPhase,
    period: Period,
    reason: str,
) -> Credit | None:
    """Credit what was billed in advance for `phase` in `period` beyond what its days in effect now owe.

    The phase has just been cut short (its `ends_at` set); what it owes is what the period invoice would
    bill for it in arrears, so that paid - credited = owed to the cent."""
    if not phase.plan.pay_in_advance or sub.billed_through is None or sub.billed_through < period.start:
        return None  # nothing of this period was billed yet
    customer, currency = sub.customer, sub.customer.currency or org.default_currency
    # The fee of a phase that began with the period was billed at the period's start; one begun by an
    # upgrade within the period, at the upgrade.
    key = (
        BillingDate(period.start).key
        if phase.starts_at <= period.start or phase is sub.phases[0]
        else str(BillingKey.upgrade(sub.id, phase.starts_at))
    )
    invoice = await InvoiceRepository(uow.session, org.id).by_billing_key(customer.id, key)
    billable = (InvoiceStatus.OPEN, InvoiceStatus.PAID)
    if invoice is None or invoice.status not in billable:
        return None
    line = next(
        (
            ln
            for ln in invoice.lines
            if ln.kind == InvoiceLineKind.SUBSCRIPTION and ln.subscription_external_id == sub.external_id
        ),
        None,
    )
    if line is None or not line.amount_minor:
        return None
    tz = subscriptions.customer_timezone(customer, org)
    owed_line = fee_line(sub, phase, period, period.end, tz, sub.started_at)
    owed = money.round_minor(owed_line.amount, currency) if owed_line else Decimal(0)
    fee = money.from_minor_units(line.amount_minor, currency)
    unused = fee - owed
    if unused <= 0:
        return None
    # That share of what the line cost: after its discount, with its tax; never more than the invoice can
    # still be credited (e.g. after a credit note by hand).
    charged = money.from_minor_units(line.amount_minor - line.discount_minor + line.tax_minor, currency)
    credit = min(
        money.round_minor(charged * unused / fee, currency),
        money.from_minor_units(await credits.creditable_minor(uow, invoice), currency),
    )
    if credit <= 0:
        return None
    return Credit(await credits.create_credit_note(uow, actor, invoice.id, "CREDIT", credit, reason), invoice)


async def _settle_upgrade(
    uow: UnitOfWork, actor: Actor, change: subscriptions.PlanChange
) -> tuple[tuple[Credit, ...], Invoice | None]:
    sub, old, new, at = change.subscription, change.previous_phase, change.new_phase, change.upgraded_at
    assert at is not None and old is not None and new is not None  # an upgrade: the plan changed at `at`
    org = await OrganizationRepository(uow.session).existing(actor.organization_id)
    customer = sub.customer
    tz = subscriptions.customer_timezone(customer, org)
    period = _period_at(sub, old, org, at)
    currency = customer.currency or org.default_currency
    credit = await _credit_unused_advance_fee(
        uow, actor, org, sub, old, period, f"Unused {old.plan.name} after the upgrade to {new.plan.name}"
    )
    notes = (credit,) if credit is not None else ()
    if not new.plan.pay_in_advance:
        return notes, None
    bill = BillingDate(at)
    line = fee_line(sub, new, period, period.end, tz, sub.started_at)
    if line is None:
        return notes, None
    bill.lines.append(line)
    upgrade = UpgradeInvoice(
        subscription_id=sub.id, at=at, lines=bill.lines, currency=currency, period=Period(at, period.end)
    )
    return notes, await issue_invoice(uow, actor, org, customer, upgrade)
