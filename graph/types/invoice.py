from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from db.models import Invoice as InvoiceModel
from db.models import InvoiceLine as InvoiceLineModel
from domain import invoicing, money, numbering
from graph.context import Context
from graph.kept_responses import PDF_LINK_REUSE
from graph.scalars import JSON, price
from graph.types.credits import CreditNote
from graph.types.customer import Customer
from graph.types.payments import InvoicePaymentStatus, Payment, PaymentAttempt

# The API's enums are the domain's: one list of statuses and line kinds.
InvoiceStatus = strawberry.enum(numbering.InvoiceStatus, name="InvoiceStatus")
InvoiceLineKind = strawberry.enum(invoicing.InvoiceLineKind, name="InvoiceLineKind")


@strawberry.type
class InvoiceTaxRate:
    code: str
    name: str
    rate: Decimal


@strawberry.type
class InvoiceLine:
    id: strawberry.ID = strawberry.field(description="What a credit note by line names.")
    kind: InvoiceLineKind
    description: str
    subscription_external_id: str | None
    billable_metric_code: str | None
    units: Decimal | None
    period_start: datetime | None
    period_end: datetime | None
    amount: Decimal = strawberry.field(description="Rounded once to the currency's minor unit.")
    discount_amount: Decimal
    tax_amount: Decimal
    tax_rates: list[InvoiceTaxRate]
    breakdown: JSON = strawberry.field(description="How the amount was reached (ranges, units, unit prices).")

    @classmethod
    def of(cls, line: InvoiceLineModel, currency: str) -> InvoiceLine:
        amount = money.from_minor_units
        return cls(
            id=strawberry.ID(str(line.id)),
            kind=InvoiceLineKind(line.kind),
            description=line.description,
            subscription_external_id=line.subscription_external_id,
            billable_metric_code=line.billable_metric_code,
            units=Decimal(format(line.units.normalize(), "f")) if line.units is not None else None,
            period_start=line.period_start,
            period_end=line.period_end,
            amount=amount(line.amount_minor, currency),
            discount_amount=amount(line.discount_minor, currency),
            tax_amount=amount(line.tax_minor, currency),
            tax_rates=[
                InvoiceTaxRate(code=r["code"], name=r["name"], rate=price(Decimal(r["rate"]))) for r in line.tax_rates
            ],
            breakdown=line.breakdown,
        )


@strawberry.type
class Invoice:
    id: strawberry.ID
    number: str | None = strawberry.field(description="PREFIX-YYYYMM-NNNN, gapless; assigned at finalization.")
    status: InvoiceStatus
    kind: str = strawberry.field(description="SUBSCRIPTION, PROGRESSIVE (interim), ONE_OFF or CREDIT_PURCHASE.")
    currency: str
    period_start: datetime
    period_end: datetime
    issued_at: datetime | None
    due_at: datetime | None
    subtotal_amount: Decimal
    discount_amount: Decimal
    progressive_billing_credit_amount: Decimal = strawberry.field(
        description="Billed earlier in the period by interim invoices (before tax) and deducted here."
    )
    tax_amount: Decimal
    total_amount: Decimal
    credit_notes_amount: Decimal
    credits_amount: Decimal = strawberry.field(description="Prepaid credits (wallet) applied.")
    amount_due: Decimal
    reverse_charge: bool
    notes: str
    lines: list[InvoiceLine]
    row: strawberry.Private[InvoiceModel]

    @strawberry.field
    def customer(self) -> Customer:
        return Customer.of(self.row.customer)

    @strawberry.field(description="PENDING until collected; SUCCEEDED once payments cover the amount due.")
    def payment_status(self) -> InvoicePaymentStatus:
        return InvoicePaymentStatus(self.row.payment_status)

    @strawberry.field(description="What payments brought in and kept (less refunds).")
    def amount_paid(self) -> Decimal:
        return money.from_minor_units(self.row.paid_minor, self.row.currency)

    @strawberry.field
    def paid_at(self) -> datetime | None:
        return self.row.paid_at

    @strawberry.field(
        description="When it was marked uncollectible (markInvoiceUncollectible, or dunning's final action); kept if "
        "it is paid later. Until then an unpaid invoice past its due date counts as overdue."
    )
    def marked_uncollectible_at(self) -> datetime | None:
        return self.row.uncollectible_at

    @strawberry.field(description="The reference a wire transfer quotes (ISO 11649 RF…); empty until finalized.")
    def payment_reference(self) -> str:
        return self.row.payment_reference or ""

    @strawberry.field
    def next_payment_attempt_at(self) -> datetime | None:
        return self.row.next_payment_attempt_at

    @strawberry.field(
        description="Dunning after a failed payment: RETRYING, AWAITING_METHOD (hard decline), EXHAUSTED, RECOVERED."
    )
    def dunning_status(self) -> str | None:
        return self.row.dunning_status

    @strawberry.field(description="Payments of this invoice, oldest first.")
    async def payments(self, info: Info[Context, None]) -> list[Payment]:
        return [Payment.of(p) for p in await info.context.loaders.payments_of_invoice.load(self.row.id)]

    @strawberry.field(description="Collection attempts, in order.")
    async def payment_attempts(self, info: Info[Context, None]) -> list[PaymentAttempt]:
        return [PaymentAttempt.of(a) for a in await info.context.loaders.attempts_of_invoice.load(self.row.id)]

    @strawberry.field(description="Credit notes issued against this invoice, oldest first.")
    async def credit_notes(self, info: Info[Context, None]) -> list[CreditNote]:
        from services import reads

        async with info.context.db.read() as session:
            rows = await reads.credit_notes_of_invoice(session, self.row.organization_id, self.row.id)
        return [CreditNote.of(n) for n in rows]

    @strawberry.field(
        description="A link to the PDF, valid for an hour after it was signed (finalized invoices only); the same "
        "list asked again within 5 minutes may give the same link."
    )
    def pdf_url(self, info: Info[Context, None]) -> str | None:
        if self.row.number is None:
            return None
        from services.documents import signed_pdf_path

        base = info.context.base_url
        now = info.context.clock.now()
        info.context.not_after(now + PDF_LINK_REUSE)  # a kept list hands this link out again until then
        return base + signed_pdf_path(self.row.id, info.context.services.session_config.secret_key,
                                      now=now.timestamp())

    @classmethod
    def of(cls, i: InvoiceModel, *, lines: bool = True) -> Invoice:
        """`lines=False`: a list that does not select them (and did not load them) leaves them empty."""
        amount = money.from_minor_units
        c = i.currency
        return cls(
            id=strawberry.ID(str(i.id)),
            number=i.number,
            status=InvoiceStatus(i.status),
            kind=i.kind,
            currency=c,
            period_start=i.period_start,
            period_end=i.period_end,
            issued_at=i.issued_at,
            due_at=i.due_at,
            subtotal_amount=amount(i.subtotal_minor, c),
            discount_amount=amount(i.discount_minor, c),
            progressive_billing_credit_amount=amount(i.progressive_credit_minor, c),
            tax_amount=amount(i.tax_minor, c),
            total_amount=amount(i.total_minor, c),
            credit_notes_amount=amount(i.credit_notes_minor, c),
            credits_amount=amount(i.credits_minor, c),
            amount_due=amount(i.amount_due_minor, c),
            reverse_charge=i.reverse_charge,
            notes=i.notes,
            lines=[InvoiceLine.of(line, c) for line in i.lines] if lines else [],
            row=i,
        )
