"""The worker keeps the coming months' usage partitions ready."""

from __future__ import annotations

from datetime import UTC, datetime

from arq import create_pool
from arq.connections import RedisSettings

from tests.db import scalar
from workers.settings import QUEUE_NAME


def _month(offset: int) -> str:
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 + offset
    return f"usage_events_{index // 12}{index % 12 + 1:02d}"


async def test_partitions_for_the_next_three_months_exist(stack) -> None:
    redis = await create_pool(RedisSettings.from_dsn(stack.redis_url))
    try:
        job = await redis.enqueue_job("maintain_usage_partitions", _queue_name=QUEUE_NAME)
        await job.result(timeout=30)
    finally:
        await redis.aclose()
    for offset in range(4):
        assert await scalar(stack.database_url, "SELECT to_regclass($1) IS NOT NULL", _month(offset)), offset
