"""Imported bank statement lines (VIEWER or stronger)."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.errors import PublicError
from graph.pagination import Connection, connection, fetch_page, selects_total
from graph.permissions import current_actor
from graph.types.bank import BankTransaction, TransactionStatus
from graph.types.invoice import Invoice
from services import bank_statements
from services.errors import NotFound

INVOICES_TO_MATCH = 10  # a short list to pick from: `search` narrows it
MAX_INVOICES_TO_MATCH = 50


@strawberry.type
class BankQueries:
    @strawberry.field(
        description="Imported bank statement lines, newest first; status UNMATCHED: left to review, IGNORED: "
        "dismissed by staff (restoreBankTransaction puts one back)."
    )
    async def bank_transactions(
        self,
        info: Info[Context, None],
        status: TransactionStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[BankTransaction]:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            page = await fetch_page(
                lambda: bank_statements.list_transactions(
                    session,
                    actor,
                    status=bank_statements.TransactionStatus(status) if status else None,
                    first=first,
                    after=after,
                    with_total=selects_total(info),
                )
            )
            return connection(page, BankTransaction.of)

    @strawberry.field(
        description="Bank statement lines not matched to an invoice, newest first: left to review (IGNORED "
        "lines are not: bankTransactions(status: IGNORED))."
    )
    async def unmatched_bank_transactions(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[BankTransaction]:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            page = await fetch_page(
                lambda: bank_statements.list_transactions(
                    session,
                    actor,
                    status=bank_statements.TransactionStatus.UNMATCHED,
                    first=first,
                    after=after,
                    with_total=selects_total(info),
                )
            )
            return connection(page, BankTransaction.of)

    @strawberry.field(
        description="Invoices an UNMATCHED line could pay, to match it by hand (matchBankTransaction): open or "
        "uncollectible, in its currency, with something left to pay; those owing exactly its amount first, then the "
        "newest (at most 50). `search`: part of the invoice number, payment reference, customer name or externalId. "
        "Empty for a line that is matched already or is no payment received."
    )
    async def invoices_to_match_bank_transaction(
        self,
        info: Info[Context, None],
        transaction_id: strawberry.ID,
        search: str | None = None,
        first: int | None = INVOICES_TO_MATCH,
    ) -> list[Invoice]:
        actor = current_actor(info)
        try:
            transaction = uuid.UUID(str(transaction_id))
        except ValueError:
            raise PublicError("transactionId is not a valid id", "INVALID_ID") from None
        async with info.context.db.read() as session:
            try:
                rows = await bank_statements.invoices_to_match(
                    session,
                    actor,
                    transaction_id=transaction,
                    search=search,
                    first=max(0, min(MAX_INVOICES_TO_MATCH, INVOICES_TO_MATCH if first is None else first)),
                )
            except NotFound as missing:
                raise PublicError(missing.message, missing.code) from None
            return [Invoice.of(row) for row in rows]
