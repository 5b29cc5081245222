"""Coupons, wallets and credit notes."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry
from strawberry.types import Info

from db.models import Coupon as CouponRow
from db.models import CreditNote as CreditNoteRow
from db.models import Wallet as WalletRow
from domain import money
from graph.context import Context
from graph.scalars import price


@strawberry.enum
class CouponKind(Enum):
    FIXED = "FIXED"
    PERCENTAGE = "PERCENTAGE"


@strawberry.enum
class CouponDuration(Enum):
    ONCE = "ONCE"
    REPEATING = "REPEATING"
    FOREVER = "FOREVER"


@strawberry.enum
class CreditNoteKind(Enum):
    CREDIT = "CREDIT"
    REFUND = "REFUND"


@strawberry.type
class Coupon:
    id: strawberry.ID
    code: str
    name: str
    kind: CouponKind
    amount: Decimal | None
    percentage: Decimal | None
    currency: str | None
    duration: CouponDuration
    duration_periods: int | None
    created_at: datetime

    @classmethod
    def of(cls, c: CouponRow) -> Coupon:
        return cls(
            id=strawberry.ID(str(c.id)),
            code=c.code,
            name=c.name,
            kind=CouponKind(c.kind),
            amount=price(c.amount),
            percentage=price(c.percentage),
            currency=c.currency,
            duration=CouponDuration(c.duration),
            duration_periods=c.duration_periods,
            created_at=c.created_at,
        )


@strawberry.type(description="Prepaid credits, applied to invoices after tax.")
class Wallet:
    id: strawberry.ID
    currency: str
    balance: Decimal

    @classmethod
    def of(cls, w: WalletRow) -> Wallet:
        return cls(
            id=strawberry.ID(str(w.id)),
            currency=w.currency,
            balance=money.from_minor_units(w.balance_minor, w.currency),
        )


@strawberry.type(description="What a credit note by line gives back of one invoice line.")
class CreditNoteItem:
    invoice_line_id: strawberry.ID
    description: str
    amount: Decimal = strawberry.field(description="Before tax.")
    tax_amount: Decimal


@strawberry.type
class CreditNote:
    id: strawberry.ID
    number: str
    kind: CreditNoteKind
    reason: str
    currency: str
    amount: Decimal
    remaining_credit: Decimal = strawberry.field(description="Left to deduct from the customer's next invoices.")
    created_at: datetime
    items: list[CreditNoteItem] = strawberry.field(description="By line: what each line gets back; [] by amount.")

    @strawberry.field(description="A link to the PDF, valid for an hour.")
    def pdf_url(self, info: Info[Context, None]) -> str:
        from services.documents import signed_pdf_path

        base = info.context.base_url
        return base + signed_pdf_path(
            uuid.UUID(str(self.id)),
            info.context.services.session_config.secret_key,
            now=info.context.clock.now().timestamp(),
            kind="credit-note",
        )

    @classmethod
    def of(cls, n: CreditNoteRow) -> CreditNote:
        return cls(
            id=strawberry.ID(str(n.id)),
            number=n.number,
            kind=CreditNoteKind(n.kind),
            reason=n.reason,
            currency=n.currency,
            amount=money.from_minor_units(n.amount_minor, n.currency),
            remaining_credit=money.from_minor_units(n.remaining_minor, n.currency),
            created_at=n.created_at,
            items=[
                CreditNoteItem(
                    invoice_line_id=strawberry.ID(str(i.invoice_line_id)),
                    description=i.description,
                    amount=money.from_minor_units(i.amount_minor, n.currency),
                    tax_amount=money.from_minor_units(i.tax_minor, n.currency),
                )
                for i in n.items
            ],
        )
