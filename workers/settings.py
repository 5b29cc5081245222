"""The arq worker: its jobs, cron schedule and shared resources."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.cron import cron
from arq.jobs import Job
from arq.worker import Worker
from redis.exceptions import RedisError

from db.repositories.customers import CustomerRepository
from db.repositories.organizations import all_organization_ids
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.usage import ensure_month_partitions
from db.session import Database
from integrations.clock import SYSTEM_CLOCK, Clock
from integrations.pubsub import RedisPublisher
from services.billing import drafts, progressive, runs

QUEUE_NAME = "valueverse:queue"
MAX_JOBS = 3  # jobs at once per worker process: more only delays the one holding the numbering lock
RESTART_MIN, RESTART_MAX = 0.5, 10.0  # seconds before starting again after a lost connection, doubling

log = logging.getLogger("valueverse.worker")


async def ping(ctx: dict[str, Any]) -> str:
    """Answered by a live worker: proves the queue, the worker and its database connection."""
    async with ctx["db"].read() as session:
        from sqlalchemy import text

        await session.execute(text("SELECT 1"))
    return "pong"


async def maintain_usage_partitions(ctx: dict[str, Any]) -> list[str]:
    """Keep the coming months' usage partitions ready (daily, and when the worker starts)."""
    async with ctx["db"].unit_of_work() as uow:
        return await ensure_month_partitions(uow.session, ctx["clock"].now())


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


async def check_usage_thresholds(ctx: dict[str, Any], organization_id: str, customer_id: str) -> int:
    """Progressive billing for one customer: an interim invoice per threshold reached (idempotent)."""
    org = uuid.UUID(organization_id)
    async with ctx["db"].unit_of_work() as uow:
        invoices = await progressive.check_usage_thresholds(
            uow, runs.job_actor(org), uuid.UUID(customer_id), ctx["clock"].now()
        )
    return len(invoices)


async def scan_usage_thresholds(ctx: dict[str, Any]) -> int:
    """Every 5 minutes: one threshold check per customer whose plan can make interim invoices."""
    slot = ctx["clock"].now().replace(second=0, microsecond=0)
    async with ctx["db"].read() as session:
        targets = [
            (org, customer)
            for org in await all_organization_ids(session)
            for customer in await SubscriptionRepository(session, org).customers_with_interim_billing(slot)
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
            finalized += len(await drafts.finalize_expired_drafts(uow, runs.job_actor(org), ctx["clock"].now()))
    return finalized


def worker_settings(
    database_url: str, redis_url: str, *, scheduled: bool = True, clock: Clock = SYSTEM_CLOCK
) -> dict[str, Any]:
    """The options `arq.run_worker` takes, bound to this deployment's servers; `scheduled=False` runs queued
    jobs only (no hourly billing of its own: what the test stack wants, so that no test is billed behind
    its back)."""

    async def startup(ctx: dict[str, Any]) -> None:
        # Jobs tell live subscribers (invoiceUpdated, auditTrail) what they committed, as the API does.
        ctx["publish"] = RedisPublisher(redis_url)
        ctx["clock"] = clock  # every job's time: `ctx["clock"].now()`
        # A connection for every job that may run at once (and as many again in the pool's overflow).
        ctx["db"] = Database(database_url, pool_size=MAX_JOBS, publish=ctx["publish"], clock=clock)
        await maintain_usage_partitions(ctx)

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "db" in ctx:  # absent when the start-up failed (run() calls this after a lost connection too)
            await ctx["db"].dispose()
        if "publish" in ctx:
            await ctx["publish"].close()

    return {
        "functions": [
            ping,
            maintain_usage_partitions,
            bill_customer,
            bill_customers,
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
        ]
        if scheduled
        else [],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "queue_name": QUEUE_NAME,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "handle_signals": True,
        "job_timeout": 300,
        "max_jobs": MAX_JOBS,
    }


def run(database_url: str, redis_url: str, *, scheduled: bool = True) -> None:
    """Run the worker until SIGTERM or SIGINT. arq's worker ends when its Redis connection fails (a Redis
    restart, or no Redis yet at start): this starts it again, with backoff, until Redis answers. Jobs that
    were running are idempotent: arq runs them again once their lease expires."""
    delay = RESTART_MIN
    while True:
        options = worker_settings(database_url, redis_url, scheduled=scheduled)
        worker = Worker(**options)
        started = time.monotonic()
        try:
            worker.run()
            return
        except (RedisError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        # arq's close() stops at its first Redis call while Redis is away: release what this run opened.
        with contextlib.suppress(Exception):
            worker.loop.run_until_complete(options["on_shutdown"](worker.ctx))
        with contextlib.suppress(Exception):
            worker.loop.run_until_complete(worker.pool.close(close_connection_pool=True))
        # Between runs no event loop runs arq's signal handlers: a SIGTERM must still stop us.
        for signum in (signal.SIGINT, signal.SIGTERM):
            worker.loop.remove_signal_handler(signum)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        if time.monotonic() - started > 60:  # it ran for a while: this is a new outage
            delay = RESTART_MIN
        log.warning("the worker stopped on a lost connection (%s); starting again in %.1f s", reason, delay)
        time.sleep(delay)
        delay = min(delay * 2, RESTART_MAX)
