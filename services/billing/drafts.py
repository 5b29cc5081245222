"""Drafts and regeneration: a draft is recomputed from current data until it is finalized (by hand, or
when its grace period ends); a voided billing-date invoice can be billed again.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from db.locks import LockNamespace, advisory_xact_lock
from db.models import Customer, Invoice, Organization
from db.repositories.billing import InvoiceRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.session import UnitOfWork
from domain.billing_keys import BillingKey, KeyKind
from domain.numbering import InvoiceKind, InvoiceStatus
from services import audit
from services.actors import Actor
from services.billing.deductions import _consume
from services.billing.due import BillingDate, _due
from services.billing.finalize import finalize, finalize_many
from services.billing.issue import InvoicingContext, _compute, _fill, _interim_billed, _issue
from services.clocks import on_customer_time
from services.errors import Invalid, NotFound
from services.invoice_state import announce_invoice, invoice_view
from services.usage.rating import BatchedRating


async def _billing_date_again(
    uow: UnitOfWork, actor: Actor, invoice: Invoice
) -> tuple[Organization, Customer, BillingDate]:
    """What the billing date of a subscription invoice bills from current data (late events, new prices):
    computed from where billing of each subscription stood before it (`billed_from`), under the customer's
    billing lock; each subscription's progress is kept (never moved back)."""
    await advisory_xact_lock(uow.session, LockNamespace.CUSTOMER_BILLING, invoice.customer_id)
    org = await OrganizationRepository(uow.session).existing(actor.organization_id)
    customer = invoice.customer
    subscriptions = await SubscriptionRepository(uow.session, org.id).of_customer(customer.id)
    progress = {s.id: s.billed_through for s in subscriptions}
    for sub in subscriptions:  # rewind to where this invoice started billing them
        if str(sub.id) in invoice.billed_from:
            previous = invoice.billed_from[str(sub.id)]
            sub.billed_through = datetime.fromisoformat(previous) if previous else None
    assert invoice.billing_key is not None  # a subscription invoice's key is its billing date
    billing_date = BillingKey.parse(invoice.billing_key).at
    dates = await _due(BatchedRating(uow.session, org.id), org, customer, subscriptions, billing_date)
    bill = dates.get(billing_date, BillingDate(billing_date))
    for sub in subscriptions:
        reached = [t for t in (progress[sub.id], bill.advanced.get(sub.id)) if t is not None]
        sub.billed_through = max(reached) if reached else None
    return org, customer, bill


async def refresh_invoice(
    uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID, *, finalize_after: bool = False
) -> Invoice:
    """Recompute a draft from current data (late events included); optionally finalize it."""
    repo = InvoiceRepository(uow.session, actor.organization_id)
    invoice = await repo.get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("id",))
    await on_customer_time(uow, invoice.customer)
    if invoice.status != InvoiceStatus.DRAFT or invoice.kind != InvoiceKind.SUBSCRIPTION:
        raise Invalid("only a draft subscription invoice can be refreshed", field=("id",), code="INVOICE_NOT_DRAFT")
    before = invoice_view(invoice)
    org, customer, bill = await _billing_date_again(uow, actor, invoice)
    context = await InvoicingContext.load(uow, org, [customer.id], deductions=finalize_after)
    computed = _compute(
        context,
        customer,
        bill.lines,
        invoice.currency,
        deductions=finalize_after,
        taxed=True,
        progressive_credit=await _interim_billed(uow, org, bill.progressive, invoice.currency),
    )
    _fill(invoice, bill.lines, computed, invoice.currency)
    await uow.session.flush()
    await audit.record(
        uow, actor, "invoice.refreshed", "invoice", invoice.id, before=before, after=invoice_view(invoice)
    )
    if finalize_after:
        _consume(uow, invoice, computed)
        await finalize(uow, actor, invoice, org)
    else:
        announce_invoice(uow, invoice)
    return invoice


async def regenerate_invoice(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    """Bill a voided subscription invoice's billing date again, from current data (prices fixed since,
    late usage): a new invoice for the same date, numbered when finalized (a draft in a grace period).
    The voided one stays as it is; its billing key moves aside so the date can be billed once more."""
    repo = InvoiceRepository(uow.session, actor.organization_id)
    voided = await repo.get(invoice_id, for_update=True)
    if voided is None:
        raise NotFound("no invoice with this id", field=("id",))
    key = BillingKey.parse_or_none(voided.billing_key)
    regenerable = (
        voided.status == InvoiceStatus.VOID
        and voided.kind == InvoiceKind.SUBSCRIPTION
        and key is not None
        and key.kind is KeyKind.BILLING_DATE  # not set aside by a regeneration yet
    )
    if not regenerable:
        raise Invalid(
            "only a voided subscription invoice of a billing date, not regenerated yet, can be regenerated",
            field=("id",),
            code="INVOICE_NOT_REGENERABLE",
        )
    assert key is not None  # regenerable
    date_key = voided.billing_key
    voided.billing_key = str(key.voided(voided.id))
    await uow.session.flush()  # the date's key is free before the new invoice takes it
    org, customer, bill = await _billing_date_again(uow, actor, voided)
    if not bill.lines:
        raise Invalid("nothing is billed at this billing date any more", field=("id",), code="NOTHING_TO_BILL")
    drafts = org.invoice_grace_period_days > 0
    context = await InvoicingContext.load(uow, org, [customer.id], deductions=not drafts)
    invoice = await _issue(uow, actor, context, customer, bill, voided.currency)
    invoice.billed_from = dict(voided.billed_from)
    if not drafts:
        await finalize_many(uow, actor, [invoice], org)
    await audit.record(
        uow,
        actor,
        "invoice.regenerated",
        "invoice",
        voided.id,
        after={"regeneratedAs": invoice.id, "billingDate": date_key},
    )
    return invoice


async def finalize_invoice(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    invoice = await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("id",))
    await on_customer_time(uow, invoice.customer)
    if invoice.status == InvoiceStatus.DRAFT and invoice.kind == InvoiceKind.SUBSCRIPTION:
        return await refresh_invoice(uow, actor, invoice_id, finalize_after=True)
    return await finalize(uow, actor, invoice)


async def finalize_expired_drafts(
    uow: UnitOfWork, actor: Actor, now: datetime, test_clock_id: uuid.UUID | None = None
) -> list[Invoice]:
    """Drafts whose grace period is over are refreshed one last time and finalized: of the customers on real
    time, or of those on the test clock `test_clock_id` (then `now` is the clock's time)."""
    org = await OrganizationRepository(uow.session).existing(actor.organization_id)
    cutoff = now - timedelta(days=org.invoice_grace_period_days)
    drafts = await InvoiceRepository(uow.session, org.id).drafts_created_before(cutoff, test_clock_id)
    return [await refresh_invoice(uow, actor, d.id, finalize_after=True) for d in drafts]
