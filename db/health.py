"""Whether the database answers: for /readyz, without SQL outside db/."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from db.session import Database


async def database_answers(db: Database, *, timeout_s: float = 2.0) -> None:
    """Returns when a trivial statement went through; raises (TimeoutError, a driver error) otherwise."""
    async with asyncio.timeout(timeout_s), db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
