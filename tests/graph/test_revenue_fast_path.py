"""revenueMetrics' fast path (cash figures summed in SQL in minor units) equals the reference computation
(every invoice read as a `domain.analytics.InvoiceFact`, then `cash_points` and `valid_until`) on tenants built for
it: invoices of every status, partly paid, voided with and without a stored moment, made uncollectible, due before
or after finalization or never, with usage lines and interim deductions, refunds, other currencies and another
tenant's invoices beside them; ranges with buckets still to come; as of instants an invoice was finalized or
closed at; days, weeks and months in UTC and in a time zone with daylight saving time."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from db.models import CreditNote, Customer, Invoice, InvoiceLine, Organization
from db.repositories.analytics import AnalyticsRepository
from db.repositories.organizations import OrganizationRepository
from domain import analytics
from services import analytics as service
from tests.graph.catalog_helpers import customer, plan, subscribe

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
FIRST_DAY, LAST_DAY = date(2025, 5, 1), date(2026, 7, 31)  # the last buckets are still to come at AS_OF


def _moment(rng: random.Random) -> datetime:
    return AS_OF - timedelta(days=rng.uniform(-30, 420), seconds=rng.randint(0, 86_399))


async def _build(db, organization_id: uuid.UUID, customer_ids: list[uuid.UUID], rng: random.Random) -> list[datetime]:
    """Random finalized and draft invoices, lines and credit notes; returns instants invoices were finalized or
    closed at (to ask as of)."""
    instants = []
    async with db.unit_of_work() as uow:
        for n in range(70):
            status = rng.choice(["DRAFT", "OPEN", "OPEN", "PAID", "PAID", "VOID", "UNCOLLECTIBLE"])
            finalized_at = None if status == "DRAFT" else _moment(rng)
            total = rng.randint(0, 50_000)
            paid = {"PAID": total, "OPEN": rng.choice([0, 0, total // 3])}.get(status, rng.choice([0, total // 2]))
            paid_at = None
            if paid and finalized_at is not None:
                paid_at = rng.choice([None, finalized_at + timedelta(days=rng.uniform(0, 60))])
            due_at = None
            if finalized_at is not None and rng.random() < 0.8:
                due_at = finalized_at + timedelta(days=rng.uniform(-3, 45))
            voided_at = None
            if status == "VOID" and finalized_at is not None and rng.random() < 0.7:
                voided_at = finalized_at + timedelta(days=rng.uniform(0, 90))
            uncollectible_at = None  # none: marked before migration 0027
            if status == "UNCOLLECTIBLE" and finalized_at is not None and rng.random() < 0.7:
                uncollectible_at = finalized_at + timedelta(days=rng.uniform(0, 90))
            invoice = Invoice(
                id=uuid.uuid4(),
                organization_id=organization_id,
                customer_id=rng.choice(customer_ids),
                number=None if finalized_at is None else f"FP-{n:04d}",
                status=status,
                kind=rng.choice(["SUBSCRIPTION", "PROGRESSIVE", "ONE_OFF"]),
                currency=rng.choice(["USD", "USD", "USD", "EUR"]),
                period_start=AS_OF - timedelta(days=400),
                period_end=AS_OF,
                due_at=due_at,
                total_minor=total,
                amount_due_minor=max(0, total - rng.choice([0, 0, 500])),
                paid_minor=paid,
                progressive_credit_minor=rng.choice([0, 0, 0, 1_234]),
                finalized_at=finalized_at,
                paid_at=paid_at,
                voided_at=voided_at,
                uncollectible_at=uncollectible_at,
                seller={},
                buyer={},
            )
            uow.session.add(invoice)
            await uow.session.flush()
            for position in range(rng.randint(0, 3)):
                kind = rng.choice(["CHARGE", "CHARGE", "SUBSCRIPTION", "TRUE_UP"])
                uow.session.add(
                    InvoiceLine(
                        organization_id=organization_id,
                        invoice_id=invoice.id,
                        position=position,
                        kind=kind,
                        description=kind.lower(),
                        amount_minor=rng.randint(0, 9_000),
                    )
                )
            if finalized_at is not None and rng.random() < 0.25:
                uow.session.add(
                    CreditNote(
                        organization_id=organization_id,
                        invoice_id=invoice.id,
                        customer_id=invoice.customer_id,
                        number=f"FP-CN-{n:04d}",
                        kind=rng.choice(["REFUND", "REFUND", "CREDIT"]),
                        reason="test",
                        currency=invoice.currency,
                        amount_minor=rng.randint(1, max(1, total)),
                        created_at=finalized_at + timedelta(days=rng.uniform(0, 40)),
                    )
                )
            if finalized_at is not None and finalized_at < AS_OF:
                instants.append(finalized_at)
            for closed in (paid_at, voided_at, uncollectible_at):
                if closed is not None and closed < AS_OF:
                    instants.append(closed)
    return instants


async def _reference(db, organization_id: uuid.UUID, granularity, currency: str, as_of: datetime):
    """The figures computed from every invoice row, as before the fast path (and as `topCustomers` still reads)."""
    async with db.read() as session:
        organization = await OrganizationRepository(session).existing(organization_id)
        repo = AnalyticsRepository(session, organization_id)
        phases, coupons = await repo.fee_phases(currency), await repo.recurring_coupons()
        invoice_rows, refund_rows = await repo.finalized_invoices(currency), await repo.refunds(currency)
    customers = service.customer_histories(phases, coupons)
    invoices, payments = service.cash_facts(invoice_rows, refund_rows, currency)
    found = analytics.buckets(FIRST_DAY, LAST_DAY, granularity)
    windows = [analytics.bucket_window(bucket, organization.timezone, as_of) for bucket in found]
    cash = analytics.cash_points(invoices, payments, currency, windows)
    moved = analytics.movement_series(customers, currency, windows)
    until = analytics.valid_until(customers, invoices, found, organization.timezone, as_of)
    return cash, moved, until, organization.timezone


async def _fast(db, organization_id: uuid.UUID, granularity, currency: str, as_of: datetime, tz: str):
    service.forget_cached()
    points, _ = await service.revenue_answer(db, organization_id, FIRST_DAY, LAST_DAY, granularity, currency, as_of)
    entry = service._cache[(organization_id, currency, tz, FIRST_DAY, LAST_DAY, analytics.Granularity(granularity))]
    return points, entry.valid_until


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_fast_path_equals_the_reference_computation(tenant, other_tenant, operator_db, seed) -> None:
    rng = random.Random(seed)
    await plan(tenant.api, "fp-monthly", [], amount="100")
    names = [f"fp-{seed}-{n}" for n in range(3)]
    for name in names:
        await customer(tenant.api, name)
    await subscribe(tenant.api, names[0], "fp-monthly", f"s-{names[0]}", startedAt="2025-08-10T00:00:00+00:00")
    await customer(other_tenant.api, "fp-other")
    organization_id, other_id = uuid.UUID(tenant.organization_id), uuid.UUID(other_tenant.organization_id)
    async with operator_db.read() as session:
        ids = list(await session.scalars(select(Customer.id).where(Customer.organization_id == organization_id)))
        other_ids = list(await session.scalars(select(Customer.id).where(Customer.organization_id == other_id)))
    instants = await _build(operator_db, organization_id, ids, rng)
    await _build(operator_db, other_id, other_ids, random.Random(seed + 100))  # must not count

    for tz in ("UTC", "America/New_York"):
        async with operator_db.unit_of_work() as uow:
            moved_to = update(Organization).where(Organization.id == organization_id).values(timezone=tz)
            await uow.session.execute(moved_to)
        for as_of in (AS_OF, *rng.sample(instants, 3)):
            for granularity in analytics.Granularity:
                for currency in ("USD", "EUR"):
                    cash, moved, until, zone = await _reference(
                        operator_db, organization_id, granularity, currency, as_of
                    )
                    assert zone == tz
                    points, valid_until = await _fast(operator_db, organization_id, granularity, currency, as_of, tz)
                    assert [
                        (p.invoiced_amount, p.collected_amount, p.overdue_amount, p.usage_revenue) for p in points
                    ] == [(c.invoiced, c.collected, c.overdue, c.usage_revenue) for c in cash]
                    assert [(p.mrr, p.new_mrr, p.churned_mrr, p.active_customers) for p in points] == [
                        (m.end_mrr, m.new, m.churned, m.active_customers) for m in moved
                    ]
                    assert valid_until == until
    # The tenant built for it has figures to compare: money was invoiced, collected and overdue somewhere.
    cash, _, _, _ = await _reference(operator_db, organization_id, analytics.Granularity.MONTH, "USD", AS_OF)
    assert any(c.invoiced for c in cash) and any(c.collected for c in cash) and any(c.overdue for c in cash)
