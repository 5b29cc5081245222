"""Imported bank statement lines, and the invoices their references name."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from db.models import BankTransaction, Customer, Invoice
from db.repositories.base import ScopedRepository, contains_pattern
from db.repositories.pagination import Page, paginate


class BankTransactionRepository(ScopedRepository[BankTransaction]):
    model = BankTransaction

    async def claim(self, values: dict[str, Any]) -> uuid.UUID | None:
        """The new line's id, or None when this entry (its fingerprint) was imported before. A concurrent import of
        the same entry waits on the unique index until the first commits, then gets None."""
        row = await self.session.execute(
            insert(BankTransaction)
            .values(id=uuid.uuid4(), organization_id=self.organization_id, **values)
            .on_conflict_do_nothing(index_elements=["organization_id", "fingerprint"])
            .returning(BankTransaction.id)
        )
        return row.scalar()

    async def known(self, fingerprints: Collection[str]) -> set[str]:
        if not fingerprints:
            return set()
        found = await self.session.scalars(
            select(BankTransaction.fingerprint).where(
                BankTransaction.organization_id == self.organization_id,
                BankTransaction.fingerprint.in_(list(fingerprints)),
            )
        )
        return set(found)

    async def existing(self, transaction_id: uuid.UUID) -> BankTransaction:
        """A line this import just stored (read back with what the import set on it)."""
        row = await self.session.get(BankTransaction, transaction_id, populate_existing=True)
        if row is None or row.organization_id != self.organization_id:
            raise LookupError(f"bank transaction {transaction_id} is not this organization's")
        return row

    async def invoices_named(self, tokens: Collection[str]) -> Sequence[Invoice]:
        """Finalized invoices whose payment reference or number is one of `tokens` (upper case, as stored)."""
        if not tokens:
            return []
        wanted = list(tokens)
        rows = await self.session.scalars(
            select(Invoice)
            .where(
                Invoice.organization_id == self.organization_id,
                or_(Invoice.payment_reference.in_(wanted), Invoice.number.in_(wanted)),
            )
            .order_by(Invoice.id)
            .with_for_update(of=Invoice)  # what the statement pays stays payable until the import commits
        )
        return rows.all()

    async def invoices_to_match(
        self,
        *,
        statuses: Collection[str],
        currency: str,
        amount_minor: int,
        search: str | None,
        first: int,
    ) -> Sequence[Invoice]:
        """Invoices in these statuses and this currency with something left to pay, those still owing exactly
        `amount_minor` first, then the newest; `search`: part of the number, payment reference, customer's name or
        external id (case does not matter)."""
        outstanding = Invoice.amount_due_minor - Invoice.paid_minor
        stmt = (
            select(Invoice)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(
                Invoice.organization_id == self.organization_id,
                Invoice.status.in_(list(statuses)),
                Invoice.currency == currency,
                outstanding > 0,
            )
        )
        if search:
            pattern = contains_pattern(search)
            stmt = stmt.where(
                or_(
                    Invoice.number.ilike(pattern),
                    Invoice.payment_reference.ilike(pattern),
                    Customer.name.ilike(pattern),
                    Customer.external_id.ilike(pattern),
                )
            )
        rows = await self.session.scalars(
            stmt.order_by(
                case((outstanding == amount_minor, 0), else_=1),
                func.abs(outstanding - amount_minor),
                Invoice.created_at.desc(),
                Invoice.id,
            ).limit(first)
        )
        return rows.all()

    async def list(
        self, *, status: str | None, first: int | None, after: str | None, with_total: bool = True
    ) -> Page[BankTransaction]:
        stmt = select(BankTransaction).where(BankTransaction.organization_id == self.organization_id)
        if status is not None:
            stmt = stmt.where(BankTransaction.status == status)
        return await paginate(
            self.session,
            stmt,
            (BankTransaction.created_at, BankTransaction.id),
            first=first,
            after=after,
            descending=True,
            with_total=with_total,
        )
