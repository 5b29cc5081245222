"""The worker keeps the coming months' usage partitions ready."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy import text

from db.repositories.usage import ensure_month_partitions
from db.session import Database
from tests.db import execute, scalar
from workers.settings import QUEUE_NAME

WORKERS = 6


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


async def test_workers_starting_together_create_each_partition_once(stack) -> None:
    """Several workers' start-up runs at the same moment: none fails, each month's partition is made once."""
    db = Database(stack.database_url, pool_size=WORKERS)
    # Months far ahead that nobody has created: 2970-01 .. 2970-04 (around + 3 months ahead).
    around = datetime(2970, 1, 15, tzinfo=UTC)
    names = [f"usage_events_2970{month:02d}" for month in range(1, 5)]
    for name in names:
        assert not await scalar(stack.database_url, "SELECT to_regclass($1) IS NOT NULL", name), name
    started = asyncio.Barrier(WORKERS)

    async def worker_start_up() -> list[str]:
        async with db.unit_of_work() as uow:
            await uow.session.execute(text("SELECT 1"))  # the connection is open before anyone starts
            await started.wait()
            return await ensure_month_partitions(uow.session, around)

    try:
        results = await asyncio.gather(*(worker_start_up() for _ in range(WORKERS)), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        created = sorted(name for r in results for name in r)
        assert created == names  # each partition created by exactly one of them
        for name in names:
            assert await scalar(
                stack.database_url,
                "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'usage_events'::regclass AND c.relname = $1",
                name,
            ) == 1, name
    finally:
        await db.dispose()
        for name in names:  # only what this test made, in this run's own database
            await execute(stack.database_url, f'DROP TABLE IF EXISTS "{name}"')
