"""Finalizing: DRAFT → OPEN with the next gapless number (PAID at once when nothing is due)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from db.models import Invoice, Organization
from db.repositories.billing import InvoiceRepository
from db.repositories.organizations import OrganizationRepository
from db.session import UnitOfWork
from domain import numbering, payments
from domain.numbering import InvoiceStatus
from domain.payments import InvoicePaymentStatus
from services import notifications
from services.actors import Actor
from services.invoice_state import invoice_view, move_invoice


async def finalize(uow: UnitOfWork, actor: Actor, invoice: Invoice, org: Organization | None = None) -> Invoice:
    """DRAFT → OPEN with the next gapless number (a zero amount due is PAID at once)."""
    org = org or await OrganizationRepository(uow.session).existing(actor.organization_id)
    await finalize_many(uow, actor, [invoice], org)
    return invoice


async def finalize_many(uow: UnitOfWork, actor: Actor, invoices: Sequence[Invoice], org: Organization) -> None:
    """`finalize` for several invoices of one organization: their numbers are taken together, in order.

    The numbering row stays locked until COMMIT: call it as late in the transaction as possible."""
    if not invoices:
        return
    befores = [invoice_view(invoice) for invoice in invoices]
    numbers = await InvoiceRepository(uow.session, org.id).next_numbers(len(invoices))
    now = uow.clock.now()
    for invoice, before, sequence in zip(invoices, befores, numbers, strict=True):
        invoice.number = numbering.invoice_number(org.invoice_prefix, now.year, now.month, sequence)
        invoice.finalized_at = invoice.issued_at = now
        invoice.due_at = now + timedelta(days=org.net_payment_term_days)
        invoice.payment_reference = payments.payment_reference(invoice.number)
        # nothing due (credits, coupons or a zero amount): paid at once
        steps = [InvoiceStatus.OPEN] if invoice.amount_due_minor else [InvoiceStatus.OPEN, InvoiceStatus.PAID]
        await move_invoice(uow, actor, invoice, steps, action="invoice.finalized", before=before, at=now)
        notifications.queue(uow, notifications.EmailKind.INVOICE_ISSUED, invoice)  # the PDF attached
        if invoice.amount_due_minor:
            invoice.payment_status = InvoicePaymentStatus.PENDING.value
            # The worker charges it with the customer's default payment method, if there is one (services/payments.py).
            uow.enqueue_after_commit(
                "collect_invoice", str(org.id), str(invoice.id), 1, job_id=f"collect_invoice:{invoice.id}:1"
            )
        else:
            invoice.payment_status = InvoicePaymentStatus.SUCCEEDED.value
