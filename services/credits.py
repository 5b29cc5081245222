"""Coupons, prepaid credits (wallets), credit notes, one-off invoices and manual payments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from db.models import AppliedCoupon, Coupon, CreditNote, CreditNoteItem, Customer, Invoice, Wallet, WalletTransaction
from db.repositories.billing import InvoiceRepository
from db.repositories.credits import CreditRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.session import UnitOfWork
from domain import coupons as coupon_rules
from domain import invoicing, money, numbering
from domain.errors import DomainError
from domain.invoicing import InvoiceLineKind
from domain.numbering import InvoiceStatus
from domain.periods import Period
from services import audit
from services.actors import Actor
from services.billing.deductions import domain_coupon
from services.billing.due import DueLine
from services.billing.issue import issue_invoice
from services.billing.kinds import CreditPurchaseInvoice, OneOffInvoice
from services.catalog import check_code, check_name
from services.clocks import on_customer_time
from services.errors import AlreadyExists, CommonCode, CreditCode, Invalid, NotFound, Resource, found
from services.invoice_state import announce_invoice, invoice_view, move_invoice


async def _customer(uow: UnitOfWork, actor: Actor, external_id: str) -> Customer:
    customer = found(
        await CustomerRepository(uow.session, actor.organization_id).by_external_id(external_id),
        NotFound(Resource.CUSTOMER, f"no customer with externalId {external_id!r}", field=("customerExternalId",)),
    )
    await on_customer_time(uow, customer)  # a customer on a test clock: its wallet, coupons, invoices at its time
    return customer


async def _currency(uow: UnitOfWork, actor: Actor, customer: Customer) -> str:
    if customer.currency:
        return customer.currency
    org = await OrganizationRepository(uow.session).existing(actor.organization_id)
    return org.default_currency


# --- coupons ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CouponSpec:
    code: str
    name: str
    kind: str
    amount: Decimal | None = None
    percentage: Decimal | None = None
    currency: str | None = None
    duration: str = "ONCE"
    duration_periods: int | None = None


async def create_coupon(uow: UnitOfWork, actor: Actor, spec: CouponSpec) -> Coupon:
    check_code(spec.code, ("code",))
    row = Coupon(
        code=spec.code,
        name=check_name(spec.name, ("name",)),
        kind=spec.kind,
        amount=spec.amount,
        percentage=spec.percentage,
        currency=spec.currency.upper() if spec.currency else None,
        duration=spec.duration,
        duration_periods=spec.duration_periods,
    )
    domain_coupon(row)  # validates kind, amount/percentage, currency, duration (COUPON_INVALID_*)
    repo = CreditRepository(uow.session, actor.organization_id)
    if await repo.coupon(spec.code) is not None:
        raise AlreadyExists(f"a coupon with code {spec.code!r} exists", field=("code",))
    await repo.add(row)
    await audit.record(
        uow,
        actor,
        "coupon.created",
        "coupon",
        row.id,
        after={
            "code": row.code,
            "kind": row.kind,
            "amount": row.amount,
            "percentage": row.percentage,
            "currency": row.currency,
            "duration": row.duration,
            "durationPeriods": row.duration_periods,
        },
    )
    return row


async def apply_coupon(uow: UnitOfWork, actor: Actor, customer_external_id: str, coupon_code: str) -> AppliedCoupon:
    repo = CreditRepository(uow.session, actor.organization_id)
    coupon = found(
        await repo.coupon(coupon_code),
        NotFound(f"no coupon with code {coupon_code!r}", field=("couponCode",)),
    )
    customer = await _customer(uow, actor, customer_external_id)
    currency = await _currency(uow, actor, customer)
    try:
        coupon_rules.coupon_applies(coupon_rules.AppliedCoupon(domain_coupon(coupon)), currency)
    except DomainError as exc:
        raise Invalid(exc.message, field=("couponCode",), code=exc.code) from None
    if any(a.coupon_id == coupon.id for a in await repo.active_coupons(customer.id)):
        raise AlreadyExists(
            "this coupon is already applied to the customer",
            field=("couponCode",),
            code=CreditCode.COUPON_ALREADY_APPLIED,
        )
    applied = AppliedCoupon(coupon=coupon, coupon_id=coupon.id, customer_id=customer.id, periods_used=0)
    await repo.add(applied)
    await audit.record(uow, actor, "coupon.applied", "customer", customer.id, after={"coupon": coupon.code})
    return applied


# --- wallets --------------------------------------------------------------------------------


async def create_wallet(uow: UnitOfWork, actor: Actor, customer_external_id: str) -> Wallet:
    customer = await _customer(uow, actor, customer_external_id)
    repo = CreditRepository(uow.session, actor.organization_id)
    if await repo.wallet(customer.id) is not None:
        raise AlreadyExists("the customer has a wallet", field=("customerExternalId",))
    wallet = Wallet(customer_id=customer.id, currency=await _currency(uow, actor, customer), balance_minor=0)
    await repo.add(wallet)
    await audit.record(uow, actor, "wallet.created", "wallet", wallet.id, after={"currency": wallet.currency})
    return wallet


async def top_up_wallet(
    uow: UnitOfWork, actor: Actor, customer_external_id: str, *, paid: Decimal, granted: Decimal
) -> Wallet:
    """Granted credits are available at once; paid credits once their invoice is paid."""
    customer = await _customer(uow, actor, customer_external_id)
    repo = CreditRepository(uow.session, actor.organization_id)
    wallet = found(
        await repo.wallet(customer.id, for_update=True),
        NotFound(Resource.WALLET, "the customer has no wallet: create it first", field=("customerExternalId",)),
    )
    amounts = {}
    for name, value in (("paidCredits", paid), ("grantedCredits", granted)):
        if value < 0:
            raise Invalid("a top-up cannot be negative", field=(name,), code=CommonCode.NEGATIVE_AMOUNT)
        if value != money.round_minor(value, wallet.currency):
            raise Invalid(
                f"{wallet.currency} has {money.currency_exponent(wallet.currency)} decimals",
                field=(name,),
                code=CommonCode.INVALID_DECIMAL,
            )
        amounts[name] = money.to_minor_units(value, wallet.currency)
    if not any(amounts.values()):
        raise Invalid("top up a positive amount", field=("paidCredits",), code=CreditCode.NOTHING_TO_TOP_UP)
    before = {"balanceMinor": wallet.balance_minor}
    if amounts["grantedCredits"]:
        wallet.balance_minor += amounts["grantedCredits"]
        await repo.add(
            WalletTransaction(
                wallet_id=wallet.id,
                kind="GRANTED",
                amount_minor=amounts["grantedCredits"],
                settled_at=uow.clock.now(),
            )
        )
    if amounts["paidCredits"]:
        org = await OrganizationRepository(uow.session).existing(actor.organization_id)
        now = uow.clock.now()
        purchase = CreditPurchaseInvoice(
            lines=[DueLine(InvoiceLineKind.ONE_OFF, "Prepaid credits", paid, None, ())],
            currency=wallet.currency,
            period=Period(now, now + timedelta(seconds=1)),
        )
        invoice = await issue_invoice(uow, actor, org, customer, purchase)
        await repo.add(
            WalletTransaction(
                wallet_id=wallet.id, kind="PENDING_PAYMENT", amount_minor=amounts["paidCredits"], invoice_id=invoice.id
            )
        )
    await audit.record(
        uow,
        actor,
        "wallet.topped_up",
        "wallet",
        wallet.id,
        before=before,
        after={"balanceMinor": wallet.balance_minor, **amounts},
    )
    return wallet


# --- payments recorded by hand, one-off invoices ------------------------------------------------


async def _invoice(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    invoice = found(
        await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True),
        NotFound("no invoice with this id", field=("invoiceId",)),
    )
    await on_customer_time(uow, invoice.customer)
    return invoice


async def mark_invoice_paid(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    """A payment received outside the providers (wire transfer, cheque): the invoice is paid in full."""
    invoice = await _invoice(uow, actor, invoice_id)
    invoice.paid_minor = invoice.amount_due_minor
    await move_invoice(uow, actor, invoice, InvoiceStatus.PAID, action="invoice.paid", before=invoice_view(invoice))
    await release_paid_credits(uow, actor, invoice)
    return invoice


async def release_paid_credits(uow: UnitOfWork, actor: Actor, invoice: Invoice) -> None:
    """A paid credit-purchase invoice: its paid credits become available in the wallet."""
    repo = CreditRepository(uow.session, actor.organization_id)
    pending = await repo.pending_top_up(invoice.id)
    if pending is not None:  # paid credits become available now
        wallet = await repo.wallet(invoice.customer_id, for_update=True)
        assert wallet is not None  # a pending top-up belongs to the customer's wallet
        wallet.balance_minor += pending.amount_minor
        pending.kind, pending.settled_at = "PAID", invoice.paid_at


async def take_back_paid_credits(uow: UnitOfWork, actor: Actor, invoice: Invoice) -> int:
    """A credit-purchase invoice whose payment the payer's bank took back (an ACH return) is open again: the
    credits its payment released leave the wallet, as far as they are unspent (what was spent is what the
    customer now owes on the reopened invoice), and wait for it to be paid again. Returns the minor units taken."""
    repo = CreditRepository(uow.session, actor.organization_id)
    held = await repo.released_top_up_minor(invoice.id)
    if held <= 0:
        return 0
    wallet = await repo.wallet(invoice.customer_id, for_update=True)
    assert wallet is not None  # released credits belong to the customer's wallet
    taken = min(held, max(wallet.balance_minor, 0))
    if taken == 0:
        return 0
    before = {"balanceMinor": wallet.balance_minor}
    wallet.balance_minor -= taken
    now = uow.clock.now()
    await repo.add(
        WalletTransaction(wallet_id=wallet.id, kind="TAKEN_BACK", amount_minor=taken, invoice_id=invoice.id,
                          settled_at=now)
    )
    await repo.add(WalletTransaction(wallet_id=wallet.id, kind="PENDING_PAYMENT", amount_minor=taken,
                                     invoice_id=invoice.id))
    await audit.record(
        uow, actor, "wallet.credits_taken_back", "wallet", wallet.id,
        before=before, after={"balanceMinor": wallet.balance_minor, "takenMinor": taken, "invoiceId": str(invoice.id)},
    )
    return taken


@dataclass(frozen=True)
class OneOffLine:
    description: str
    amount: Decimal
    units: Decimal | None = None


async def create_one_off_invoice(
    uow: UnitOfWork, actor: Actor, customer_external_id: str, lines: Sequence[OneOffLine]
) -> Invoice:
    """Add-ons and services outside subscriptions: taxed like everything else, finalized at once."""
    if not lines:
        raise Invalid("an invoice needs at least one line", field=("lines",), code=CommonCode.REQUIRED)
    customer = await _customer(uow, actor, customer_external_id)
    currency = await _currency(uow, actor, customer)
    due = []
    for index, line in enumerate(lines):
        at = ("lines", str(index))
        if line.amount < 0:
            raise Invalid("must not be negative", field=(*at, "amount"), code=CommonCode.NEGATIVE_AMOUNT)
        check_name(line.description, (*at, "description"))
        amount = line.amount * line.units if line.units is not None else line.amount
        due.append(DueLine(InvoiceLineKind.ONE_OFF, line.description.strip(), amount, None, (), units=line.units))
    org = await OrganizationRepository(uow.session).existing(actor.organization_id)
    now = uow.clock.now()
    one_off = OneOffInvoice(lines=due, currency=currency, period=Period(now, now + timedelta(seconds=1)))
    return await issue_invoice(uow, actor, org, customer, one_off)


# --- credit notes ---------------------------------------------------------------------------------


async def creditable_minor(uow: UnitOfWork, invoice: Invoice) -> int:
    """What can still be credited on an invoice, in minor units: its total less its credit notes."""
    existing = await CreditRepository(uow.session, invoice.organization_id).credit_notes_of_invoice(invoice.id)
    return invoice.total_minor - sum(n.amount_minor for n in existing)


@dataclass(frozen=True)
class CreditNoteLine:
    """What to credit of one invoice line, before tax: `amount`, or all that is left of it when None."""

    invoice_line_id: uuid.UUID
    amount: Decimal | None = None


def _minor(amount: Decimal, currency: str, field: tuple[str, ...]) -> int:
    if amount <= 0 or amount != money.round_minor(amount, currency):
        raise Invalid(
            f"a positive amount with at most {money.currency_exponent(currency)} decimals",
            field=field,
            code=CommonCode.INVALID_AMOUNT,
        )
    return money.to_minor_units(amount, currency)


async def _items(
    uow: UnitOfWork, invoice: Invoice, lines: Sequence[CreditNoteLine]
) -> list[CreditNoteItem]:
    """A credit note's items: each line's part before tax and its share of the line's tax (domain rule)."""
    if not lines:
        raise Invalid("name at least one invoice line", field=("lines",), code=CommonCode.INVALID_INPUT)
    by_id = {line.id: line for line in invoice.lines}
    credited = await CreditRepository(uow.session, invoice.organization_id).credited_by_line(invoice.id)
    items, seen = [], set()
    for index, wanted in enumerate(lines):
        at = ("lines", str(index))
        line = by_id.get(wanted.invoice_line_id)
        if line is None:
            raise NotFound(Resource.INVOICE_LINE, "no such line on this invoice", field=(*at, "invoiceLineId"))
        if line.id in seen:
            raise Invalid("a line may be named once", field=(*at, "invoiceLineId"), code=CreditCode.DUPLICATE_LINE)
        seen.add(line.id)
        net_minor = line.amount_minor - line.discount_minor
        if net_minor <= 0:
            raise Invalid(
                "this line cost nothing to credit", field=(*at, "invoiceLineId"), code=CommonCode.INVALID_AMOUNT
            )
        done_net, done_tax = credited.get(line.id, (0, 0))
        amount = None if wanted.amount is None else _minor(wanted.amount, invoice.currency, (*at, "amount"))
        try:
            net, tax_minor = invoicing.credit_note_item(
                invoicing.CreditableLine(net_minor, line.tax_minor, done_net, done_tax), amount
            )
        except DomainError as exc:
            raise exc.at(*at) from None
        items.append(
            CreditNoteItem(
                invoice_line_id=line.id,
                position=index,
                description=line.description,
                amount_minor=net,
                tax_minor=tax_minor,
            )
        )
    return items


async def create_credit_note(
    uow: UnitOfWork,
    actor: Actor,
    invoice_id: uuid.UUID,
    kind: str,
    amount: Decimal | None,
    reason: str,
    lines: Sequence[CreditNoteLine] | None = None,
) -> CreditNote:
    """CREDIT lowers what is due (or credits the next invoices once paid); REFUND returns paid money.

    By `amount` (tax included), or by `lines`: parts of invoice lines before tax, each with its tax."""
    invoice = await _invoice(uow, actor, invoice_id)
    status = InvoiceStatus(invoice.status)
    if status not in (
        InvoiceStatus.OPEN,
        InvoiceStatus.PAID,
        InvoiceStatus.UNCOLLECTIBLE,
    ):
        raise Invalid(
            f"a {status} invoice cannot be credited", field=("invoiceId",), code=CreditCode.INVOICE_NOT_CREDITABLE
        )
    c = invoice.currency
    if (amount is None) == (lines is None):
        raise Invalid("give either amount or lines", field=("amount",), code=CommonCode.INVALID_INPUT)
    items = await _items(uow, invoice, lines) if lines is not None else []
    if lines is not None:
        minor = sum(i.amount_minor + i.tax_minor for i in items)
    else:
        assert amount is not None  # either amount or lines, checked above
        minor = _minor(amount, c, ("amount",))
    repo = CreditRepository(uow.session, actor.organization_id)
    creditable = await creditable_minor(uow, invoice)
    if minor > creditable:
        raise Invalid(
            f"at most {money.from_minor_units(creditable, c)} {c} can still be credited on this invoice",
            field=("amount",) if lines is None else ("lines",),
            code=CreditCode.CREDIT_NOTE_TOO_LARGE,
        )
    remaining, settled = 0, False
    if kind == "REFUND":
        refunds = [n for n in await repo.credit_notes_of_invoice(invoice.id) if n.kind == "REFUND"]
        refundable = invoice.paid_minor - sum(n.amount_minor for n in refunds)
        if minor > refundable:
            raise Invalid(
                f"at most {money.from_minor_units(refundable, c)} {c} was paid and can be refunded",
                field=("amount",),
                code=CreditCode.REFUND_TOO_LARGE,
            )
    elif status is InvoiceStatus.PAID:
        remaining = minor  # credited on the customer's next invoices
    else:
        applied = min(minor, invoice.amount_due_minor)
        invoice.credit_notes_minor += applied
        invoice.amount_due_minor -= applied
        remaining = minor - applied
        if invoice.amount_due_minor == 0:  # the credit note's own audit entry tells
            await move_invoice(uow, actor, invoice, InvoiceStatus.PAID, action=None)
            settled = True
    assert invoice.number is not None  # only finalized invoices are credited, and they have a number
    note = CreditNote(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        kind=kind,
        number=numbering.credit_note_number(invoice.number, await repo.credit_note_count(invoice.id) + 1),
        reason=(reason or "").strip()[:300],
        currency=c,
        amount_minor=minor,
        remaining_minor=remaining,
        items=items,
    )
    for item in items:
        item.organization_id = invoice.organization_id
    await repo.add(note)
    if not settled:  # (a move announces the invoice itself)
        announce_invoice(uow, invoice)
    await audit.record(
        uow,
        actor,
        "credit_note.created",
        "invoice",
        invoice.id,
        after={
            "number": note.number,
            "kind": kind,
            "amountMinor": minor,
            "reason": note.reason,
            "items": [
                {"invoiceLineId": i.invoice_line_id, "amountMinor": i.amount_minor, "taxMinor": i.tax_minor}
                for i in items
            ],
        },
    )
    return note
