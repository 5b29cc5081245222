"""A job that proves a worker is alive."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text


async def ping(ctx: dict[str, Any]) -> str:
    """Answered by a live worker: proves the queue, the worker and its database connection."""
    async with ctx["db"].read() as session:
        await session.execute(text("SELECT 1"))
    return "pong"
