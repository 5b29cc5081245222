"""Webhook deliveries have a lane of their own: queued on their own queue, run by the worker beside its main
queue (workers/jobs/webhooks.py), so that a billing run's jobs never hold them back."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from arq.connections import ArqRedis
from arq.jobs import Job

from integrations.jobs import QUEUE_NAME, WEBHOOK_QUEUE_NAME, JobQueue, queue_of
from tests.stack import Stack


@dataclass
class _Job:
    name: str
    args: tuple[object, ...]
    job_id: str
    defer_until: str | None = None


def test_deliveries_go_to_their_own_queue_and_everything_else_to_the_main_one() -> None:
    assert queue_of("deliver_webhook") == WEBHOOK_QUEUE_NAME != QUEUE_NAME
    assert queue_of("bill_customer") == queue_of("collect_invoice") == QUEUE_NAME


async def test_the_worker_runs_the_webhook_queue(stack: Stack) -> None:
    queue, redis = JobQueue(stack.redis_url), ArqRedis.from_url(stack.redis_url)
    try:
        job_id = f"deliver_webhook:lane-test:{secrets.token_hex(6)}"
        assert await queue([_Job("deliver_webhook", (str(uuid.uuid4()),), job_id)])
        assert await redis.zscore(QUEUE_NAME, job_id) is None  # not on the main queue
        # The lane's worker ran the job (it sends whatever is due, here nothing of this test's) and answered.
        result = await Job(job_id, redis, _queue_name=WEBHOOK_QUEUE_NAME).result(timeout=30)
        assert result in {"not due", "succeeded", "failed", "skipped"}
    finally:
        await queue.close()
        await redis.aclose()
