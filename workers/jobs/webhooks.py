"""Outbound webhook deliveries (services/webhooks.py): the first attempt of each event at each endpoint is a
job queued through the outbox right after the change commits, on a queue of its own (integrations/jobs.LANES)
that each worker process runs beside the main one, with its own slots and database connections: a delivery
never waits behind a billing run's jobs, nor a billing job behind receivers that are slow to answer. Retries
and whatever a worker lost are sent by `sweep_webhooks`, every few seconds, by the time of `ctx["clock"]`: a
loop of each worker process that runs its schedule (WORKER_CRON), as the outbox drain is a loop (several
workers share the attempts: each is claimed once). `sweep_webhooks` is also a job that can be queued by hand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Retry, Worker

from db.session import Database
from integrations.jobs import WEBHOOK_QUEUE_NAME
from integrations.webhooks import WebhookSender
from services import staff_emails
from services.webhooks import WebhookConfig, deliver_due

log = logging.getLogger("valueverse.worker")

SWEEP_SECONDS = 5.0  # the loop's step: the first retry (5 s) is never more than this late
LANE_SLOTS = 10  # deliveries at once per worker process: each mostly waits on its receiver (bounded by the timeout)
LANE_CONNECTIONS = 2  # the lane's own pool (as many again in overflow): each delivery holds one only briefly
LANE_POLL_SECONDS = 0.05
LANE_JOB_TIMEOUT = 120  # far above the sender's timeout: a delivery that runs this long is stuck, not slow


def start_webhooks(ctx: dict[str, Any], config: WebhookConfig | None) -> None:
    """From the worker's start-up: one sender (its connection pool) for every delivery of this process."""
    if config is not None:
        ctx["webhooks"] = config
        ctx["webhook_sender"] = WebhookSender(
            timeout=config.timeout_seconds, allow_private_targets=config.allow_private_targets
        )


def start_lane(ctx: dict[str, Any], redis_url: str) -> None:
    """From the worker's start-up, after `start_webhooks`: the delivery lane, an arq worker of its own on the
    webhook queue in this process's event loop, until `stop_webhooks`. It shares the main worker's resources
    except the database pool, which it has of its own."""
    if "webhooks" not in ctx:
        return
    main_db: Database = ctx["db"]
    lane_ctx = dict(ctx)
    lane_ctx["db"] = Database(main_db.url, pool_size=LANE_CONNECTIONS, publish=main_db.publish,
                              enqueue=main_db.enqueue, clock=main_db.clock)
    lane = Worker(
        functions=[deliver_webhook],
        queue_name=WEBHOOK_QUEUE_NAME,
        redis_settings=RedisSettings.from_dsn(redis_url),
        ctx=lane_ctx,
        handle_signals=False,  # the main worker has them: its shutdown stops the lane
        max_jobs=LANE_SLOTS,
        poll_delay=LANE_POLL_SECONDS,
        job_timeout=LANE_JOB_TIMEOUT,
    )
    ctx["webhook_lane"] = (lane, asyncio.create_task(lane.async_run(), name="webhook lane"))


async def stop_webhooks(ctx: dict[str, Any]) -> None:
    lane = ctx.pop("webhook_lane", None)
    if lane is not None:
        worker, task = lane
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        # What was being sent stays SENDING and is taken again once stale (services/webhooks.CLAIM_STALE).
        with contextlib.suppress(Exception):
            await worker.close()
        with contextlib.suppress(Exception):
            await worker.ctx["db"].dispose()
    task = ctx.pop("webhook_sweep", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if "webhook_sender" in ctx:
        await ctx["webhook_sender"].aclose()


def start_sweep(ctx: dict[str, Any], every: float = SWEEP_SECONDS) -> None:
    """From the start-up of a worker that runs its schedule: the retry loop, until `stop_webhooks`."""
    if "webhooks" in ctx:
        ctx["webhook_sweep"] = asyncio.create_task(_sweep_forever(ctx, every), name="webhook sweep")


async def _sweep_forever(ctx: dict[str, Any], every: float) -> None:
    while True:
        try:
            await sweep_webhooks(ctx)
        except Exception as exc:  # the database away: the next round tries again
            log.warning("the webhook sweep failed (%s: %s): trying again", type(exc).__name__, exc)
        await asyncio.sleep(every)


def _configured(ctx: dict[str, Any]) -> bool:
    if "webhooks" not in ctx:
        log.error("webhook deliveries are not configured in this worker (worker_settings(webhooks=…))")
        return False
    return True


async def deliver_webhook(ctx: dict[str, Any], delivery_id: str) -> str:
    """Queued for one attempt, it sends the oldest attempts due, that one among them (each job takes a batch: under
    a burst, the first jobs send the backlog in batches and the later ones find theirs sent, so each delivery costs
    a share of one claim and one record transaction, not two of its own). A retried job finds nothing due."""
    if not _configured(ctx):
        return "not configured"
    del delivery_id  # taken in age order with the others; the attempt row is claimed once, by whichever job
    swept = await deliver_due(ctx["db"], ctx["webhook_sender"], ctx["webhooks"])
    return "succeeded" if swept.succeeded else "failed" if swept.failed else "skipped" if swept.skipped else "not due"


async def sweep_webhooks(ctx: dict[str, Any]) -> int:
    """Send every attempt that is due (retries, and first attempts whose job was lost); the attempts sent."""
    if not _configured(ctx):
        return 0
    swept = await deliver_due(ctx["db"], ctx["webhook_sender"], ctx["webhooks"])
    if swept.sent or swept.skipped:
        log.info("webhooks swept: %d sent (%d succeeded, %d failed), %d skipped, %d endpoint(s) disabled",
                 swept.sent, swept.succeeded, swept.failed, swept.skipped, len(swept.disabled))
    return swept.sent


STAFF_EMAIL_TRIES = 5


async def send_staff_email(ctx: dict[str, Any], organization_id: str, key: str) -> bool:
    """An email to the organization's owners and admins (services/staff_emails.py), once; a passing SMTP failure is
    tried again later."""
    config = ctx.get("email")
    if config is None:
        return False
    result = await staff_emails.send(ctx["db"], config, uuid.UUID(organization_id), key)
    if result is not None and result.error and result.retryable and ctx.get("job_try", 1) < STAFF_EMAIL_TRIES:
        raise Retry(defer=60 * ctx.get("job_try", 1))
    return bool(result and (result.sent or result.logged_only))
