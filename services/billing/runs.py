"""Billing runs: every billing date up to `as_of` of a batch of customers in one transaction (one
customer per transaction for a batch that fails), and the run's own audit entry.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from db.locks import LockNamespace, advisory_xact_locks
from db.models import Invoice
from db.repositories.billing import InvoiceRepository
from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.session import Database, UnitOfWork
from domain.errors import DomainError
from services import audit
from services.actors import Actor, system_actor
from services.billing.due import BillingDate, _due
from services.billing.finalize import finalize_many
from services.billing.issue import InvoicingContext, _issue
from services.errors import Invalid, NotFound
from services.usage.rating import BatchedRating

log = logging.getLogger("valueverse.billing")

BATCH_SIZE = 100  # customers billed in one transaction by a run


async def bill_customer(uow: UnitOfWork, actor: Actor, customer_id: uuid.UUID, as_of: datetime) -> list[Invoice]:
    """Every billing date of the customer up to `as_of` that has no invoice yet gets one."""
    return await bill_customers(uow, actor, [customer_id], as_of)


async def bill_customers(
    uow: UnitOfWork, actor: Actor, customer_ids: Sequence[uuid.UUID], as_of: datetime
) -> list[Invoice]:
    """`bill_customer` for several customers of one organization in this one transaction.

    Their billing locks are taken together; subscriptions, usage, existing invoices, tax rates and
    deductions are read for all of them at once, the invoices written in one flush and numbered together
    at the end, so that the organization's numbering row and audit chain are held only until COMMIT."""
    session = uow.session
    await advisory_xact_locks(session, LockNamespace.CUSTOMER_BILLING, customer_ids)
    org = await OrganizationRepository(session).existing(actor.organization_id)
    customers = await CustomerRepository(session, org.id).by_ids(customer_ids)
    missing = [c for c in customer_ids if c not in customers]
    if missing:
        raise NotFound(f"no such customer: {missing[0]}", field=("customerId",))
    subscriptions = await SubscriptionRepository(session, org.id).of_customers(customer_ids)
    rate = BatchedRating(session, org.id)
    # Every customer's dates side by side, their usage read together; all of them finish (none is left
    # reading on the session) before a failure of one fails the batch.
    outcomes = await asyncio.gather(
        *(_due(rate, org, customers[c], subscriptions.get(c, []), as_of) for c in customer_ids),
        return_exceptions=True,
    )
    dues: list[dict[datetime, BillingDate]] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        dues.append(outcome)
    keys = {(c, bill.key) for c, dates in zip(customer_ids, dues, strict=True) for bill in dates.values()}
    repo = InvoiceRepository(session, org.id)
    billed = await repo.billing_keys({c for c, _ in keys}, {k for _, k in keys})
    to_bill = [
        c
        for c, dates in zip(customer_ids, dues, strict=True)
        if any(b.lines and (c, b.key) not in billed for b in dates.values())
    ]
    drafts = org.invoice_grace_period_days > 0  # kept refreshable: deductions apply at finalization
    context = await InvoicingContext.load(uow, org, to_bill, deductions=not drafts)
    invoices: list[Invoice] = []
    for customer_id, dates in zip(customer_ids, dues, strict=True):
        customer = customers[customer_id]
        by_id = {s.id: s for s in subscriptions.get(customer_id, [])}
        for moment in sorted(dates):
            bill = dates[moment]
            if bill.lines and (customer_id, bill.key) not in billed:
                invoice = await _issue(uow, actor, context, customer, bill, customer.currency or org.default_currency)
                # Where billing of each subscription stood before: a refresh of a draft starts again from there.
                invoice.billed_from = {
                    str(k): through.isoformat() if (through := by_id[k].billed_through) else None
                    for k in bill.advanced
                }
                invoices.append(invoice)
            for sub_id, through in bill.advanced.items():
                by_id[sub_id].billed_through = max(through, by_id[sub_id].billed_through or through)
    if not drafts:
        await finalize_many(uow, actor, invoices, org)
    await session.flush()
    return invoices


@dataclass
class RunResult:
    invoices: list[Invoice] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (customer external id, reason)


async def run_billing(db: Database, actor: Actor, as_of: datetime, *, batch_size: int = BATCH_SIZE) -> RunResult:
    """Bill every customer of the organization: a batch of customers per transaction, and a customer per
    transaction for a batch that fails, so that one customer's failure stops nobody else."""
    if as_of.tzinfo is None:
        raise Invalid("asOf needs a UTC offset", field=("asOf",), code="NAIVE_DATETIME")
    async with db.read() as session:
        customers: list[tuple[uuid.UUID, str]] = await SubscriptionRepository(
            session, actor.organization_id
        ).customers_with_subscriptions()
    result = RunResult()
    for start in range(0, len(customers), batch_size):
        await bill_batch(db, actor, customers[start : start + batch_size], as_of, result)
    await record_run(db, actor, as_of, len(customers), result)
    return result


async def record_run(db: Database, actor: Actor, as_of: datetime, customers: int, result: RunResult) -> None:
    """The run's own audit entry, after its billing transactions: what it billed, who failed and why."""
    async with db.unit_of_work() as uow:
        await audit.record(
            uow,
            actor,
            "billing.run",
            "organization",
            actor.organization_id,
            after={
                "asOf": as_of,
                "customers": customers,
                "invoices": len(result.invoices),
                "failures": [{"customerExternalId": c, "reason": r} for c, r in result.failures],
            },
        )


async def bill_batch(
    db: Database, actor: Actor, customers: Sequence[tuple[uuid.UUID, str]], as_of: datetime, result: RunResult
) -> None:
    """Bill (id, external id) customers in one transaction; if it fails, each in its own, failures noted."""
    if len(customers) > 1:
        try:
            async with db.unit_of_work() as uow:
                result.invoices += await bill_customers(uow, actor, [c for c, _ in customers], as_of)
            return
        except Exception:  # find out which customer it was: one transaction each
            log.info("a billing batch of %d customers failed; billing them one by one", len(customers))
    for customer_id, external_id in customers:
        try:
            async with db.unit_of_work() as uow:
                result.invoices += await bill_customers(uow, actor, [customer_id], as_of)
        except DomainError as exc:
            result.failures.append((external_id, f"{exc.code}: {exc.message}"))
        except Exception:  # one customer's failure must not stop the others; it is reported, the trace logged
            log.exception("billing customer %s failed", external_id)
            result.failures.append((external_id, "internal error: see the server log"))


def job_actor(organization_id: uuid.UUID) -> Actor:
    return system_actor(organization_id, name="billing", kind="job")
