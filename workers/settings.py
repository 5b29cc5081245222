"""The arq worker: its jobs, cron schedule and shared resources."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron

from db.repositories.organizations import all_organization_ids
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.usage import ensure_month_partitions
from db.session import Database
from services import billing

QUEUE_NAME = "valueverse:queue"


async def ping(ctx: dict[str, Any]) -> str:
    """Answered by a live worker: proves the queue, the worker and its database connection."""
    async with ctx["db"].read() as session:
        from sqlalchemy import text

        await session.execute(text("SELECT 1"))
    return "pong"


async def maintain_usage_partitions(ctx: dict[str, Any]) -> list[str]:
    """Keep the coming months' usage partitions ready (daily, and when the worker starts)."""
    async with ctx["db"].unit_of_work() as uow:
        return await ensure_month_partitions(uow.session, datetime.now(UTC))


async def bill_customer(ctx: dict[str, Any], organization_id: str, customer_id: str, as_of: str) -> int:
    """Bill one customer up to `as_of` (idempotent: a re-run or a retry after a crash creates nothing twice)."""
    org = uuid.UUID(organization_id)
    async with ctx["db"].unit_of_work() as uow:
        invoices = await billing.bill_customer(
            uow, billing.job_actor(org), uuid.UUID(customer_id), datetime.fromisoformat(as_of)
        )
    return len(invoices)


async def schedule_billing(ctx: dict[str, Any]) -> int:
    """Hourly: one job per customer with subscriptions, named by customer and hour so that it runs once."""
    as_of = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    queued = 0
    async with ctx["db"].read() as session:
        organizations = await all_organization_ids(session)
        targets = [
            (org, customer)
            for org in organizations
            for customer, _ in await SubscriptionRepository(session, org).customers_with_subscriptions()
        ]
    for org, customer in targets:
        job = await ctx["redis"].enqueue_job(
            "bill_customer",
            str(org),
            str(customer),
            as_of.isoformat(),
            _job_id=f"bill_customer:{customer}:{as_of:%Y%m%d%H}",
            _queue_name=QUEUE_NAME,
        )
        queued += job is not None
    return queued


async def check_usage_thresholds(ctx: dict[str, Any], organization_id: str, customer_id: str) -> int:
    """Progressive billing for one customer: an interim invoice per threshold reached (idempotent)."""
    org = uuid.UUID(organization_id)
    async with ctx["db"].unit_of_work() as uow:
        invoices = await billing.check_usage_thresholds(
            uow, billing.job_actor(org), uuid.UUID(customer_id), datetime.now(UTC)
        )
    return len(invoices)


async def scan_usage_thresholds(ctx: dict[str, Any]) -> int:
    """Every 5 minutes: one threshold check per customer with subscriptions."""
    slot = datetime.now(UTC).replace(second=0, microsecond=0)
    async with ctx["db"].read() as session:
        targets = [
            (org, customer)
            for org in await all_organization_ids(session)
            for customer, _ in await SubscriptionRepository(session, org).customers_with_subscriptions()
        ]
    queued = 0
    for org, customer in targets:
        job = await ctx["redis"].enqueue_job(
            "check_usage_thresholds",
            str(org),
            str(customer),
            _job_id=f"check_usage_thresholds:{customer}:{slot:%Y%m%d%H%M}",
            _queue_name=QUEUE_NAME,
        )
        queued += job is not None
    return queued


async def finalize_drafts(ctx: dict[str, Any]) -> int:
    """Hourly: drafts past their organization's grace period are refreshed and finalized."""
    async with ctx["db"].read() as session:
        organizations = await all_organization_ids(session)
    finalized = 0
    for org in organizations:
        async with ctx["db"].unit_of_work() as uow:
            finalized += len(await billing.finalize_expired_drafts(uow, billing.job_actor(org), datetime.now(UTC)))
    return finalized


def worker_settings(database_url: str, redis_url: str) -> dict[str, Any]:
    """The options `arq.run_worker` takes, bound to this deployment's servers."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["db"] = Database(database_url, pool_size=5)
        await maintain_usage_partitions(ctx)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["db"].dispose()

    return {
        "functions": [
            ping,
            maintain_usage_partitions,
            bill_customer,
            schedule_billing,
            finalize_drafts,
            check_usage_thresholds,
            scan_usage_thresholds,
        ],
        "cron_jobs": [
            cron(maintain_usage_partitions, hour={3}, minute={17}, unique=True),
            cron(schedule_billing, minute={5}, unique=True),
            cron(finalize_drafts, minute={35}, unique=True),
            cron(scan_usage_thresholds, minute=set(range(0, 60, 5)), unique=True),
        ],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "queue_name": QUEUE_NAME,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "handle_signals": True,
        "job_timeout": 300,
        "max_jobs": 20,
    }
