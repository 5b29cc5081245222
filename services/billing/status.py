"""The status changes a user asks for: void (giving back what the invoice consumed), uncollectible."""

from __future__ import annotations

import uuid

from db.models import Invoice
from db.repositories.billing import InvoiceRepository
from db.session import UnitOfWork
from domain.numbering import InvoiceStatus
from services.actors import Actor
from services.billing.deductions import _give_back
from services.clocks import on_customer_time
from services.errors import NotFound
from services.invoice_state import move_invoice


async def void_invoice(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    invoice = await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("id",))
    await on_customer_time(uow, invoice.customer)
    await move_invoice(uow, actor, invoice, InvoiceStatus.VOID, action="invoice.voided")
    await _give_back(uow, invoice)
    return invoice


async def mark_uncollectible(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    """Give up collecting an open invoice (it can still be paid or voided later)."""
    invoice = await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("id",))
    await on_customer_time(uow, invoice.customer)
    return await move_invoice(uow, actor, invoice, InvoiceStatus.UNCOLLECTIBLE, action="invoice.uncollectible")
