"""Billing runs: turn ended periods (and in-advance fees) into invoices, once each.

A customer's subscriptions are billed at *billing dates*: the end of each period (fees in
arrears, usage, true-ups) which is also the start of the next (fees in advance), the very
first start (in-advance fee of the first period), and a termination. Every billing date of a
customer yields one invoice holding all its subscriptions' lines; `billing_key` (the date) is
unique per customer, so a second or concurrent run never makes another. Each customer is
billed in its own transaction under its advisory lock: one failing customer stops nobody else.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from db.locks import LockNamespace, advisory_xact_lock, advisory_xact_locks
from db.models import (
    AppliedCoupon,
    CreditNote,
    Customer,
    Invoice,
    InvoiceLine,
    Organization,
    Subscription,
    SubscriptionPhase,
    Wallet,
    WalletTransaction,
)
from db.repositories.billing import InvoiceRepository, TaxAssignments, TaxRateRepository
from db.repositories.credits import CreditRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.session import Database, UnitOfWork
from domain import coupons as coupon_rules
from domain import invoicing, money, numbering, proration, tax
from domain.errors import DomainError
from domain.periods import BillingTime, Interval, Period, full_period_containing, period_containing
from domain.subscriptions import SubscriptionStatus
from services import audit
from services.actors import Actor, system_actor
from services.errors import Invalid, NotFound
from services.subscriptions import (
    EffectivePlan,
    billed_days_end,
    current_period,
    customer_timezone,
    effective_plan,
    status_now,
)
from services.usage import BatchedRating, ChargeUsage, rate_window

log = logging.getLogger("valueverse.billing")


def upgrade_billing_key(subscription: Subscription, at: datetime) -> str:
    """The billing key of the invoice an upgrade makes at once (the new plan's fee in advance)."""
    return f"upgrade:{subscription.id}:{at.astimezone(UTC).isoformat()}"


def invoice_channel(organization_id: Any, customer_external_id: str | None = None) -> str:
    return f"invoices.{organization_id}" + (f".{customer_external_id}" if customer_external_id else "")


# --- what is due at a billing date ---------------------------------------------------------


@dataclass
class DueLine:
    kind: str  # SUBSCRIPTION, CHARGE, TRUE_UP
    description: str
    amount: Decimal
    subscription: Subscription | None
    tax_targets: tuple[tuple[str, uuid.UUID], ...]  # (CHARGE|PLAN, id) most specific first
    units: Decimal | None = None
    metric_code: str | None = None
    period: Period | None = None
    breakdown: list[dict[str, Any]] = field(default_factory=list)


def _phase_window(subscription: Subscription, phase: SubscriptionPhase, period: Period, end: datetime) -> Period | None:
    """The part of `period` (cut at `end`) during which `phase` was in effect."""
    start = period.start if phase is subscription.phases[0] else max(period.start, phase.starts_at)
    stop = min(end, phase.ends_at or end)
    return Period(start, stop) if start < stop else None


def _service_end(subscription: Subscription, tz: str) -> datetime | None:
    """When billing of a subscription stops: its termination (billed at once), or the end of a cancel."""
    if subscription.terminated_at is not None and subscription.ended_status == SubscriptionStatus.TERMINATED:
        return subscription.terminated_at
    return subscription.ending_at


def fee_line(
    subscription: Subscription, phase: SubscriptionPhase, period: Period, end: datetime, tz: str, anchor: datetime
) -> DueLine | None:
    plan = effective_plan(phase)
    window = _phase_window(subscription, phase, period, end)
    if window is None or plan.amount == 0:
        return None
    interval, billing_time = Interval(phase.plan.interval), BillingTime(subscription.billing_time)
    full = full_period_containing(anchor, interval, billing_time, period.start, tz)
    window = Period(window.start, min(period.end, billed_days_end(subscription, window.end, tz)))
    amount = proration.period_fee(
        plan.amount,
        period,
        full,
        tz,
        service_start=window.start,
        service_end=window.end,
        trial_end=subscription.trial_ends_at,
    )
    if amount == 0:
        return None
    days = proration.billable_days(period, window.start, window.end, subscription.trial_ends_at, tz)
    description = (
        f"{phase.plan.name} ({days}/{proration.days_in(full, tz)} days)" if amount != plan.amount else phase.plan.name
    )
    return DueLine(
        "SUBSCRIPTION",
        description,
        amount,
        subscription,
        (("PLAN", phase.plan.id),),
        period=Period(window.start, window.end),
    )


def _usage_lines(
    subscription: Subscription,
    phase: SubscriptionPhase,
    plan: EffectivePlan,
    charges: Sequence[ChargeUsage],
    window: Period,
    share: proration.PeriodShare = proration.WHOLE_PERIOD,
) -> list[DueLine]:
    lines: list[DueLine] = []
    fees = Decimal(0)
    for effective, usage in zip(plan.charges, charges, strict=True):
        targets = (("CHARGE", effective.charge.id), ("PLAN", phase.plan.id))
        name = effective.charge.invoice_display_name or usage.metric_name
        parts = usage.filters or ()
        if parts:
            for part in parts:
                label = part.invoice_display_name or (
                    name + " - " + ", ".join(f"{k}: {'/'.join(v)}" for k, v in part.values.items())
                    if part.values
                    else name
                )
                lines.append(
                    DueLine(
                        "CHARGE",
                        label,
                        part.fee.amount,
                        subscription,
                        targets,
                        part.units,
                        usage.metric_code,
                        window,
                        _breakdown(part.fee),
                    )
                )
                fees += money.round_minor(part.fee.amount, plan.plan.currency)
        else:
            lines.append(
                DueLine(
                    "CHARGE",
                    name,
                    usage.fee.amount,
                    subscription,
                    targets,
                    usage.units,
                    usage.metric_code,
                    window,
                    _breakdown(usage.fee),
                )
            )
            fees += money.round_minor(usage.fee.amount, plan.plan.currency)
        if effective.charge.min_amount:
            topped = invoicing.charge_minimum_true_up(effective.charge.min_amount, usage.amount, share)
            if topped > 0:
                lines.append(
                    DueLine(
                        "TRUE_UP",
                        f"{name} - minimum spend",
                        topped,
                        subscription,
                        targets,
                        metric_code=usage.metric_code,
                        period=window,
                    )
                )
                fees += topped
    return lines


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _breakdown(fee: Any) -> list[dict[str, Any]]:
    """A fee's math as the API shows it (camelCase keys, decimal strings)."""
    return [{_camel(k): v for k, v in step.items()} for step in _raw_breakdown(fee)]


def _raw_breakdown(fee: Any) -> list[dict[str, Any]]:
    return [
        audit.jsonable({k: getattr(line, k) for k in line.__slots__ if getattr(line, k) is not None})
        for line in fee.breakdown
    ]


@dataclass
class BillingDate:
    at: datetime
    lines: list[DueLine] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)
    advanced: dict[uuid.UUID, datetime] = field(default_factory=dict)  # subscription -> billed through
    progressive: list[tuple[Subscription, Period]] = field(default_factory=list)  # periods that may have interims

    @property
    def key(self) -> str:
        """The invoice's `billing_key`: a customer has one invoice per billing date."""
        return self.at.astimezone(UTC).isoformat()


async def _due(
    rate: BatchedRating, org: Organization, customer: Customer, subscriptions: Sequence[Subscription], as_of: datetime
) -> dict[datetime, BillingDate]:
    """What each billing date of the customer up to `as_of` bills, from where billing of each subscription stands.

    Usage is rated through `rate`, so that the dates of many customers computed side by side read their usage
    together."""
    tz = customer_timezone(customer, org)
    dates: dict[datetime, BillingDate] = {}

    def at(moment: datetime) -> BillingDate:
        return dates.setdefault(moment, BillingDate(moment))

    for sub in subscriptions:
        anchor, billing_time = sub.started_at, BillingTime(sub.billing_time)
        service_end = _service_end(sub, tz)
        if sub.ended_status == SubscriptionStatus.CANCELED and sub.terminated_at and sub.started_at > sub.terminated_at:
            continue  # canceled before it started: nothing to bill
        first_phase = sub.phases[0]
        first = period_containing(anchor, Interval(first_phase.plan.interval), billing_time, anchor, tz)
        cursor = sub.billed_through
        if cursor is None:
            if first.start > as_of:
                continue
            if first_phase.plan.pay_in_advance:
                line = fee_line(sub, first_phase, first, first.end, tz, anchor)
                if line is not None:
                    at(first.start).lines.append(line)
            at(first.start).advanced[sub.id] = first.start
            cursor = first.start
        while True:
            phase = _phase_at(sub, cursor)
            period = period_containing(anchor, Interval(phase.plan.interval), billing_time, cursor, tz)
            end = min(period.end, service_end) if service_end else period.end
            if end > as_of or end <= cursor:
                break
            bill = at(end)
            bill.periods.append(Period(period.start, end))
            sub_lines: list[DueLine] = []
            paid_in_advance = Decimal(0)  # this period's fees billed at its start (net of any credit since)
            for p in sub.phases:
                window = _phase_window(sub, p, period, end)
                if window is None:
                    continue
                line = fee_line(sub, p, period, end, tz, anchor)
                if line is not None and p.plan.pay_in_advance:
                    paid_in_advance += money.round_minor(line.amount, p.plan.currency)
                elif line is not None:
                    sub_lines.append(line)
                plan = effective_plan(p)
                # a charge's minimum covers the days its charge covers, of the full period (domain/proration.py)
                full = full_period_containing(anchor, Interval(phase.plan.interval), billing_time, period.start, tz)
                share = proration.period_share(period, full, tz, window.start, billed_days_end(sub, window.end, tz))
                sub_lines += _usage_lines(sub, p, plan, await rate(sub, plan, window, tz), window, share)
            commitment = effective_plan(phase).minimum_commitment
            if commitment:
                # The commitment covers the days billed (not trial days), and every fee of the period counts
                # towards it, whether billed now or in advance.
                full = full_period_containing(anchor, Interval(phase.plan.interval), billing_time, period.start, tz)
                share = proration.period_share(
                    period, full, tz, period.start, billed_days_end(sub, end, tz), sub.trial_ends_at
                )
                spent = paid_in_advance + sum(
                    (money.round_minor(line.amount, phase.plan.currency) for line in sub_lines), Decimal(0)
                )
                topped = invoicing.minimum_commitment_true_up(commitment, share, spent)
                if topped > 0:
                    sub_lines.append(
                        DueLine(
                            "TRUE_UP",
                            f"{phase.plan.name} - minimum commitment",
                            topped,
                            sub,
                            (("PLAN", phase.plan.id),),
                            period=Period(period.start, end),
                        )
                    )
            bill.lines += sub_lines
            if phase.plan.usage_thresholds or any(c.pay_in_advance for c in phase.plan.charges):
                bill.progressive.append((sub, Period(period.start, end)))
            ended = service_end is not None and end >= service_end
            if not ended:
                next_phase = _phase_at(sub, end)
                if next_phase.plan.pay_in_advance:
                    following = period_containing(anchor, Interval(next_phase.plan.interval), billing_time, end, tz)
                    line = fee_line(sub, next_phase, following, following.end, tz, anchor)
                    if line is not None:
                        bill.lines.append(line)
            bill.advanced[sub.id] = end
            cursor = end
            if ended:
                break
    return dates


def _phase_at(subscription: Subscription, at: datetime) -> SubscriptionPhase:
    for phase in subscription.phases:
        if phase.starts_at <= at and (phase.ends_at is None or at < phase.ends_at):
            return phase
    return subscription.phases[0] if at < subscription.phases[0].starts_at else subscription.phases[-1]


# --- invoices --------------------------------------------------------------------------------


@dataclass
class _Deductions:
    """A customer's coupons, credit notes and prepaid credits, locked: invoices consume them in turn."""

    coupons: list[AppliedCoupon] = field(default_factory=list)
    notes: list[CreditNote] = field(default_factory=list)
    wallet: Wallet | None = None


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
    levels = {"CHARGE": [], "PLAN": []}
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
    return await issue_invoice(
        uow,
        actor,
        org,
        customer,
        bill.lines,
        currency,
        kind="SUBSCRIPTION",
        billing_key=bill.key,
        period=Period(start, end),
        deductions=True,
        draft=org.invoice_grace_period_days > 0,
        progressive_credit=await _interim_billed(uow, org, bill.progressive, currency),
        context=context,
        finalize_now=False,
    )


async def _interim_billed(
    uow: UnitOfWork, org: Organization, periods: Sequence[tuple[Subscription, Period]], currency: str
) -> Decimal:
    """What interim (progressive) invoices already billed, before tax, for these subscription periods."""
    repo = InvoiceRepository(uow.session, org.id)
    minor = 0
    for sub, period in periods:
        minor += await repo.progressive_billed(_progressive_prefix(sub, period.start))
    return money.from_minor_units(minor, currency)


def _progressive_prefix(subscription: Subscription, period_start: datetime) -> str:
    return f"progressive:{subscription.id}:{period_start.astimezone(UTC).isoformat()}:"


@dataclass
class _Computed:
    totals: Any
    coupons: list[Any]
    notes: list[Any]
    wallet: Any


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
            kind=line.kind,
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


def _consume(uow: UnitOfWork, invoice: Invoice, computed: _Computed) -> None:
    """What the invoice used up: coupon periods, credit-note balances, prepaid credits. Each use is
    written on the invoice (`deductions`) so that voiding it can give them back."""
    used: dict[str, Any] = {"coupons": [], "creditNotes": [], "walletMinor": 0}
    for row, after in zip(computed.coupons, computed.totals.applied_coupons, strict=True):
        if after.periods_used != row.periods_used:
            used["coupons"].append({"id": str(row.id), "periodsBefore": row.periods_used})
        row.periods_used = after.periods_used
        if after.used_up:
            row.terminated_at = datetime.now(UTC)
    left = invoice.credit_notes_minor
    for note in computed.notes:
        taken = min(left, note.remaining_minor)
        if taken:
            used["creditNotes"].append({"id": str(note.id), "minor": taken})
        note.remaining_minor -= taken
        left -= taken
    if computed.wallet is not None and invoice.credits_minor:
        computed.wallet.balance_minor -= invoice.credits_minor
        used["walletMinor"] = invoice.credits_minor
        CreditRepository(uow.session, invoice.organization_id).stage(
            WalletTransaction(
                wallet_id=computed.wallet.id,
                kind="APPLIED",
                amount_minor=-invoice.credits_minor,
                invoice=invoice,
                settled_at=datetime.now(UTC),
            )
        )
    invoice.deductions = used


async def _give_back(uow: UnitOfWork, invoice: Invoice) -> None:
    """Undo what a voided invoice consumed: coupon periods, credit-note balances, prepaid credits."""
    used = invoice.deductions or {}
    credits = CreditRepository(uow.session, invoice.organization_id)
    coupons = {
        str(row.id): row
        for row in await credits.active_coupons(invoice.customer_id, for_update=True, include_ended=True)
    }
    for item in used.get("coupons", []):
        row = coupons.get(item["id"])
        if row is not None:
            row.periods_used, row.terminated_at = item["periodsBefore"], None
    notes = {str(n.id): n for n in await credits.credit_notes_of_customer(invoice.customer_id)}
    for item in used.get("creditNotes", []):
        if item["id"] in notes:
            notes[item["id"]].remaining_minor += item["minor"]
    if used.get("walletMinor"):
        wallet = await credits.wallet(invoice.customer_id, for_update=True)
        wallet.balance_minor += used["walletMinor"]
        await credits.add(
            WalletTransaction(
                wallet_id=wallet.id,
                kind="RESTORED",
                amount_minor=used["walletMinor"],
                invoice_id=invoice.id,
                settled_at=datetime.now(UTC),
            )
        )
    invoice.deductions = {}


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
    lines: Sequence[DueLine],
    currency: str,
    *,
    kind: str,
    billing_key: str | None,
    period: Period,
    deductions: bool,
    taxed: bool = True,
    draft: bool = False,
    progressive_credit: Decimal = Decimal(0),
    context: InvoicingContext | None = None,
    finalize_now: bool = True,
) -> Invoice:
    """Compute, store and finalize an invoice. With `deductions`, the customer's coupons, credit notes and
    prepaid credits apply and are consumed in the same transaction; a `draft` defers both to finalization.
    Without `finalize_now` the caller finalizes it (`finalize_many`), still in this transaction."""
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
        status=numbering.InvoiceStatus.DRAFT.value,
        kind=kind,
        billing_key=billing_key,
        currency=currency,
        period_start=period.start,
        period_end=period.end,
        seller=seller,
        buyer=buyer,
        billed_from={},
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


async def _billing_date_again(
    uow: UnitOfWork, actor: Actor, invoice: Invoice
) -> tuple[Organization, Customer, BillingDate]:
    """What the billing date of a subscription invoice bills from current data (late events, new prices):
    computed from where billing of each subscription stood before it (`billed_from`), under the customer's
    billing lock; each subscription's progress is kept (never moved back)."""
    await advisory_xact_lock(uow.session, LockNamespace.CUSTOMER_BILLING, invoice.customer_id)
    org = await OrganizationRepository(uow.session).get(actor.organization_id)
    customer = invoice.customer
    subscriptions = await SubscriptionRepository(uow.session, org.id).of_customer(customer.id)
    progress = {s.id: s.billed_through for s in subscriptions}
    for sub in subscriptions:  # rewind to where this invoice started billing them
        if str(sub.id) in invoice.billed_from:
            previous = invoice.billed_from[str(sub.id)]
            sub.billed_through = datetime.fromisoformat(previous) if previous else None
    billing_date = datetime.fromisoformat(invoice.billing_key.split(VOIDED_KEY)[0])  # the key is its date
    dates = await _due(BatchedRating(uow.session, org.id), org, customer, subscriptions, billing_date)
    bill = dates.get(billing_date, BillingDate(billing_date))
    for sub in subscriptions:
        reached = [t for t in (progress[sub.id], bill.advanced.get(sub.id)) if t is not None]
        sub.billed_through = max(reached) if reached else None
    return org, customer, bill


VOIDED_KEY = ":voided:"  # a regenerated invoice's voided predecessor keeps its billing key under this suffix


async def refresh_invoice(
    uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID, *, finalize_after: bool = False
) -> Invoice:
    """Recompute a draft from current data (late events included); optionally finalize it."""
    repo = InvoiceRepository(uow.session, actor.organization_id)
    invoice = await repo.get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("id",))
    if invoice.status != numbering.InvoiceStatus.DRAFT.value or invoice.kind != "SUBSCRIPTION":
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


def domain_coupon(row: Any) -> coupon_rules.Coupon:
    return coupon_rules.Coupon(
        code=row.code,
        kind=coupon_rules.CouponKind(row.kind),
        amount=row.amount,
        percentage=row.percentage,
        currency=row.currency,
        duration=coupon_rules.CouponDuration(row.duration),
        duration_periods=row.duration_periods,
    )


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


def invoice_view(invoice: Invoice) -> dict[str, Any]:
    return {
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "periodStart": invoice.period_start,
        "periodEnd": invoice.period_end,
        "totalMinor": invoice.total_minor,
        "amountDueMinor": invoice.amount_due_minor,
    }


async def finalize(uow: UnitOfWork, actor: Actor, invoice: Invoice, org: Organization | None = None) -> Invoice:
    """DRAFT → OPEN with the next gapless number (a zero amount due is PAID at once)."""
    org = org or await OrganizationRepository(uow.session).get(actor.organization_id)
    await finalize_many(uow, actor, [invoice], org)
    return invoice


async def finalize_many(uow: UnitOfWork, actor: Actor, invoices: Sequence[Invoice], org: Organization) -> None:
    """`finalize` for several invoices of one organization: their numbers are taken together, in order.

    The numbering row stays locked until COMMIT: call it as late in the transaction as possible."""
    if not invoices:
        return
    for invoice in invoices:
        numbering.transition(numbering.InvoiceStatus(invoice.status), numbering.InvoiceStatus.OPEN)
    befores = [invoice_view(invoice) for invoice in invoices]
    numbers = await InvoiceRepository(uow.session, org.id).next_numbers(len(invoices))
    now = datetime.now(UTC)
    for invoice, before, sequence in zip(invoices, befores, numbers, strict=True):
        invoice.number = numbering.invoice_number(org.invoice_prefix, now.year, now.month, sequence)
        invoice.status = numbering.InvoiceStatus.OPEN.value
        invoice.finalized_at = invoice.issued_at = now
        invoice.due_at = now + timedelta(days=org.net_payment_term_days)
        if invoice.amount_due_minor == 0:
            invoice.status = numbering.InvoiceStatus.PAID.value
            invoice.paid_at = now
        await audit.record(
            uow, actor, "invoice.finalized", "invoice", invoice.id, before=before, after=invoice_view(invoice)
        )
        announce_invoice(uow, invoice)


def announce_invoice(uow: UnitOfWork, invoice: Invoice) -> None:
    message = orjson.dumps({"id": str(invoice.id)})
    uow.publish_after_commit(invoice_channel(invoice.organization_id), message)
    uow.publish_after_commit(invoice_channel(invoice.organization_id, invoice.customer.external_id), message)


async def void_invoice(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    invoice = await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("id",))
    before = invoice_view(invoice)
    numbering.transition(numbering.InvoiceStatus(invoice.status), numbering.InvoiceStatus.VOID)
    invoice.status = numbering.InvoiceStatus.VOID.value
    invoice.voided_at = datetime.now(UTC)
    await _give_back(uow, invoice)
    await audit.record(uow, actor, "invoice.voided", "invoice", invoice.id, before=before, after=invoice_view(invoice))
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
    regenerable = (
        voided.status == numbering.InvoiceStatus.VOID.value
        and voided.kind == "SUBSCRIPTION"
        and voided.billing_key is not None
        and VOIDED_KEY not in voided.billing_key
        and _is_date(voided.billing_key)
    )
    if not regenerable:
        raise Invalid(
            "only a voided subscription invoice of a billing date, not regenerated yet, can be regenerated",
            field=("id",),
            code="INVOICE_NOT_REGENERABLE",
        )
    date_key = voided.billing_key
    voided.billing_key = f"{date_key}{VOIDED_KEY}{voided.id}"
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


def _is_date(key: str) -> bool:
    try:
        datetime.fromisoformat(key)
    except ValueError:
        return False
    return True


async def mark_uncollectible(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    """Give up collecting an open invoice (it can still be paid or voided later)."""
    invoice = await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("id",))
    before = invoice_view(invoice)
    numbering.transition(numbering.InvoiceStatus(invoice.status), numbering.InvoiceStatus.UNCOLLECTIBLE)
    invoice.status = numbering.InvoiceStatus.UNCOLLECTIBLE.value
    await audit.record(
        uow, actor, "invoice.uncollectible", "invoice", invoice.id, before=before, after=invoice_view(invoice)
    )
    announce_invoice(uow, invoice)
    return invoice


async def finalize_invoice(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    invoice = await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("id",))
    if invoice.status == numbering.InvoiceStatus.DRAFT.value and invoice.kind == "SUBSCRIPTION":
        return await refresh_invoice(uow, actor, invoice_id, finalize_after=True)
    return await finalize(uow, actor, invoice)


async def finalize_expired_drafts(uow: UnitOfWork, actor: Actor, now: datetime) -> list[Invoice]:
    """Drafts whose grace period is over are refreshed one last time and finalized."""
    org = await OrganizationRepository(uow.session).get(actor.organization_id)
    cutoff = now - timedelta(days=org.invoice_grace_period_days)
    drafts = await InvoiceRepository(uow.session, org.id).drafts_created_before(cutoff)
    return [await refresh_invoice(uow, actor, d.id, finalize_after=True) for d in drafts]


# --- progressive billing ------------------------------------------------------------------------


async def check_usage_thresholds(uow: UnitOfWork, actor: Actor, customer_id: uuid.UUID, now: datetime) -> list[Invoice]:
    """Interim invoices of the current period: usage of pay-in-advance charges not billed yet, and the
    usage to date when it reaches a threshold of the plan (progressive billing).

    Each bills what grew since the earlier interim invoices of the period; the period invoice later
    deducts all of them (before tax), so nothing is billed or taxed twice. Billing keys make it idempotent."""
    await advisory_xact_lock(uow.session, LockNamespace.CUSTOMER_BILLING, customer_id)
    org = await OrganizationRepository(uow.session).get(actor.organization_id)
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
        if window is None:
            continue
        plan = effective_plan(phase)
        currency = plan.plan.currency
        charges = await rate_window(uow.session, org.id, sub, plan, window, tz)
        prefix = _progressive_prefix(sub, period.start)

        async def interim(
            key_prefix: str, key: str, amount: Decimal, line: DueLine, currency: str = currency, window: Period = window
        ) -> None:
            billed = money.from_minor_units(await repo.progressive_billed(key_prefix), currency)
            if amount > billed and not await repo.has_billing_key(customer.id, key):
                line.amount = amount - billed
                invoices.append(
                    await issue_invoice(
                        uow,
                        actor,
                        org,
                        customer,
                        [line],
                        currency,
                        kind="PROGRESSIVE",
                        billing_key=key,
                        period=Period(window.start, now),
                        deductions=False,
                    )
                )

        for effective, usage in zip(plan.charges, charges, strict=True):
            if effective.charge.pay_in_advance:
                name = effective.charge.invoice_display_name or usage.metric_name
                charge_prefix = f"{prefix}advance:{effective.charge.id}:"
                await interim(
                    charge_prefix,
                    f"{charge_prefix}{usage.amount}",
                    usage.amount,
                    DueLine(
                        "CHARGE",
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
            await interim(
                prefix,
                f"{prefix}{reached[-1]}",
                used,
                DueLine(
                    "CHARGE",
                    f"Usage to date - {phase.plan.name} (threshold {reached[-1]} reached)",
                    Decimal(0),
                    sub,
                    (("PLAN", phase.plan.id),),
                    period=Period(window.start, now),
                ),
            )
    return invoices


# --- runs ----------------------------------------------------------------------------------


BATCH_SIZE = 100  # customers billed in one transaction by a run


async def bill_customer(uow: UnitOfWork, actor: Actor, customer_id: uuid.UUID, as_of: datetime) -> list[Invoice]:
    """Every billing date of the customer up to `as_of` that has no invoice yet gets one."""
    return await bill_customers(uow, actor, [customer_id], as_of)


async def bill_customers(
    uow: UnitOfWork, actor: Actor, customer_ids: Sequence[uuid.UUID], as_of: datetime
) -> list[Invoice]:
    """`bill_customer` for several customers of one organization in this one transaction.

    Their billing locks are taken together; subscriptions, usage, existing invoices, tax rates and
    deductions are read for all of them at once, the invoices written in one flush and numbered together
    at the end, so that the organization's numbering row and audit chain are held only until COMMIT."""
    session = uow.session
    await advisory_xact_locks(session, LockNamespace.CUSTOMER_BILLING, customer_ids)
    org = await OrganizationRepository(session).get(actor.organization_id)
    customers = await CustomerRepository(session, org.id).by_ids(customer_ids)
    missing = [c for c in customer_ids if c not in customers]
    if missing:
        raise NotFound(f"no such customer: {missing[0]}", field=("customerId",))
    subscriptions = await SubscriptionRepository(session, org.id).of_customers(customer_ids)
    rate = BatchedRating(session, org.id)
    # Every customer's dates side by side, their usage read together; all of them finish (none is left
    # reading on the session) before a failure of one fails the batch.
    outcomes = await asyncio.gather(
        *(_due(rate, org, customers[c], subscriptions.get(c, []), as_of) for c in customer_ids),
        return_exceptions=True,
    )
    dues: list[dict[datetime, BillingDate]] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        dues.append(outcome)
    keys = {(c, bill.key) for c, dates in zip(customer_ids, dues, strict=True) for bill in dates.values()}
    repo = InvoiceRepository(session, org.id)
    billed = await repo.billing_keys({c for c, _ in keys}, {k for _, k in keys})
    to_bill = [
        c
        for c, dates in zip(customer_ids, dues, strict=True)
        if any(b.lines and (c, b.key) not in billed for b in dates.values())
    ]
    drafts = org.invoice_grace_period_days > 0  # kept refreshable: deductions apply at finalization
    context = await InvoicingContext.load(uow, org, to_bill, deductions=not drafts)
    invoices: list[Invoice] = []
    for customer_id, dates in zip(customer_ids, dues, strict=True):
        customer = customers[customer_id]
        by_id = {s.id: s for s in subscriptions.get(customer_id, [])}
        for moment in sorted(dates):
            bill = dates[moment]
            if bill.lines and (customer_id, bill.key) not in billed:
                invoice = await _issue(uow, actor, context, customer, bill, customer.currency or org.default_currency)
                # Where billing of each subscription stood before: a refresh of a draft starts again from there.
                invoice.billed_from = {
                    str(k): by_id[k].billed_through.isoformat() if by_id[k].billed_through else None
                    for k in bill.advanced
                }
                invoices.append(invoice)
            for sub_id, through in bill.advanced.items():
                by_id[sub_id].billed_through = max(through, by_id[sub_id].billed_through or through)
    if not drafts:
        await finalize_many(uow, actor, invoices, org)
    await session.flush()
    return invoices


@dataclass
class RunResult:
    invoices: list[Invoice] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (customer external id, reason)


async def run_billing(db: Database, actor: Actor, as_of: datetime, *, batch_size: int = BATCH_SIZE) -> RunResult:
    """Bill every customer of the organization: a batch of customers per transaction, and a customer per
    transaction for a batch that fails, so that one customer's failure stops nobody else."""
    if as_of.tzinfo is None:
        raise Invalid("asOf needs a UTC offset", field=("asOf",), code="NAIVE_DATETIME")
    async with db.read() as session:
        customers = await SubscriptionRepository(session, actor.organization_id).customers_with_subscriptions()
    result = RunResult()
    for start in range(0, len(customers), batch_size):
        await bill_batch(db, actor, customers[start : start + batch_size], as_of, result)
    await record_run(db, actor, as_of, len(customers), result)
    return result


async def record_run(db: Database, actor: Actor, as_of: datetime, customers: int, result: RunResult) -> None:
    """The run's own audit entry, after its billing transactions: what it billed, who failed and why."""
    async with db.unit_of_work() as uow:
        await audit.record(
            uow,
            actor,
            "billing.run",
            "organization",
            actor.organization_id,
            after={
                "asOf": as_of,
                "customers": customers,
                "invoices": len(result.invoices),
                "failures": [{"customerExternalId": c, "reason": r} for c, r in result.failures],
            },
        )


async def bill_batch(
    db: Database, actor: Actor, customers: Sequence[tuple[uuid.UUID, str]], as_of: datetime, result: RunResult
) -> None:
    """Bill (id, external id) customers in one transaction; if it fails, each in its own, failures noted."""
    if len(customers) > 1:
        try:
            async with db.unit_of_work() as uow:
                result.invoices += await bill_customers(uow, actor, [c for c, _ in customers], as_of)
            return
        except Exception:  # find out which customer it was: one transaction each
            log.info("a billing batch of %d customers failed; billing them one by one", len(customers))
    for customer_id, external_id in customers:
        try:
            async with db.unit_of_work() as uow:
                result.invoices += await bill_customers(uow, actor, [customer_id], as_of)
        except DomainError as exc:
            result.failures.append((external_id, f"{exc.code}: {exc.message}"))
        except Exception:  # one customer's failure must not stop the others; it is reported, the trace logged
            log.exception("billing customer %s failed", external_id)
            result.failures.append((external_id, "internal error: see the server log"))


def job_actor(organization_id: uuid.UUID) -> Actor:
    return system_actor(organization_id, name="billing", kind="job")
