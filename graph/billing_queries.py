"""Invoices and tax rates (VIEWER or stronger)."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from db.repositories.billing import InvoiceRepository, TaxRateRepository, invoice_page
from db.repositories.credits import CreditRepository
from db.repositories.customers import CustomerRepository
from domain.numbering import InvoiceStatus as StoredStatus
from graph.context import Context
from graph.pagination import BadPageRequest, Connection, connection, fetch_page, node_fields, selects_total
from graph.permissions import current_actor, portal_customer
from graph.types.credits import Coupon, Wallet
from graph.types.invoice import Invoice, InvoiceStatus
from graph.types.payments import InvoicePaymentStatus, Payment
from graph.types.tax_rate import TaxRate


@strawberry.type
class BillingQueries:
    @strawberry.field(
        description="Invoices, newest first. paymentStatus FAILED with status OPEN: the invoices dunning chases."
    )
    async def invoices(
        self,
        info: Info[Context, None],
        customer_external_id: str | None = None,
        status: InvoiceStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        payment_status: InvoicePaymentStatus | None = None,
    ) -> Connection[Invoice]:
        actor, customer_external_id = portal_customer(info, customer_external_id)
        # Only what the page shows is read: a list without lines (or customers) loads none (None: load it all).
        fields = node_fields(info)
        with_lines = fields is None or "lines" in fields
        with_customer = fields is None or "customer" in fields
        async with info.context.db.driver_read() as conn:  # two statements sent as they are (db/driver_sql.py)
            page = await fetch_page(
                lambda: invoice_page(
                    conn,
                    actor.organization_id,
                    first=first,
                    after=after,
                    customer_external_id=customer_external_id,
                    status=status.value if status else None,
                    payment_status=payment_status.value if payment_status else None,
                    with_total=selects_total(info),
                    issued_only=actor.is_portal,
                    with_lines=with_lines,
                    with_customer=with_customer,
                )
            )
            return connection(page, lambda row: Invoice.of(row, lines=with_lines))

    @strawberry.field(description="Payments, newest first.")
    async def payments(
        self,
        info: Info[Context, None],
        invoice_id: strawberry.ID | None = None,
        customer_external_id: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Payment]:
        from services import payments

        actor, customer_external_id = portal_customer(info, customer_external_id)
        try:
            invoice = uuid.UUID(str(invoice_id)) if invoice_id is not None else None
        except ValueError:
            raise BadPageRequest("invoiceId is not a valid id") from None
        async with info.context.db.read() as session:
            page = await fetch_page(
                lambda: payments.list_payments(
                    session,
                    actor,
                    first=first,
                    after=after,
                    invoice_id=invoice,
                    customer_external_id=customer_external_id,
                    with_total=selects_total(info),
                )
            )
            return connection(page, Payment.of)

    @strawberry.field(description="An invoice by id; null when there is none (a portal link: none of its customer).")
    async def invoice(self, info: Info[Context, None], id: strawberry.ID) -> Invoice | None:
        actor, _ = portal_customer(info, None)
        try:
            invoice_id = uuid.UUID(str(id))
        except ValueError:
            return None
        async with info.context.db.read() as session:
            row = await InvoiceRepository(session, actor.organization_id).get(invoice_id)
            if row is None:
                return None
            if actor.is_portal and (row.customer_id != actor.customer_id or row.status == StoredStatus.DRAFT.value):
                return None  # a portal link sees its customer's issued invoices, never a draft
            return Invoice.of(row)

    @strawberry.field(description="The customer's prepaid-credits wallet, if any.")
    async def wallet(self, info: Info[Context, None], customer_external_id: str) -> Wallet | None:
        actor, _ = portal_customer(info, customer_external_id)
        async with info.context.db.read() as session:
            customer = await CustomerRepository(session, actor.organization_id).by_external_id(customer_external_id)
            row = await CreditRepository(session, actor.organization_id).wallet(customer.id) if customer else None
            return Wallet.of(row) if row else None

    @strawberry.field
    async def coupons(self, info: Info[Context, None], first: int | None = None,
                      after: str | None = None) -> Connection[Coupon]:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            repo = CreditRepository(session, actor.organization_id)
            return connection(await fetch_page(lambda: repo.coupons(first=first, after=after)), Coupon.of)

    @strawberry.field
    async def tax_rates(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[TaxRate]:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            repo = TaxRateRepository(session, actor.organization_id)
            return connection(await fetch_page(lambda: repo.list(first=first, after=after)), TaxRate.of)
