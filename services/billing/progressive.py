"""Progressive billing: interim invoices within a period when usage reaches a threshold of the plan, and
for the usage of pay-in-advance charges; the period invoice deducts them later.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from db.locks import LockNamespace, advisory_xact_lock
from db.models import Invoice
from db.repositories.billing import InvoiceRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.session import UnitOfWork
from domain import money
from domain.billing_keys import BillingKey
from domain.invoicing import InvoiceLineKind
from domain.periods import Period
from domain.subscriptions import SubscriptionStatus
from services import webhook_events
from services.actors import Actor
from services.billing.due import DueLine, _phase_at, _phase_window
from services.billing.issue import issue_invoice
from services.billing.kinds import InterimInvoice
from services.subscriptions import current_period, customer_timezone, effective_plan, status_now
from services.usage.rating import rate_window


async def check_usage_thresholds(uow: UnitOfWork, actor: Actor, customer_id: uuid.UUID, now: datetime) -> list[Invoice]:
    """Interim invoices of the current period: usage of pay-in-advance charges not billed yet, and the
    usage to date when it reaches a threshold of the plan (progressive billing).

    Each bills what grew since the earlier interim invoices of the period; the period invoice later
    deducts all of them (before tax), so nothing is billed or taxed twice. Billing keys make it idempotent."""
    await advisory_xact_lock(uow.session, LockNamespace.CUSTOMER_BILLING, customer_id)
    org = await OrganizationRepository(uow.session).existing(actor.organization_id)
    customer = (await CustomerRepository(uow.session, org.id).by_ids([customer_id])).get(customer_id)
    if customer is None:
        return []
    tz = customer_timezone(customer, org)
    repo = InvoiceRepository(uow.session, org.id)
    invoices: list[Invoice] = []
    live = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
    for sub in await SubscriptionRepository(uow.session, org.id).of_customer(customer.id):
        if status_now(sub, now) not in live:
            continue
        phase = _phase_at(sub, now)
        thresholds = [Decimal(t) for t in phase.plan.usage_thresholds or []]
        if not thresholds and not any(c.pay_in_advance for c in phase.plan.charges):
            continue
        period = current_period(sub, tz, now)
        window = _phase_window(sub, phase, period, period.end)
        if window is None or window.start >= now:
            continue  # a period (or phase) starting at this very instant has no usage yet
        plan = effective_plan(phase)
        currency = plan.plan.currency
        charges = await rate_window(uow.session, org.id, sub, plan, window, tz)

        async def interim(
            key_prefix: str,
            key: BillingKey,
            amount: Decimal,
            line: DueLine,
            currency: str = currency,
            window: Period = window,
        ) -> Invoice | None:
            billed = money.from_minor_units(await repo.progressive_billed(key_prefix), currency)
            if amount > billed and not await repo.has_billing_key(customer.id, str(key)):
                line.amount = amount - billed
                new = InterimInvoice(key=key, lines=[line], currency=currency, period=Period(window.start, now))
                invoices.append(await issue_invoice(uow, actor, org, customer, new))
                return invoices[-1]
            return None

        for effective, usage in zip(plan.charges, charges, strict=True):
            if effective.charge.pay_in_advance:
                name = effective.charge.invoice_display_name or usage.metric_name
                await interim(
                    BillingKey.advance_prefix(sub.id, period.start, effective.charge.id),
                    BillingKey.advance(sub.id, period.start, effective.charge.id, usage.amount),
                    usage.amount,
                    DueLine(
                        InvoiceLineKind.CHARGE,
                        f"{name} (paid in advance)",
                        Decimal(0),
                        sub,
                        (("CHARGE", effective.charge.id), ("PLAN", phase.plan.id)),
                        usage.units,
                        usage.metric_code,
                        Period(window.start, now),
                    ),
                )
        used = sum((c.amount for c in charges), Decimal(0))
        reached = [t for t in thresholds if t <= used]
        if reached:
            issued = await interim(
                BillingKey.progressive_prefix(sub.id, period.start),
                BillingKey.threshold(sub.id, period.start, reached[-1]),
                used,
                DueLine(
                    InvoiceLineKind.CHARGE,
                    f"Usage to date - {phase.plan.name} (threshold {reached[-1]} reached)",
                    Decimal(0),
                    sub,
                    (("PLAN", phase.plan.id),),
                    period=Period(window.start, now),
                ),
            )
            if issued is not None:  # the tenant's systems hear of it too (the customer gets the interim invoice)
                webhook_events.threshold_reached(
                    uow, issued, threshold=str(money.round_minor(reached[-1], currency)),
                    used=str(money.round_minor(used, currency)), subscription_external_id=sub.external_id,
                )
    return invoices
