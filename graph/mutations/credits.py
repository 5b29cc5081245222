"""Coupons, wallets, credit notes, one-off invoices and payments recorded by hand."""

from __future__ import annotations

import uuid
from decimal import Decimal

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_use_case
from graph.types.credits import Coupon, CouponDuration, CouponKind, CreditNote, CreditNoteKind, Wallet
from graph.types.invoice import Invoice
from services import credits
from services.errors import CommonCode, Invalid


def _id(value: str, field: str | tuple[str, ...] = "invoiceId") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        path = (field,) if isinstance(field, str) else field
        raise Invalid("not a valid id", field=path, code=CommonCode.INVALID_ID) from None


def _lines(lines: list[CreditNoteLineInput] | None) -> list[credits.CreditNoteLine] | None:
    if lines is None:
        return None
    return [
        credits.CreditNoteLine(_id(line.invoice_line_id, ("lines", str(i), "invoiceLineId")), line.amount)
        for i, line in enumerate(lines)
    ]


@strawberry.input
class CreateCouponInput:
    code: str
    name: str
    kind: CouponKind
    amount: Decimal | None = strawberry.field(default=None, description="FIXED: the amount, in `currency`.")
    percentage: Decimal | None = strawberry.field(default=None, description="PERCENTAGE: 0 < p ≤ 100.")
    currency: str | None = None
    duration: CouponDuration = CouponDuration.ONCE
    duration_periods: int | None = strawberry.field(default=None, description="REPEATING: how many invoices.")


@strawberry.type
class CouponPayload:
    coupon: Coupon | None
    user_errors: list[UserError]


@strawberry.input
class ApplyCouponInput:
    customer_external_id: str
    coupon_code: str


@strawberry.input
class CustomerInput:
    customer_external_id: str


@strawberry.input
class TopUpWalletInput:
    customer_external_id: str
    paid_credits: Decimal = strawberry.field(default=Decimal(0), description="Invoiced; available once paid.")
    granted_credits: Decimal = strawberry.field(default=Decimal(0), description="Free; available at once.")


@strawberry.type
class WalletPayload:
    wallet: Wallet | None
    user_errors: list[UserError]


@strawberry.input(description="Part of an invoice line to credit, before tax (its tax goes back with it).")
class CreditNoteLineInput:
    invoice_line_id: strawberry.ID
    amount: Decimal | None = strawberry.field(default=None, description="All that is left of the line when left out.")


@strawberry.input(description="Either amount or lines.")
class CreateCreditNoteInput:
    invoice_id: strawberry.ID
    kind: CreditNoteKind
    amount: Decimal | None = strawberry.field(
        default=None, description="Tax included; never more than what can still be credited."
    )
    lines: list[CreditNoteLineInput] | None = strawberry.field(
        default=None, description="By line: each line's part before tax, with its share of the line's tax."
    )
    reason: str = ""


@strawberry.type
class CreditNotePayload:
    credit_note: CreditNote | None
    user_errors: list[UserError]


@strawberry.input
class OneOffLineInput:
    description: str
    amount: Decimal = strawberry.field(description="Per unit when `units` is given.")
    units: Decimal | None = None


@strawberry.input
class CreateOneOffInvoiceInput:
    customer_external_id: str
    lines: list[OneOffLineInput]


@strawberry.input
class MarkInvoicePaidInput:
    invoice_id: strawberry.ID


@strawberry.type
class InvoiceResultPayload:
    invoice: Invoice | None
    user_errors: list[UserError]


@strawberry.type
class CreditMutations:
    @strawberry.mutation(description="Define a coupon (ADMIN).")
    async def create_coupon(self, info: Info[Context, None], input: CreateCouponInput) -> CouponPayload:
        spec = credits.CouponSpec(code=input.code, name=input.name, kind=input.kind.value, amount=input.amount,
                                  percentage=input.percentage, currency=input.currency,
                                  duration=input.duration.value, duration_periods=input.duration_periods)
        row, errors = await run_use_case(info, Role.ADMIN, lambda uow, a: credits.create_coupon(uow, a, spec))
        return CouponPayload(coupon=Coupon.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Give a customer a coupon (FINANCE).")
    async def apply_coupon(self, info: Info[Context, None], input: ApplyCouponInput) -> CouponPayload:
        row, errors = await run_use_case(info, Role.FINANCE, lambda uow, a: credits.apply_coupon(
            uow, a, input.customer_external_id, input.coupon_code))
        return CouponPayload(coupon=Coupon.of(row.coupon) if row else None, user_errors=errors)

    @strawberry.mutation(description="Open a prepaid-credits wallet for a customer (FINANCE).")
    async def create_wallet(self, info: Info[Context, None], input: CustomerInput) -> WalletPayload:
        row, errors = await run_use_case(info, Role.FINANCE, lambda uow, a: credits.create_wallet(
            uow, a, input.customer_external_id))
        return WalletPayload(wallet=Wallet.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Add prepaid credits: granted at once, paid once their invoice is paid "
                                     "(FINANCE).")
    async def top_up_wallet(self, info: Info[Context, None], input: TopUpWalletInput) -> WalletPayload:
        row, errors = await run_use_case(info, Role.FINANCE, lambda uow, a: credits.top_up_wallet(
            uow, a, input.customer_external_id, paid=input.paid_credits, granted=input.granted_credits))
        return WalletPayload(wallet=Wallet.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Credit or refund an open or paid invoice (FINANCE).")
    async def create_credit_note(self, info: Info[Context, None], input: CreateCreditNoteInput) -> CreditNotePayload:
        row, errors = await run_use_case(info, Role.FINANCE, lambda uow, a: credits.create_credit_note(
            uow, a, _id(input.invoice_id), input.kind.value, input.amount, input.reason, _lines(input.lines)))
        return CreditNotePayload(credit_note=CreditNote.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Invoice add-ons or services outside subscriptions (FINANCE).")
    async def create_one_off_invoice(self, info: Info[Context, None],
                                     input: CreateOneOffInvoiceInput) -> InvoiceResultPayload:
        lines = [credits.OneOffLine(line.description, line.amount, line.units) for line in input.lines]
        row, errors = await run_use_case(info, Role.FINANCE, lambda uow, a: credits.create_one_off_invoice(
            uow, a, input.customer_external_id, lines))
        return InvoiceResultPayload(invoice=Invoice.of(row) if row else None, user_errors=errors)

    @strawberry.mutation(description="Record a payment received by wire or cheque: the invoice is paid (FINANCE).")
    async def mark_invoice_paid(self, info: Info[Context, None], input: MarkInvoicePaidInput) -> InvoiceResultPayload:
        row, errors = await run_use_case(info, Role.FINANCE, lambda uow, a: credits.mark_invoice_paid(
            uow, a, _id(input.invoice_id)))
        return InvoiceResultPayload(invoice=Invoice.of(row) if row else None, user_errors=errors)
