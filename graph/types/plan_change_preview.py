"""What changeSubscriptionPlan would do, read from the same use case run in a transaction that is rolled back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from db.models import CreditNote as CreditNoteRow
from db.models import Invoice as InvoiceRow
from db.models import InvoiceLine as InvoiceLineRow
from domain import money
from graph.types.invoice import InvoiceLineKind
from graph.types.plan import Plan
from services.plan_changes import PlanChangeOutcome
from services.subscriptions import PlanChangeKind as PlanChangeKindModel

PlanChangeKind = strawberry.enum(
    PlanChangeKindModel,
    name="PlanChangeKind",
    description="UPGRADE: dearer per year, at once; DOWNGRADE: at the period end; PLAN_REPLACED: not started yet, "
    "it starts on the new plan; DOWNGRADE_CANCELED: back to the current plan, the scheduled downgrade is dropped.",
)


@strawberry.type(description="A credit note the change would issue for unused time already paid in advance.")
class CreditNotePreview:
    credited_invoice_number: str | None = strawberry.field(description="The invoice it credits.")
    reason: str
    currency: str
    amount: Decimal = strawberry.field(description="Tax included.")

    @classmethod
    def of(cls, note: CreditNoteRow, invoice: InvoiceRow) -> CreditNotePreview:
        return cls(
            credited_invoice_number=invoice.number,
            reason=note.reason,
            currency=note.currency,
            amount=money.from_minor_units(note.amount_minor, note.currency),
        )


@strawberry.type
class InvoiceLinePreview:
    kind: InvoiceLineKind
    description: str
    period_start: datetime | None
    period_end: datetime | None
    units: Decimal | None
    amount: Decimal = strawberry.field(description="Rounded once to the currency's minor unit.")
    discount_amount: Decimal
    tax_amount: Decimal

    @classmethod
    def of(cls, line: InvoiceLineRow, currency: str) -> InvoiceLinePreview:
        amount = money.from_minor_units
        return cls(
            kind=InvoiceLineKind(line.kind),
            description=line.description,
            period_start=line.period_start,
            period_end=line.period_end,
            units=line.units,
            amount=amount(line.amount_minor, currency),
            discount_amount=amount(line.discount_minor, currency),
            tax_amount=amount(line.tax_minor, currency),
        )


@strawberry.type(description="The invoice the change would issue (an upgrade's new fee in advance); its number "
                 "is taken only when the change is made.")
class InvoicePreview:
    currency: str
    period_start: datetime
    period_end: datetime
    subtotal_amount: Decimal
    discount_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    credit_notes_amount: Decimal
    credits_amount: Decimal
    amount_due: Decimal
    lines: list[InvoiceLinePreview]

    @classmethod
    def of(cls, invoice: InvoiceRow) -> InvoicePreview:
        c = invoice.currency
        amount = money.from_minor_units
        return cls(
            currency=c,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            subtotal_amount=amount(invoice.subtotal_minor, c),
            discount_amount=amount(invoice.discount_minor, c),
            tax_amount=amount(invoice.tax_minor, c),
            total_amount=amount(invoice.total_minor, c),
            credit_notes_amount=amount(invoice.credit_notes_minor, c),
            credits_amount=amount(invoice.credits_minor, c),
            amount_due=amount(invoice.amount_due_minor, c),
            lines=[InvoiceLinePreview.of(line, c) for line in invoice.lines],
        )


@strawberry.type(description="What changeSubscriptionPlan would do now, with nothing written.")
class SubscriptionPlanChangePreview:
    subscription_external_id: str
    kind: PlanChangeKind
    effective_at: datetime = strawberry.field(description="When the new plan takes effect.")
    previous_plan: Plan
    new_plan: Plan
    currency: str
    credit_notes: list[CreditNotePreview]
    credit_amount: Decimal = strawberry.field(description="The credit notes' total (tax included).")
    invoice: InvoicePreview | None
    charge_amount: Decimal = strawberry.field(description="The new invoice's total (0 without one).")

    @classmethod
    def of(cls, outcome: PlanChangeOutcome) -> SubscriptionPlanChangePreview:
        change = outcome.change
        assert change.previous_plan is not None and change.new_plan is not None and change.effective_at is not None
        currency = change.new_plan.currency  # the customer's: a plan in another currency is refused
        notes = [CreditNotePreview.of(c.note, c.invoice) for c in outcome.credits]
        invoice = InvoicePreview.of(outcome.invoice) if outcome.invoice is not None else None
        return cls(
            subscription_external_id=change.subscription.external_id,
            kind=change.kind,
            effective_at=change.effective_at,
            previous_plan=Plan.of(change.previous_plan),
            new_plan=Plan.of(change.new_plan),
            currency=currency,
            credit_notes=notes,
            credit_amount=sum((n.amount for n in notes), money.from_minor_units(0, currency)),
            invoice=invoice,
            charge_amount=invoice.total_amount if invoice else money.from_minor_units(0, currency),
        )
