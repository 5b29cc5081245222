"""An invoice's status changes here and nowhere else: through the rules of domain/numbering.py, with its
audit entry and the `invoiceUpdated` message sent after commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from db.models import Invoice
from db.session import UnitOfWork
from domain.numbering import InvoiceStatus, transition
from services import audit, webhook_events
from services.actors import Actor


def invoice_channel(organization_id: Any, customer_external_id: str | None = None) -> str:
    """Where `invoiceUpdated` listens: the organization's invoices, or one customer's."""
    return f"invoices.{organization_id}" + (f".{customer_external_id}" if customer_external_id else "")


def invoice_view(invoice: Invoice) -> dict[str, Any]:
    """What the audit trail keeps of an invoice before and after a change."""
    return {
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "periodStart": invoice.period_start,
        "periodEnd": invoice.period_end,
        "totalMinor": invoice.total_minor,
        "amountDueMinor": invoice.amount_due_minor,
    }


def announce_invoice(uow: UnitOfWork, invoice: Invoice) -> None:
    """Tell `invoiceUpdated` subscribers (the organization's and the customer's) once the change commits."""
    message = orjson.dumps({"id": str(invoice.id)})
    uow.publish_after_commit(invoice_channel(invoice.organization_id), message)
    uow.publish_after_commit(invoice_channel(invoice.organization_id, invoice.customer.external_id), message)


async def move_invoice(
    uow: UnitOfWork,
    actor: Actor,
    invoice: Invoice,
    to: InvoiceStatus | Sequence[InvoiceStatus],
    *,
    action: str | None,
    before: dict[str, Any] | None = None,
    at: datetime | None = None,
    payment_taken_back: bool = False,
) -> Invoice:
    """Move `invoice` to `to` (or through each status of `to` in turn, e.g. OPEN then PAID for a finalized
    invoice with nothing due), each step allowed by the transition rules, or INVALID_INVOICE_TRANSITION.

    Stamps the time of the new status (`paid_at`, `voided_at`, `uncollectible_at`: `at`, or now), records the
    audit entry `action` (before: the invoice as it was, unless the caller's `before` was taken earlier in the
    change) and announces the invoice. `action=None` when the move is part of a change that records its own
    entry (a credit note that leaves nothing due)."""
    steps = [to] if isinstance(to, InvoiceStatus) else list(to)
    before = before if before is not None else invoice_view(invoice)
    was = invoice.status
    status = InvoiceStatus(invoice.status)
    for step in steps:
        status = transition(status, step, payment_taken_back=payment_taken_back)
    now = at or uow.clock.now()
    invoice.status = status.value
    if status is InvoiceStatus.PAID:
        invoice.paid_at = now
    elif was == InvoiceStatus.PAID.value and status is InvoiceStatus.OPEN:
        invoice.paid_at = None
    elif status is InvoiceStatus.VOID:
        invoice.voided_at = now
    elif status is InvoiceStatus.UNCOLLECTIBLE:
        invoice.uncollectible_at = now
    if action is not None:
        await audit.record(uow, actor, action, "invoice", invoice.id, before=before, after=invoice_view(invoice))
    else:  # the change's own entry is not an invoice's: the invoice's webhook events are told here
        webhook_events.invoice_moved(uow, invoice, was)
    announce_invoice(uow, invoice)
    return invoice
