"""Billing runs, invoice lifecycle and tax rates."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_use_case
from graph.permissions import require_role
from graph.types.invoice import Invoice
from graph.types.tax_rate import TaxRate
from services import notifications, taxes
from services.billing import drafts, runs, status
from services.errors import CommonCode, Invalid


@strawberry.input
class RunBillingInput:
    as_of: datetime | None = strawberry.field(default=None, description="Now when left out.")


@strawberry.type
class BillingFailure:
    customer_external_id: str
    reason: str


@strawberry.type
class RunBillingPayload:
    invoices: list[Invoice] = strawberry.field(description="The invoices this run created (none when re-run).")
    failures: list[BillingFailure] = strawberry.field(
        description="Customers that could not be billed; run again to retry them."
    )
    user_errors: list[UserError]


@strawberry.input
class InvoiceIdInput:
    id: strawberry.ID


@strawberry.input
class ResendInvoiceEmailInput:
    invoice_id: strawberry.ID


@strawberry.type
class InvoicePayload:
    invoice: Invoice | None
    user_errors: list[UserError]


@strawberry.input
class CreateTaxRateInput:
    code: str
    name: str
    rate: Decimal = strawberry.field(description="Percent: 20 is 20 %.")
    applies_to_organization: bool = strawberry.field(default=False, description="The default for every invoice.")


@strawberry.input(description="Attach a tax rate to exactly one of: a customer, a plan, or a plan's charge.")
class TaxRateAssignmentInput:
    tax_rate_code: str
    customer_external_id: str | None = None
    plan_code: str | None = None
    billable_metric_code: str | None = strawberry.field(default=None, description="With planCode: that charge.")


@strawberry.type
class TaxRatePayload:
    tax_rate: TaxRate | None
    user_errors: list[UserError]


def _id(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid("not a valid id", field=(field,), code=CommonCode.INVALID_ID) from None


@strawberry.type
class BillingMutations:
    @strawberry.mutation(
        description="Bill every period that ended by asOf (ADMIN). Idempotent: a second run creates nothing."
    )
    async def run_billing(self, info: Info[Context, None], input: RunBillingInput) -> RunBillingPayload:
        actor = require_role(info, Role.ADMIN)
        now = info.context.clock.now()
        as_of = input.as_of or now
        if as_of.tzinfo is None:
            return RunBillingPayload(
                invoices=[],
                failures=[],
                user_errors=[
                    UserError(
                        field=["input", "asOf"], message="asOf needs a UTC offset", code=CommonCode.NAIVE_DATETIME
                    )
                ],
            )
        if as_of > now + timedelta(minutes=5):
            return RunBillingPayload(
                invoices=[],
                failures=[],
                user_errors=[
                    UserError(
                        field=["input", "asOf"],
                        message="asOf is in the future: only ended periods are billed",
                        code="AS_OF_IN_FUTURE",
                    )
                ],
            )
        result = await runs.run_billing(info.context.db, actor, as_of)
        return RunBillingPayload(
            invoices=[Invoice.of(i) for i in result.invoices],
            user_errors=[],
            failures=[BillingFailure(customer_external_id=c, reason=r) for c, r in result.failures],
        )

    @strawberry.mutation(description="DRAFT → OPEN with the next invoice number (FINANCE).")
    async def finalize_invoice(self, info: Info[Context, None], input: InvoiceIdInput) -> InvoicePayload:
        invoice, errors = await run_use_case(
            info, Role.FINANCE, lambda uow, a: drafts.finalize_invoice(uow, a, _id(input.id))
        )
        return InvoicePayload(invoice=Invoice.of(invoice) if invoice else None, user_errors=errors)

    @strawberry.mutation(description="Recompute a draft from current usage and prices (FINANCE).")
    async def refresh_invoice(self, info: Info[Context, None], input: InvoiceIdInput) -> InvoicePayload:
        invoice, errors = await run_use_case(
            info, Role.FINANCE, lambda uow, a: drafts.refresh_invoice(uow, a, _id(input.id))
        )
        return InvoicePayload(invoice=Invoice.of(invoice) if invoice else None, user_errors=errors)

    @strawberry.mutation(description="Void a draft or open invoice (FINANCE).")
    async def void_invoice(self, info: Info[Context, None], input: InvoiceIdInput) -> InvoicePayload:
        invoice, errors = await run_use_case(
            info, Role.FINANCE, lambda uow, a: status.void_invoice(uow, a, _id(input.id))
        )
        return InvoicePayload(invoice=Invoice.of(invoice) if invoice else None, user_errors=errors)

    @strawberry.mutation(
        description="Bill a voided subscription invoice's billing date again from current data: a new invoice "
        "for the same period (FINANCE)."
    )
    async def regenerate_invoice(self, info: Info[Context, None], input: InvoiceIdInput) -> InvoicePayload:
        invoice, errors = await run_use_case(
            info, Role.FINANCE, lambda uow, a: drafts.regenerate_invoice(uow, a, _id(input.id))
        )
        return InvoicePayload(invoice=Invoice.of(invoice) if invoice else None, user_errors=errors)

    @strawberry.mutation(description="Stop collecting an open invoice (FINANCE).")
    async def mark_invoice_uncollectible(self, info: Info[Context, None], input: InvoiceIdInput) -> InvoicePayload:
        invoice, errors = await run_use_case(
            info, Role.FINANCE, lambda uow, a: status.mark_uncollectible(uow, a, _id(input.id))
        )
        return InvoicePayload(invoice=Invoice.of(invoice) if invoice else None, user_errors=errors)

    @strawberry.mutation(
        description="Send the customer the invoice email with its PDF again (FINANCE); not for drafts or void "
        "invoices."
    )
    async def resend_invoice_email(self, info: Info[Context, None], input: ResendInvoiceEmailInput) -> InvoicePayload:
        invoice, errors = await run_use_case(
            info,
            Role.FINANCE,
            lambda uow, a: notifications.resend_invoice_email(uow, a, _id(input.invoice_id, "invoiceId")),
        )
        return InvoicePayload(invoice=Invoice.of(invoice) if invoice else None, user_errors=errors)

    @strawberry.mutation(description="Define a tax rate (ADMIN).")
    async def create_tax_rate(self, info: Info[Context, None], input: CreateTaxRateInput) -> TaxRatePayload:
        rate, errors = await run_use_case(
            info,
            Role.ADMIN,
            lambda uow, a: taxes.create_tax_rate(
                uow, a, input.code, input.name, input.rate, input.applies_to_organization
            ),
        )
        return TaxRatePayload(tax_rate=TaxRate.of(rate) if rate else None, user_errors=errors)

    @strawberry.mutation(description="Apply a tax rate to a customer, a plan or a charge (ADMIN).")
    async def assign_tax_rate(self, info: Info[Context, None], input: TaxRateAssignmentInput) -> TaxRatePayload:
        rate, errors = await run_use_case(
            info,
            Role.ADMIN,
            lambda uow, a: taxes.assign_tax_rate(
                uow,
                a,
                input.tax_rate_code,
                customer_external_id=input.customer_external_id,
                plan_code=input.plan_code,
                billable_metric_code=input.billable_metric_code,
            ),
        )
        return TaxRatePayload(tax_rate=TaxRate.of(rate) if rate else None, user_errors=errors)
