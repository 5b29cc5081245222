"""Usage storage upkeep."""

from __future__ import annotations

from typing import Any

from db.repositories.usage import ensure_month_partitions


async def maintain_usage_partitions(ctx: dict[str, Any]) -> list[str]:
    """Keep the coming months' usage partitions ready (daily, and when the worker starts)."""
    async with ctx["db"].unit_of_work() as uow:
        return await ensure_month_partitions(uow.session, ctx["clock"].now())
