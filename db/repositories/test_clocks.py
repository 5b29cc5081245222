"""Test clocks of one organization, their customers, and what falls due for them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text

from db.models import Customer, Invoice, TestClock
from db.repositories.base import ScopedRepository
from db.repositories.pagination import Page, paginate
from domain.numbering import InvoiceKind, InvoiceStatus


class TestClockRepository(ScopedRepository[TestClock]):
    model = TestClock

    async def list(self, *, first: int | None, after: str | None) -> Page[TestClock]:
        return await paginate(
            self.session, self._scoped(), (TestClock.created_at, TestClock.id), first=first, after=after
        )

    async def frozen_time(self, clock_id: uuid.UUID) -> datetime | None:
        return await self.session.scalar(
            select(TestClock.frozen_time).where(
                TestClock.organization_id == self.organization_id, TestClock.id == clock_id
            )
        )

    async def customer_ids(self, clock_id: uuid.UUID) -> list[uuid.UUID]:
        """The clock's customers, oldest first (deleted ones included: their invoices still fall due)."""
        rows = await self.session.scalars(
            select(Customer.id)
            .where(Customer.organization_id == self.organization_id, Customer.test_clock_id == clock_id)
            .order_by(Customer.created_at, Customer.id)
        )
        return list(rows)

    async def clock_times(self, external_ids: set[str]) -> dict[str, datetime]:
        """customer external id -> its clock's time, for those of `external_ids` that live on a test clock."""
        if not external_ids:
            return {}
        rows = await self.session.execute(
            select(Customer.external_id, TestClock.frozen_time)
            .join(TestClock, TestClock.id == Customer.test_clock_id)
            .where(
                TestClock.organization_id == self.organization_id,
                Customer.organization_id == self.organization_id,
                Customer.deleted_at.is_(None),
                Customer.external_id.in_(external_ids),
            )
        )
        return {external_id: at for external_id, at in rows}

    async def earliest_draft(self, customer_ids: list[uuid.UUID]) -> datetime | None:
        """When the oldest draft period invoice of these customers was made."""
        return await self.session.scalar(
            select(func.min(Invoice.created_at)).where(
                Invoice.organization_id == self.organization_id,
                Invoice.customer_id.in_(customer_ids),
                Invoice.status == InvoiceStatus.DRAFT.value,
                Invoice.kind == InvoiceKind.SUBSCRIPTION.value,
            )
        )

    async def first_event_after(
        self, customer_ids: list[uuid.UUID], after: datetime, until: datetime
    ) -> datetime | None:
        """The time of these customers' first usage event in (after, until]."""
        return await self.session.scalar(
            text(
                "SELECT min(e.timestamp) FROM usage_events e JOIN customers c"
                " ON c.organization_id = e.organization_id AND c.external_id = e.customer_external_id"
                " WHERE e.organization_id = :org AND c.id = ANY(:ids) AND e.timestamp > :after"
                " AND e.timestamp <= :until"
            ),
            {"org": self.organization_id, "ids": customer_ids, "after": after, "until": until},
        )

    async def next_webhook_attempt(self, clock_id: uuid.UUID, after: datetime, until: datetime) -> datetime | None:
        """When the clock's next outbound webhook attempt is due, in (after, until]."""
        return await self.session.scalar(
            text(
                "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE organization_id = :org"
                " AND test_clock_id = :clock AND status = 'PENDING' AND next_attempt_at > :after"
                " AND next_attempt_at <= :until"
            ),
            {"org": self.organization_id, "clock": clock_id, "after": after, "until": until},
        )

    async def delete_customers_data(self, clock_id: uuid.UUID) -> int:
        """Every row of the clock's customers (invoices, credits, subscriptions, usage), then the customers."""
        params = {"org": self.organization_id, "clock": clock_id}
        customers = "SELECT id FROM customers WHERE organization_id = :org AND test_clock_id = :clock"
        names = "SELECT external_id FROM customers WHERE organization_id = :org AND test_clock_id = :clock"
        invoices = f"SELECT id FROM invoices WHERE organization_id = :org AND customer_id IN ({customers})"
        wallets = f"SELECT id FROM wallets WHERE customer_id IN ({customers})"
        statements = [
            f"DELETE FROM credit_note_items WHERE credit_note_id IN (SELECT id FROM credit_notes"
            f" WHERE customer_id IN ({customers}))",
            f"DELETE FROM credit_notes WHERE customer_id IN ({customers})",
            f"DELETE FROM wallet_transactions WHERE wallet_id IN ({wallets}) OR invoice_id IN ({invoices})",
            f"DELETE FROM wallets WHERE customer_id IN ({customers})",
            f"DELETE FROM applied_coupons WHERE customer_id IN ({customers})",
            f"DELETE FROM invoices WHERE organization_id = :org AND customer_id IN ({customers})",
            f"DELETE FROM subscriptions WHERE organization_id = :org AND customer_id IN ({customers})",
            f"DELETE FROM usage_event_keys k USING usage_events e WHERE k.organization_id = :org"
            f" AND e.organization_id = :org AND e.transaction_id = k.transaction_id"
            f" AND e.customer_external_id IN ({names})",
            f"DELETE FROM usage_events WHERE organization_id = :org AND customer_external_id IN ({names})",
            f"DELETE FROM usage_rollups WHERE organization_id = :org AND customer_external_id IN ({names})",
            f"DELETE FROM usage_versions WHERE organization_id = :org AND customer_external_id IN ({names})",
            f"DELETE FROM usage_answers WHERE organization_id = :org AND customer_external_id IN ({names})",
        ]
        for statement in statements:
            await self.session.execute(text(statement), params)
        result = await self.session.execute(
            text("DELETE FROM customers WHERE organization_id = :org AND test_clock_id = :clock"), params
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
