"""Bank statements: imported, their credit lines matched to invoices as payments, lines ignored and restored
(FINANCE)."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from db.models import BankTransaction as BankTransactionModel
from db.models import Role
from db.session import UnitOfWork
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_use_case
from graph.types.bank import BankStatementMatch, BankTransaction, StatementFormat
from graph.types.invoice import Invoice
from graph.types.payments import Payment
from services import bank_statements
from services.actors import Actor
from services.errors import CommonCode, Invalid


@strawberry.input
class ImportBankStatementInput:
    format: StatementFormat = strawberry.field(description="CAMT053 (ISO 20022 camt.053 XML) or CSV.")
    content: str = strawberry.field(description="The file's text (the request body is limited to 2 MiB).")


@strawberry.type
class BankStatementImportPayload:
    matched: list[BankStatementMatch] = strawberry.field(description="Lines recorded as payments of invoices.")
    unmatched: list[BankTransaction] = strawberry.field(description="Lines kept for review, with the reason.")
    already_imported: int = strawberry.field(
        default=0, description="Lines of an earlier import: nothing recorded again."
    )
    account: str | None = strawberry.field(description="The statement's account (IBAN), when the file names it.")
    user_errors: list[UserError]


@strawberry.input
class MatchBankTransactionInput:
    id: strawberry.ID = strawberry.field(description="An UNMATCHED bank statement line (a credit received).")
    invoice_id: strawberry.ID = strawberry.field(
        description="The invoice it pays: open (or uncollectible), in the line's currency."
    )


@strawberry.type
class MatchBankTransactionPayload:
    transaction: BankTransaction | None = strawberry.field(description="The line, now MATCHED to the invoice.")
    invoice: Invoice | None = strawberry.field(description="The invoice as the payment left it (PAID or partly paid).")
    payment: Payment | None
    user_errors: list[UserError]


@strawberry.input
class IgnoreBankTransactionInput:
    id: strawberry.ID = strawberry.field(description="An UNMATCHED bank statement line.")
    note: str | None = strawberry.field(
        default=None, description="Why it is ignored (at most 500 characters), shown with it."
    )


@strawberry.type
class IgnoreBankTransactionPayload:
    transaction: BankTransaction | None = strawberry.field(description="The line, now IGNORED.")
    user_errors: list[UserError]


@strawberry.input
class RestoreBankTransactionInput:
    id: strawberry.ID = strawberry.field(description="An IGNORED bank statement line.")


@strawberry.type
class RestoreBankTransactionPayload:
    transaction: BankTransaction | None = strawberry.field(description="The line, UNMATCHED again.")
    user_errors: list[UserError]


def _id(value: strawberry.ID, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Invalid("not a valid id", field=(field,), code=CommonCode.INVALID_ID) from None


@strawberry.type
class BankStatementMutations:
    @strawberry.mutation(
        description="Import a bank statement: credit lines that name an open invoice become its payments (FINANCE)."
    )
    async def import_bank_statement(
        self, info: Info[Context, None], input: ImportBankStatementInput
    ) -> BankStatementImportPayload:
        result, errors = await run_use_case(
            info,
            Role.FINANCE,
            lambda uow, actor: bank_statements.import_statement(
                uow, actor, statement_format=bank_statements.StatementFormat(input.format), content=input.content
            ),
        )
        if result is None:
            return BankStatementImportPayload(
                matched=[], unmatched=[], already_imported=0, account=None, user_errors=errors
            )
        return BankStatementImportPayload(
            matched=[BankStatementMatch.of(m) for m in result.matched],
            unmatched=[BankTransaction.of(row) for row in result.unmatched],
            already_imported=result.already_imported,
            account=result.account,
            user_errors=[],
        )

    @strawberry.mutation(
        description="Record an UNMATCHED bank statement line as a payment of an open invoice chosen by hand, as an "
        "import records a line that names it: partly or fully paid, an overpayment's excess as wallet credit (FINANCE)."
    )
    async def match_bank_transaction(
        self, info: Info[Context, None], input: MatchBankTransactionInput
    ) -> MatchBankTransactionPayload:
        async def use_case(uow: UnitOfWork, actor: Actor) -> bank_statements.Matched:
            return await bank_statements.match_transaction(
                uow, actor, transaction_id=_id(input.id, "id"), invoice_id=_id(input.invoice_id, "invoiceId")
            )

        match, errors = await run_use_case(info, Role.FINANCE, use_case)
        if match is None:
            return MatchBankTransactionPayload(transaction=None, invoice=None, payment=None, user_errors=errors)
        return MatchBankTransactionPayload(
            transaction=BankTransaction.of(match.transaction),
            invoice=Invoice.of(match.invoice),
            payment=Payment.of(match.payment),
            user_errors=[],
        )

    @strawberry.mutation(
        description="Dismiss an UNMATCHED bank statement line that will never be matched: IGNORED, its reason kept, "
        "with who ignored it, when and the note; no longer in unmatchedBankTransactions (FINANCE)."
    )
    async def ignore_bank_transaction(
        self, info: Info[Context, None], input: IgnoreBankTransactionInput
    ) -> IgnoreBankTransactionPayload:
        async def use_case(uow: UnitOfWork, actor: Actor) -> BankTransactionModel:
            return await bank_statements.ignore_transaction(
                uow, actor, transaction_id=_id(input.id, "id"), note=input.note
            )

        row, errors = await run_use_case(info, Role.FINANCE, use_case)
        return IgnoreBankTransactionPayload(
            transaction=BankTransaction.of(row) if row is not None else None, user_errors=errors
        )

    @strawberry.mutation(
        description="Restore an IGNORED bank statement line: UNMATCHED again, left to review (FINANCE)."
    )
    async def restore_bank_transaction(
        self, info: Info[Context, None], input: RestoreBankTransactionInput
    ) -> RestoreBankTransactionPayload:
        async def use_case(uow: UnitOfWork, actor: Actor) -> BankTransactionModel:
            return await bank_statements.restore_transaction(uow, actor, transaction_id=_id(input.id, "id"))

        row, errors = await run_use_case(info, Role.FINANCE, use_case)
        return RestoreBankTransactionPayload(
            transaction=BankTransaction.of(row) if row is not None else None, user_errors=errors
        )
