"""Billing jobs: the hourly schedule, batches of customers billed up to a moment, drafts finalized when
their grace period ends. Each reads the time from `ctx["clock"]` and is idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from arq.connections import ArqRedis
from arq.jobs import Job

from db.repositories.customers import CustomerRepository
from db.repositories.organizations import all_organization_ids
from db.repositories.subscriptions import SubscriptionRepository
from integrations.jobs import QUEUE_NAME
from services.billing import drafts, runs


class BillingFailed(Exception):
    """Some customers of a billing job could not be billed (the others were): arq records the job as failed
    with this message, and the next hourly schedule bills them again."""


async def bill_customers(ctx: dict[str, Any], organization_id: str, customer_ids: list[str], as_of: str) -> int:
    """Bill these customers of one organization up to `as_of`: in one transaction, or one each if that fails.

    Idempotent: a re-run or a retry after a crash creates nothing twice. Returns the invoices made."""
    org = uuid.UUID(organization_id)
    async with ctx["db"].read() as session:
        customers = await CustomerRepository(session, org).external_ids([uuid.UUID(c) for c in customer_ids])
    result, actor, moment = runs.RunResult(), runs.job_actor(org), datetime.fromisoformat(as_of)
    await runs.bill_batch(ctx["db"], actor, customers, moment, result)
    if result.invoices or result.failures:  # an hourly job that found nothing due leaves no entry
        await runs.record_run(ctx["db"], actor, moment, len(customers), result)
    if result.failures:
        raise BillingFailed(
            f"{len(result.failures)} of {len(customers)} customers not billed "
            f"({len(result.invoices)} invoices made): "
            + "; ".join(f"{external_id}: {reason}" for external_id, reason in result.failures)
        )
    return len(result.invoices)


async def bill_customer(ctx: dict[str, Any], organization_id: str, customer_id: str, as_of: str) -> int:
    """Bill one customer up to `as_of` (idempotent)."""
    return await bill_customers(ctx, organization_id, [customer_id], as_of)


async def enqueue_billing(
    redis: ArqRedis, targets: Sequence[tuple[uuid.UUID, uuid.UUID]], as_of: datetime
) -> list[Job]:
    """One `bill_customers` job per organization and batch of its customers (`targets`: (organization,
    customer), in a stable order), named by its first customer and the time so that it is queued once.
    Returns the jobs queued now (not those already queued)."""
    batches: list[tuple[uuid.UUID, list[uuid.UUID]]] = []
    for org, customer in targets:
        if not batches or batches[-1][0] != org or len(batches[-1][1]) >= runs.BATCH_SIZE:
            batches.append((org, []))
        batches[-1][1].append(customer)
    queued = []
    for org, customers in batches:
        job = await redis.enqueue_job(
            "bill_customers",
            str(org),
            [str(c) for c in customers],
            as_of.isoformat(),
            _job_id=f"bill_customers:{customers[0]}:{len(customers)}:{as_of.astimezone(UTC).isoformat()}",
            _queue_name=QUEUE_NAME,
        )
        if job is not None:
            queued.append(job)
    return queued


async def schedule_billing(ctx: dict[str, Any]) -> int:
    """Hourly: every customer with subscriptions, in batches of `runs.BATCH_SIZE` per job."""
    as_of = ctx["clock"].now().replace(minute=0, second=0, microsecond=0)
    async with ctx["db"].read() as session:
        organizations = await all_organization_ids(session)
        targets = [
            (org, customer)
            for org in organizations
            for customer, _ in await SubscriptionRepository(session, org).customers_with_subscriptions()
        ]
    return len(await enqueue_billing(ctx["redis"], targets, as_of))


async def finalize_drafts(ctx: dict[str, Any]) -> int:
    """Hourly: drafts past their organization's grace period are refreshed and finalized."""
    async with ctx["db"].read() as session:
        organizations = await all_organization_ids(session)
    finalized = 0
    for org in organizations:
        async with ctx["db"].unit_of_work() as uow:
            finalized += len(await drafts.finalize_expired_drafts(uow, runs.job_actor(org), ctx["clock"].now()))
    return finalized
