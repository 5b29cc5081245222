"""The arq worker: its jobs, cron schedule and shared resources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron

from db.repositories.usage import ensure_month_partitions
from db.session import Database

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


def worker_settings(database_url: str, redis_url: str) -> dict[str, Any]:
    """The options `arq.run_worker` takes, bound to this deployment's servers."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["db"] = Database(database_url, pool_size=5)
        await maintain_usage_partitions(ctx)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["db"].dispose()

    return {
        "functions": [ping, maintain_usage_partitions],
        "cron_jobs": [cron(maintain_usage_partitions, hour={3}, minute={17}, unique=True)],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "queue_name": QUEUE_NAME,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "handle_signals": True,
        "job_timeout": 300,
        "max_jobs": 20,
    }
