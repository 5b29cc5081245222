"""The arq worker's registry: its jobs, cron schedule and shared resources (the jobs live in workers/jobs/)."""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron

from db.session import Database
from integrations.clock import SYSTEM_CLOCK, Clock
from integrations.jobs import QUEUE_NAME, JobQueue
from integrations.payments.config import PaymentConfig
from integrations.pubsub import RedisPublisher
from services.notifications import EmailConfig
from services.webhooks import WebhookConfig
from workers.jobs.billing import bill_customer, bill_customers, finalize_drafts, schedule_billing
from workers.jobs.health import ping
from workers.jobs.outbox import drain_outbox, start_drain, stop_drain
from workers.jobs.payments import collect_invoice, dunning_final_action, retry_invoice_payment, send_email
from workers.jobs.progressive import check_usage_thresholds, scan_usage_thresholds
from workers.jobs.usage import maintain_usage_partitions
from workers.jobs.webhooks import (
    deliver_webhook,
    send_staff_email,
    start_lane,
    start_sweep,
    start_webhooks,
    stop_webhooks,
    sweep_webhooks,
)

MAX_JOBS = 3  # jobs at once per worker process: more only delays the one holding the numbering lock
# How long arq waits between looking for queued jobs. It takes at most MAX_JOBS minus the running ones each time,
# so its default (0.5 s) capped a worker at 6 jobs a second: 10,000 short collection or email jobs took half an
# hour, and a billing job queued behind a run's per-invoice jobs waited a minute. Idle, this is 20 Redis reads/s.
POLL_DELAY_SECONDS = 0.05


def worker_settings(
    database_url: str,
    redis_url: str,
    *,
    scheduled: bool = True,
    clock: Clock = SYSTEM_CLOCK,
    payments: PaymentConfig | None = None,
    webhooks: WebhookConfig | None = None,
    email: EmailConfig | None = None,
) -> dict[str, Any]:
    """The options `arq.run_worker` takes, bound to this deployment's servers; `scheduled=False` runs queued
    jobs (and the outbox drain, workers/jobs/outbox.py) only: no hourly billing of its own, what the test
    stack wants, so that no test is billed behind its back."""

    async def startup(ctx: dict[str, Any]) -> None:
        # Jobs tell live subscribers (invoiceUpdated, auditTrail) what they committed, as the API does.
        ctx["publish"] = RedisPublisher(redis_url)
        ctx["enqueue"] = JobQueue(redis_url)
        ctx["clock"] = clock  # every job's time: `ctx["clock"].now()`
        ctx["payments"] = payments  # sealed provider credentials and API bases (collection)
        ctx["email"] = email  # customer emails (services/notifications.py); None: not sent
        # A connection for every job that may run at once (and as many again in the pool's overflow).
        ctx["db"] = Database(
            database_url, pool_size=MAX_JOBS, publish=ctx["publish"], enqueue=ctx["enqueue"], clock=clock
        )
        await maintain_usage_partitions(ctx)
        start_drain(ctx)  # whatever `scheduled` says: the drain bills nobody
        start_webhooks(ctx, webhooks)
        start_lane(ctx, redis_url)  # first attempts of deliveries, on their own queue (workers/jobs/webhooks.py)
        if scheduled:  # webhook retries by the clock, like the rest of the schedule
            start_sweep(ctx)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await stop_drain(ctx)
        await stop_webhooks(ctx)
        if "db" in ctx:  # absent when the start-up failed (run() calls this after a lost connection too)
            await ctx["db"].dispose()
        if "publish" in ctx:
            await ctx["publish"].close()
        if "enqueue" in ctx:
            await ctx["enqueue"].close()

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
            drain_outbox,
            collect_invoice,
            retry_invoice_payment,
            dunning_final_action,
            send_email,
            deliver_webhook,
            sweep_webhooks,
            send_staff_email,
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
        "poll_delay": POLL_DELAY_SECONDS,
    }
