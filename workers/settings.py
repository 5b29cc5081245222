"""The arq worker: its jobs, cron schedule and shared resources."""

from __future__ import annotations

from typing import Any

from arq.connections import RedisSettings

from db.session import Database

QUEUE_NAME = "valueverse:queue"


async def ping(ctx: dict[str, Any]) -> str:
    """Answered by a live worker: proves the queue, the worker and its database connection."""
    async with ctx["db"].read() as session:
        from sqlalchemy import text

        await session.execute(text("SELECT 1"))
    return "pong"


def worker_settings(database_url: str, redis_url: str) -> dict[str, Any]:
    """The options `arq.run_worker` takes, bound to this deployment's servers."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["db"] = Database(database_url, pool_size=5)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["db"].dispose()

    return {
        "functions": [ping],
        "cron_jobs": [],
        "redis_settings": RedisSettings.from_dsn(redis_url),
        "queue_name": QUEUE_NAME,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "handle_signals": True,
        "job_timeout": 300,
        "max_jobs": 20,
    }
