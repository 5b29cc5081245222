"""Invoices, their numbering, and tax rates of one organization."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import any_, bindparam, cast, delete, func, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import ARRAY, insert

from db import driver_sql
from db.driver_sql import Plain
from db.models import Customer, Invoice, InvoiceLine, InvoiceNumberSequence, TaxRate, TaxRateAssignment
from db.repositories.base import ScopedRepository
from db.repositories.pagination import Page, paginate, paginate_on
from domain.numbering import InvoiceKind, InvoiceStatus


class InvoiceRepository(ScopedRepository[Invoice]):
    model = Invoice

    def stage(self, invoice: Invoice) -> Invoice:
        """Add without writing yet: many invoices then go out in one flush."""
        invoice.organization_id = self.organization_id
        for line in invoice.lines:
            line.organization_id = self.organization_id
        self.session.add(invoice)
        return invoice

    async def by_billing_key(self, customer_id: uuid.UUID, billing_key: str) -> Invoice | None:
        """The invoice of a customer's billing key (e.g. a billing date), locked."""
        return await self.session.scalar(
            select(Invoice)
            .where(
                Invoice.organization_id == self.organization_id,
                Invoice.customer_id == customer_id,
                Invoice.billing_key == billing_key,
            )
            .with_for_update(of=Invoice)
        )

    async def drafts_created_before(self, cutoff: datetime, test_clock_id: uuid.UUID | None = None) -> list[Invoice]:
        """Draft period invoices made by `cutoff` of the customers on real time, or of those on the test clock
        `test_clock_id` (whose time is the clock's)."""
        clock = Customer.test_clock_id.is_(None) if test_clock_id is None else Customer.test_clock_id == test_clock_id
        customers = select(Customer.id).where(Customer.organization_id == self.organization_id, clock)
        return list(
            await self.session.scalars(
                select(Invoice)
                .where(
                    Invoice.organization_id == self.organization_id,
                    Invoice.status == InvoiceStatus.DRAFT.value,
                    Invoice.kind == InvoiceKind.SUBSCRIPTION.value,
                    Invoice.created_at <= cutoff,
                    Invoice.customer_id.in_(customers),
                )
                .order_by(Invoice.created_at)
            )
        )

    async def progressive_billed(self, key_prefix: str) -> int:
        """Minor units billed before tax by the live interim invoices whose billing key starts so."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Invoice.subtotal_minor - Invoice.discount_minor), 0)).where(
                Invoice.organization_id == self.organization_id,
                Invoice.kind == InvoiceKind.PROGRESSIVE.value,
                Invoice.status != InvoiceStatus.VOID.value,
                Invoice.billing_key.startswith(key_prefix, autoescape=True),
            )
        )
        return int(total or 0)

    async def has_billing_key(self, customer_id: uuid.UUID, billing_key: str) -> bool:
        return (customer_id, billing_key) in await self.billing_keys([customer_id], [billing_key])

    async def billing_keys(
        self, customer_ids: Iterable[uuid.UUID], billing_keys: Iterable[str]
    ) -> set[tuple[uuid.UUID, str]]:
        """Which of these customers' billing keys already have an invoice: (customer id, key)."""
        keys = list(set(billing_keys))
        if not keys:
            return set()
        rows = await self.session.execute(
            select(Invoice.customer_id, Invoice.billing_key).where(
                Invoice.organization_id == self.organization_id,
                Invoice.customer_id.in_(list(customer_ids)),
                Invoice.billing_key.in_(keys),
            )
        )
        return {(customer_id, key) for customer_id, key in rows}

    async def next_numbers(self, count: int) -> range:
        """The next `count` numbers of the organization's gapless sequence. The row stays locked until
        commit, so concurrent finalizations queue and a rolled-back one gives its numbers back."""
        stmt = insert(InvoiceNumberSequence).values(organization_id=self.organization_id, last_number=count)
        last = await self.session.scalar(
            stmt.on_conflict_do_update(
                index_elements=[InvoiceNumberSequence.organization_id],
                set_={"last_number": InvoiceNumberSequence.last_number + count},
            ).returning(InvoiceNumberSequence.last_number)
        )
        return range(last - count + 1, last + 1)


# Migration 0024: one row per organization, plus about one per transaction in flight that inserted or deleted some.
_KEPT_COUNT = text("SELECT coalesce(sum(n), 0) FROM invoice_counts WHERE organization_id = :org")


async def invoice_page(
    conn: Any,
    organization_id: uuid.UUID,
    *,
    first: int | None,
    after: str | None,
    customer_external_id: str | None = None,
    status: str | None = None,
    payment_status: str | None = None,
    with_total: bool = True,
    issued_only: bool = False,
    with_lines: bool = True,
    with_customer: bool = True,
) -> Page[Any]:
    """A page of the organization's invoices, newest first (keyset cursors over created_at and id), on an asyncpg
    connection (`Database.driver_read`), without ORM objects: each item is a plain object with the attributes of an
    Invoice row (less the JSONB columns no list shows: touching one raises AttributeError), `customer` (the
    attributes of a Customer row, if `with_customer`) and `lines` (InvoiceLine rows' attributes, by position, if
    `with_lines`). `issued_only`: drafts left out (a customer's view). Two statements (three with a filtered
    count), each compiled once per shape."""
    invoices, customers = Invoice.__table__, Customer.__table__
    join = customer_external_id is not None or with_customer

    def matching(columns: Any) -> Any:
        stmt = select(*columns).where(invoices.c.organization_id == bindparam("org"))
        if join:
            stmt = stmt.select_from(invoices.join(customers, customers.c.id == invoices.c.customer_id))
        if issued_only:  # what a customer may see: drafts are still the organization's to change
            stmt = stmt.where(invoices.c.status != bindparam("draft"))
        if customer_external_id is not None:  # the customer found by ix_customers_external_id, deleted ones too
            stmt = stmt.where(customers.c.organization_id == bindparam("org"),
                              customers.c.external_id == bindparam("customer"))
        if status is not None:
            stmt = stmt.where(invoices.c.status == bindparam("status"))
        if payment_status is not None:
            stmt = stmt.where(invoices.c.payment_status == bindparam("payment_status"))
        return stmt

    def listed() -> Any:
        stmt = matching(_LISTED_COLUMNS)
        if with_customer:
            stmt = stmt.add_columns(*(column.label(f"customer__{column.key}") for column in customers.c))
        return stmt

    def counted() -> Any:
        if unfiltered:
            return _KEPT_COUNT.bindparams(bindparam("org", type_=invoices.c.organization_id.type))
        return select(func.count()).select_from(matching([invoices.c.id]).subquery())

    unfiltered = customer_external_id is None and status is None and payment_status is None and not issued_only
    shape = ("invoices", customer_external_id is not None, status is not None, payment_status is not None,
             issued_only, with_customer)
    values = {"org": organization_id, "draft": InvoiceStatus.DRAFT.value, "customer": customer_external_id,
              "status": status, "payment_status": payment_status}
    page = await paginate_on(conn, shape, listed, (invoices.c.created_at, invoices.c.id), values, first=first,
                             after=after, descending=True, total=counted if with_total else None)
    items = []
    for cursor, row in page.items:
        item = Plain({key: row[key] for key in _LISTED_KEYS})
        if with_customer:
            item.customer = Plain({attr: row[f"customer__{key}"] for key, attr in _CUSTOMER_ATTRS})
        items.append((cursor, item))
    if with_lines and items:
        by_invoice: dict[uuid.UUID, list[Any]] = {item.id: [] for _, item in items}
        for line in await driver_sql.fetch(conn, "invoice lines", _lines_of_invoices, ids=list(by_invoice)):
            by_invoice[line["invoice_id"]].append(Plain(dict(line)))
        for _, item in items:
            item.lines = by_invoice[item.id]
    return Page(items, page.has_next_page, page.has_previous_page, page.total_count)


def _lines_of_invoices() -> Any:
    lines = InvoiceLine.__table__
    ids = cast(bindparam("ids"), ARRAY(lines.c.invoice_id.type))  # a list of ids, as asyncpg sends it (uuid[])
    return select(lines).where(lines.c.invoice_id == any_(ids)).order_by(lines.c.position)

# What an invoice list never shows (the PDF, voiding and refreshing a draft read them from the invoice itself).
_UNLISTED = (Invoice.seller, Invoice.buyer, Invoice.deductions, Invoice.billed_from)
_LISTED_COLUMNS = [c for c in Invoice.__table__.c if c.key not in {column.key for column in _UNLISTED}]
_LISTED_KEYS = [c.key for c in _LISTED_COLUMNS]  # Invoice's attributes are named as its columns
_CUSTOMER_ATTRS = [(prop.columns[0].key, prop.key) for prop in sa_inspect(Customer).column_attrs]  # metadata_


@dataclass
class TaxAssignments:
    """Tax rates by what they are attached to; `organization` holds the default ones."""

    organization: list[TaxRate] = field(default_factory=list)
    by_target: dict[tuple[str, uuid.UUID], list[TaxRate]] = field(default_factory=lambda: defaultdict(list))

    def of(self, target_type: str, target_id: Any) -> list[TaxRate]:
        return self.by_target.get((target_type, target_id), [])


class TaxRateRepository(ScopedRepository[TaxRate]):
    model = TaxRate

    def _live(self):
        return select(TaxRate).where(TaxRate.organization_id == self.organization_id, TaxRate.archived_at.is_(None))

    async def by_code(self, code: str) -> TaxRate | None:
        return await self.session.scalar(self._live().where(TaxRate.code == code))

    async def list(self, *, first: int | None, after: str | None) -> Page[TaxRate]:
        return await paginate(self.session, self._live(), (TaxRate.created_at, TaxRate.id), first=first, after=after)

    async def assign(self, rate: TaxRate, target_type: str, target_id: uuid.UUID) -> None:
        await self.session.execute(
            insert(TaxRateAssignment)
            .values(
                id=uuid.uuid4(),
                organization_id=self.organization_id,
                tax_rate_id=rate.id,
                target_type=target_type,
                target_id=target_id,
            )
            .on_conflict_do_nothing()
        )

    async def unassign(self, rate: TaxRate, target_type: str, target_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(TaxRateAssignment).where(
                TaxRateAssignment.organization_id == self.organization_id,
                TaxRateAssignment.tax_rate_id == rate.id,
                TaxRateAssignment.target_type == target_type,
                TaxRateAssignment.target_id == target_id,
            )
        )

    async def unassign_all(self, target_type: str, target_ids: Iterable[uuid.UUID]) -> None:
        """Every tax rate's assignment to these targets (they no longer exist)."""
        await self.session.execute(
            delete(TaxRateAssignment).where(
                TaxRateAssignment.organization_id == self.organization_id,
                TaxRateAssignment.target_type == target_type,
                TaxRateAssignment.target_id.in_(list(target_ids)),
            )
        )

    async def assignments(self) -> TaxAssignments:
        result = TaxAssignments(
            organization=list(await self.session.scalars(self._live().where(TaxRate.applies_to_organization.is_(True))))
        )
        rows = await self.session.scalars(
            select(TaxRateAssignment).where(TaxRateAssignment.organization_id == self.organization_id)
        )
        for row in rows:
            if row.tax_rate.archived_at is None:
                result.by_target[(row.target_type, row.target_id)].append(row.tax_rate)
        return result
