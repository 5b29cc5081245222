"""Issuing an invoice: compute it (fees → coupons → taxes → credit notes → prepaid credits), store it,
and finalize it (or keep it a draft).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from db.models import AppliedCoupon, CreditNote, Customer, Invoice, InvoiceLine, Organization, Subscription
from db.repositories.billing import InvoiceRepository, TaxAssignments, TaxRateRepository
from db.repositories.credits import CreditRepository
from db.session import UnitOfWork
from domain import coupons as coupon_rules
from domain import invoicing, money, tax
from domain.billing_keys import BillingKey
from domain.invoicing import InvoiceLineKind
from domain.numbering import InvoiceKind, InvoiceStatus
from domain.periods import Period
from services import audit
from services.actors import Actor
from services.billing.deductions import _Computed, _consume, _Deductions, domain_coupon
from services.billing.due import BillingDate, DueLine
from services.billing.finalize import finalize_many
from services.billing.kinds import BillingDateInvoice, NewInvoice
from services.invoice_state import announce_invoice, invoice_view


@dataclass
class InvoicingContext:
    """What the invoices of some customers are computed with, loaded once for all of them."""

    org: Organization
    rates: TaxAssignments
    deductions: dict[uuid.UUID, _Deductions]

    @classmethod
    async def load(
        cls, uow: UnitOfWork, org: Organization, customer_ids: Sequence[uuid.UUID], *, deductions: bool
    ) -> InvoicingContext:
        rates = await TaxRateRepository(uow.session, org.id).assignments()
        found: dict[uuid.UUID, _Deductions] = {}
        if deductions and customer_ids:
            credits = CreditRepository(uow.session, org.id)
            coupons = await credits.active_coupons_of(customer_ids, for_update=True)
            notes = await credits.available_credit_notes_of(customer_ids)
            wallets = await credits.wallets_of(customer_ids, for_update=True)
            found = {c: _Deductions(coupons.get(c, []), notes.get(c, []), wallets.get(c)) for c in customer_ids}
        return cls(org, rates, found)

    def tax_context(self, customer: Customer) -> tax.TaxContext:
        return tax.TaxContext(
            seller_country=self.org.country,
            customer_country=customer.country,
            customer_tax_id=customer.tax_identification_number,
            customer_tax_exempt=customer.tax_exempt,
        )


def _rates_for(line: DueLine, rates: Any, customer: Customer) -> tuple[tax.TaxRate, ...]:
    levels: dict[str, Any] = {"CHARGE": [], "PLAN": []}
    for kind, target in line.tax_targets:
        levels[kind] = rates.of(kind, target)

    def domain(rows: Sequence[Any]) -> list[tax.TaxRate]:
        return [tax.TaxRate(code=r.code, name=r.name, rate=r.rate) for r in rows]

    return tax.applicable_rates(
        domain(levels["CHARGE"]),
        domain(levels["PLAN"]),
        domain(rates.of("CUSTOMER", customer.id)),
        domain(rates.organization),
    )


def _compute(
    context: InvoicingContext,
    customer: Customer,
    lines: Sequence[DueLine],
    currency: str,
    *,
    deductions: bool,
    taxed: bool,
    progressive_credit: Decimal = Decimal(0),
) -> _Computed:
    """Fees → coupons → taxes → credit notes → prepaid credits, for these lines (nothing is consumed yet)."""
    rates = context.rates
    inputs = [
        invoicing.InvoiceLineInput(
            kind=line.kind,
            description=line.description,
            amount=line.amount,
            tax_rates=tuple(_rates_for(line, rates, customer)) if taxed else (),
            units=line.units,
            metric_code=line.metric_code,
            breakdown=tuple(),
        )
        for line in lines
    ]
    coupons: list[AppliedCoupon] = []
    notes: list[CreditNote] = []
    wallet = None
    if deductions:
        held = context.deductions.get(customer.id) or _Deductions()
        coupons = [row for row in held.coupons if row.terminated_at is None]
        notes = [note for note in held.notes if note.remaining_minor > 0]
        wallet = held.wallet
    applied = [coupon_rules.AppliedCoupon(domain_coupon(row.coupon), row.periods_used) for row in coupons]
    available_notes = money.from_minor_units(sum(n.remaining_minor for n in notes), currency)
    balance = (
        money.from_minor_units(wallet.balance_minor, currency) if wallet and wallet.currency == currency else Decimal(0)
    )
    totals = invoicing.compute_invoice(
        inputs,
        applied,
        context.tax_context(customer),
        available_notes,
        balance,
        currency,
        progressive_billing_credit=progressive_credit,
    )
    return _Computed(totals, coupons, notes, wallet)


def _fill(invoice: Invoice, lines: Sequence[DueLine], computed: _Computed, currency: str) -> None:
    totals = computed.totals
    invoice.reverse_charge, invoice.notes = totals.reverse_charge, totals.note or ""
    invoice.lines = [
        InvoiceLine(
            organization_id=invoice.organization_id,
            position=i,
            kind=InvoiceLineKind(line.kind).value,
            description=line.description[:300],
            subscription_external_id=line.subscription.external_id if line.subscription else None,
            billable_metric_code=line.metric_code,
            units=line.units,
            period_start=line.period.start if line.period else None,
            period_end=line.period.end if line.period else None,
            amount_minor=money.to_minor_units(result.amount, currency),
            discount_minor=money.to_minor_units(result.discount, currency),
            tax_minor=money.to_minor_units(result.tax, currency),
            tax_rates=[{"code": r.code, "name": r.name, "rate": str(r.rate)} for r in result.rates],
            breakdown=line.breakdown,
        )
        for i, (line, result) in enumerate(zip(lines, totals.lines, strict=True))
    ]
    _set_totals(invoice, totals, currency)


def _set_totals(invoice: Invoice, totals: Any, currency: str) -> None:
    to_minor = money.to_minor_units
    invoice.subtotal_minor = to_minor(totals.subtotal, currency)
    invoice.discount_minor = to_minor(totals.discount_amount, currency)
    invoice.progressive_credit_minor = to_minor(totals.progressive_billing_credit_amount, currency)
    invoice.tax_minor = to_minor(totals.tax_amount, currency)
    invoice.total_minor = to_minor(totals.total, currency)
    invoice.credit_notes_minor = to_minor(totals.credit_notes_amount, currency)
    invoice.credits_minor = to_minor(totals.credits_amount, currency)
    invoice.amount_due_minor = to_minor(totals.amount_due, currency)


def _parties(org: Organization, customer: Customer) -> tuple[dict[str, Any], dict[str, Any]]:
    seller = {
        "name": org.legal_name or org.name,
        "address": org.address,
        "country": org.country,
        "taxIdentificationNumber": org.tax_identification_number,
    }
    buyer = {
        "externalId": customer.external_id,
        "name": customer.legal_name or customer.name,
        "email": customer.email,
        "address": [
            a
            for a in (
                customer.address_line1,
                customer.address_line2,
                customer.postal_code,
                customer.city,
                customer.state,
            )
            if a
        ],
        "country": customer.country,
        "taxIdentificationNumber": customer.tax_identification_number,
    }
    return seller, buyer


async def issue_invoice(
    uow: UnitOfWork,
    actor: Actor,
    org: Organization,
    customer: Customer,
    new: NewInvoice,
    *,
    context: InvoicingContext | None = None,
    finalize_now: bool = True,
) -> Invoice:
    """Compute, store and finalize an invoice of one kind (services/billing/kinds.py). Where its kind takes
    `deductions`, the customer's coupons, credit notes and prepaid credits apply and are consumed in the same
    transaction; a `draft` defers both to finalization. Without `finalize_now` the caller finalizes it
    (`finalize_many`), still in this transaction; `context` is what a run loaded for all its customers."""
    lines, currency, kind, billing_key, period = new.lines, new.currency, new.kind, new.billing_key, new.period
    deductions, taxed, draft, progressive_credit = new.deductions, new.taxed, new.draft, new.progressive_credit
    if context is None:
        context = await InvoicingContext.load(uow, org, [customer.id], deductions=deductions and not draft)
    computed = _compute(
        context,
        customer,
        lines,
        currency,
        deductions=deductions and not draft,
        taxed=taxed,
        progressive_credit=progressive_credit,
    )
    seller, buyer = _parties(org, customer)
    invoice = Invoice(
        id=uuid.uuid4(),
        organization_id=org.id,
        customer=customer,
        customer_id=customer.id,
        status=InvoiceStatus.DRAFT.value,
        kind=InvoiceKind(kind).value,
        billing_key=billing_key,
        currency=currency,
        period_start=period.start,
        period_end=period.end,
        seller=seller,
        buyer=buyer,
        billed_from={},
        created_at=uow.clock.now(),  # a grace period counts from here: the use case's time, not the database's
    )
    _fill(invoice, lines, computed, currency)
    InvoiceRepository(uow.session, org.id).stage(invoice)
    await audit.record(uow, actor, "invoice.created", "invoice", invoice.id, after=invoice_view(invoice))
    if draft:
        await uow.session.flush()
        announce_invoice(uow, invoice)
        return invoice
    _consume(uow, invoice, computed)
    if finalize_now:
        await finalize_many(uow, actor, [invoice], org)
    return invoice


async def _issue(
    uow: UnitOfWork, actor: Actor, context: InvoicingContext, customer: Customer, bill: BillingDate, currency: str
) -> Invoice:
    """The invoice of one billing date, not yet finalized (a run finalizes its invoices together)."""
    org = context.org
    # What it bills: the periods that ended at its billing date (arrears) and each line's own period (a fee
    # in advance covers the period it pays for; a termination bills to the end of its day).
    covered = [*bill.periods, *(line.period for line in bill.lines if line.period is not None)]
    start = min((p.start for p in covered), default=bill.at)
    end = max((p.end for p in covered), default=bill.at)
    invoice = BillingDateInvoice(
        at=bill.at,
        lines=bill.lines,
        currency=currency,
        period=Period(start, end),
        draft=org.invoice_grace_period_days > 0,
        progressive_credit=await _interim_billed(uow, org, bill.progressive, currency),
    )
    return await issue_invoice(uow, actor, org, customer, invoice, context=context, finalize_now=False)


async def _interim_billed(
    uow: UnitOfWork, org: Organization, periods: Sequence[tuple[Subscription, Period]], currency: str
) -> Decimal:
    """What interim (progressive) invoices already billed, before tax, for these subscription periods."""
    repo = InvoiceRepository(uow.session, org.id)
    minor = 0
    for sub, period in periods:
        minor += await repo.progressive_billed(BillingKey.progressive_prefix(sub.id, period.start))
    return money.from_minor_units(minor, currency)
