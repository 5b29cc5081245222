"""Bank statements: imported, their credit lines matched to invoices as payments (FINANCE)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_use_case
from graph.types.bank import BankStatementMatch, BankTransaction, StatementFormat
from services import bank_statements


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
