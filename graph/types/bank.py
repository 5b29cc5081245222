"""Imported bank statement lines."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry

from db.models import BankTransaction as BankTransactionModel
from graph.types.invoice import Invoice
from graph.types.payments import Payment
from services import bank_statements

StatementFormat = strawberry.enum(bank_statements.StatementFormat, name="BankStatementFormat")
UnmatchedReason = strawberry.enum(bank_statements.UnmatchedReason, name="BankTransactionUnmatchedReason")
TransactionStatus = strawberry.enum(bank_statements.TransactionStatus, name="BankTransactionStatus")


@strawberry.type(
    description="A line of an imported bank statement: matched to an invoice's payment, kept for review, or ignored."
)
class BankTransaction:
    id: strawberry.ID
    status: TransactionStatus
    reason: UnmatchedReason | None = strawberry.field(
        description="Why it was not matched (UNMATCHED, and IGNORED: kept when it was ignored)."
    )
    amount: Decimal = strawberry.field(description="Positive, in `currency`; `direction` says money in or out.")
    currency: str
    direction: str = strawberry.field(description="CREDIT (money received) or DEBIT (paid out).")
    reference: str | None = strawberry.field(description="The reference that matched, else the most specific given.")
    references: list[str] = strawberry.field(description="Every reference of the line, most specific first.")
    remittance: str | None = strawberry.field(description="The payer's free text (Ustrd).")
    counterparty: str | None
    booked_at: date = strawberry.field(description="The booking date on the statement.")
    invoice_id: strawberry.ID | None = strawberry.field(description="The invoice it names, if any (also unmatched).")
    payment_id: strawberry.ID | None
    statement_format: StatementFormat
    account: str | None = strawberry.field(description="The statement's account (IBAN), when the file names it.")
    created_at: datetime = strawberry.field(description="When it was imported.")
    ignored_at: datetime | None = strawberry.field(
        default=None, description="When it was ignored (IGNORED only: cleared when it is restored)."
    )
    ignored_by: str | None = strawberry.field(default=None, description="Who ignored it: the user's or API key's name.")
    ignore_note: str | None = strawberry.field(default=None, description="Why it was ignored, as written then.")

    @classmethod
    def of(cls, row: BankTransactionModel) -> BankTransaction:
        return cls(
            id=strawberry.ID(str(row.id)),
            status=TransactionStatus(row.status),
            reason=UnmatchedReason(row.reason) if row.reason else None,
            amount=bank_statements.amount_of(row),
            currency=row.currency,
            direction=row.direction,
            reference=row.reference,
            references=list(row.references or []),
            remittance=row.remittance,
            counterparty=row.counterparty,
            booked_at=row.booked_on,
            invoice_id=strawberry.ID(str(row.invoice_id)) if row.invoice_id else None,
            payment_id=strawberry.ID(str(row.payment_id)) if row.payment_id else None,
            statement_format=StatementFormat(row.statement_format),
            account=row.account,
            created_at=row.created_at,
            ignored_at=row.ignored_at,
            ignored_by=row.ignored_by,
            ignore_note=row.ignore_note,
        )


@strawberry.type(description="A statement line recorded as a payment of an invoice.")
class BankStatementMatch:
    invoice: Invoice
    payment: Payment
    amount: Decimal
    reference: str | None
    transaction: BankTransaction

    @classmethod
    def of(cls, match: bank_statements.Matched) -> BankStatementMatch:
        return cls(
            invoice=Invoice.of(match.invoice),
            payment=Payment.of(match.payment),
            amount=bank_statements.amount_of(match.transaction),
            reference=match.transaction.reference,
            transaction=BankTransaction.of(match.transaction),
        )
