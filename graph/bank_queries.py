"""Imported bank statement lines (VIEWER or stronger)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graph.context import Context
from graph.pagination import Connection, connection, fetch_page, selects_total
from graph.permissions import current_actor
from graph.types.bank import BankTransaction, TransactionStatus
from services import bank_statements


@strawberry.type
class BankQueries:
    @strawberry.field(description="Imported bank statement lines, newest first; status UNMATCHED: left to review.")
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

    @strawberry.field(description="Bank statement lines not matched to an invoice, newest first: left to review.")
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
