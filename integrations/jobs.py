"""The job queue: arq jobs queued in Redis for the worker (workers/settings.py), with deterministic ids.

What units of work leave in the outbox (db/outbox.py) is queued through `JobQueue` right after COMMIT, by
the process that committed, and again by the worker's drain for whatever that could not queue. An id that
arq already knows (the job is queued, running, or its result is kept) is not queued a second time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from arq.connections import ArqRedis
from redis.exceptions import RedisError

log = logging.getLogger("valueverse.jobs")

QUEUE_NAME = "valueverse:queue"
# Lanes: a job named here is queued on its own queue, which the worker runs beside the main one with its own
# slots (workers/settings.py), so that it never waits behind a billing run's thousands of jobs.
WEBHOOK_QUEUE_NAME = "valueverse:webhooks"
LANES = {"deliver_webhook": WEBHOOK_QUEUE_NAME}


def queue_of(job_name: str) -> str:
    """The queue a job of this name is queued on."""
    return LANES.get(job_name, QUEUE_NAME)
TIMEOUT = 1.0  # seconds for one connection attempt and for one Redis round trip
RETRY_MIN, RETRY_MAX = 0.5, 5.0  # seconds without attempts after a failure, doubling while Redis stays down


class Job(Protocol):
    name: str
    args: tuple[object, ...]
    job_id: str
    defer_until: str | None  # ISO 8601, or None: at once


class JobQueue:
    """`Enqueue` for units of work: never raises for an unreachable Redis and never holds a request for long
    (each attempt is bounded; after a failure, the jobs of the next seconds are left to the drain without
    trying). True when every job is queued or already known."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = ArqRedis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
        self._clock = clock
        self._retry_at = 0.0
        self._delay = RETRY_MIN
        self._down = False

    async def __call__(self, jobs: Sequence[Job]) -> bool:
        now = self._clock()
        if now < self._retry_at:
            return False
        try:
            async with asyncio.timeout(2 * TIMEOUT + TIMEOUT * len(jobs)):
                for job in jobs:
                    defer = datetime.fromisoformat(job.defer_until) if job.defer_until else None
                    await self.redis.enqueue_job(
                        job.name, *job.args, _job_id=job.job_id, _queue_name=queue_of(job.name), _defer_until=defer
                    )
        except (RedisError, OSError, TimeoutError) as exc:
            if not self._down:
                self._down = True
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("Redis unreachable (%s): jobs wait in the outbox for the worker's drain", reason)
            self._retry_at = now + self._delay
            self._delay = min(self._delay * 2, RETRY_MAX)
            return False
        if self._down:
            log.warning("Redis answers again: jobs are queued at once after commit")
            self._down = False
        self._retry_at, self._delay = 0.0, RETRY_MIN
        return True

    async def close(self) -> None:
        await self.redis.aclose()
