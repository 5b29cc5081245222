"""Plan changes with their money: an upgrade credits the unused part of an old fee paid in advance
(credit note) and bills a new in-advance fee for the rest of the period at once."""

from __future__ import annotations

from decimal import Decimal

from db.models import Subscription
from db.repositories.billing import InvoiceRepository
from db.repositories.organizations import OrganizationRepository
from db.session import UnitOfWork
from domain import money, numbering, proration
from domain.periods import BillingTime, Interval, Period, period_containing
from services import billing, credits, subscriptions
from services.actors import Actor


async def change_subscription_plan(
    uow: UnitOfWork,
    actor: Actor,
    external_id: str,
    plan_code: str,
    overrides: subscriptions.PlanOverrides | None = None,
) -> Subscription:
    change = await subscriptions.change_plan(uow, actor, external_id, plan_code, overrides)
    if change.upgraded_at is not None:
        await _settle_upgrade(uow, actor, change)
    return change.subscription


async def _settle_upgrade(uow: UnitOfWork, actor: Actor, change: subscriptions.PlanChange) -> None:
    sub, old, new, at = change.subscription, change.previous_phase, change.new_phase, change.upgraded_at
    org = await OrganizationRepository(uow.session).get(actor.organization_id)
    customer = sub.customer
    tz = subscriptions.customer_timezone(customer, org)
    period = period_containing(sub.started_at, Interval(old.plan.interval), BillingTime(sub.billing_time), at, tz)
    currency = customer.currency or org.default_currency
    if old.plan.pay_in_advance and sub.billed_through is not None and sub.billed_through >= period.start:
        invoice = await InvoiceRepository(uow.session, org.id).by_billing_key(customer.id, period.start)
        line = (
            next(
                (
                    ln
                    for ln in invoice.lines
                    if ln.kind == "SUBSCRIPTION" and ln.subscription_external_id == sub.external_id
                ),
                None,
            )
            if invoice
            else None
        )
        billable = (numbering.InvoiceStatus.OPEN.value, numbering.InvoiceStatus.PAID.value)
        if invoice is not None and line is not None and line.amount_minor and invoice.status in billable:
            paid_fee = money.from_minor_units(line.amount_minor, currency)
            unused = proration.unused_credit(paid_fee, period, at, tz)
            # The credit note gives back the unused fee with its tax.
            gross = unused * Decimal(line.amount_minor + line.tax_minor) / Decimal(line.amount_minor)
            amount = money.round_minor(gross, currency)
            if amount > 0:
                await credits.create_credit_note(
                    uow,
                    actor,
                    invoice.id,
                    "CREDIT",
                    amount,
                    f"Unused {old.plan.name} after the upgrade to {new.plan.name}",
                )
    if new.plan.pay_in_advance:
        bill = billing.BillingDate(at)
        line = billing.fee_line(sub, new, period, period.end, tz, sub.started_at)
        if line is not None:
            bill.lines.append(line)
            await billing.issue_invoice(
                uow,
                actor,
                org,
                customer,
                bill.lines,
                currency,
                kind="SUBSCRIPTION",
                billing_key=f"upgrade:{sub.id}:{at.isoformat()}",
                period=Period(at, period.end),
                deductions=True,
            )
