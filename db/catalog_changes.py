"""Telling every API process that an organization's catalog changed: PostgreSQL NOTIFY / LISTEN.

A use case that changes what ingestion checks events against (a metric's filters, a metric archived or
deleted, a customer deleted) calls `notify_catalog_changed` in its transaction. PostgreSQL delivers the
notification when, and only when, that transaction commits, to every process listening, whichever
process made the change and whether or not Redis is up. Each API process listens on one connection of
its own (`CatalogListener`); while that connection is down, notifications may be missed, so the
listener reports itself not `listening` and its owner must not trust what it cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("valueverse.catalog_changes")

CHANNEL = "valueverse_catalog"
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


async def notify_catalog_changed(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Sent at COMMIT (never for a transaction rolled back); several in one transaction arrive as one."""
    await session.execute(text("SELECT pg_notify(:channel, :organization)"), {
        "channel": CHANNEL,
        "organization": str(organization_id),
    })


class CatalogListener:
    """LISTEN on a dedicated connection: `on_change(organization_id)` per notification, and `on_reset()` each time
    the connection is made again (what was notified while it was down is unknown). Reconnects by itself."""

    def __init__(
        self, dsn: str, on_change: Callable[[uuid.UUID], None], on_reset: Callable[[], None]
    ) -> None:
        self.dsn = dsn
        self.on_change, self.on_reset = on_change, on_reset
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Listen before returning when the database answers; otherwise keep trying in the background."""
        with contextlib.suppress(Exception):
            await self._connect()
        self._task = asyncio.create_task(self._keep_listening(), name="catalog-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close(timeout=2)
        self._conn = None

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            organization_id = uuid.UUID(payload)
        except ValueError:
            self.on_reset()
            return
        self.on_change(organization_id)

    def _terminated(self, _conn: object) -> None:
        self._lost.set()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=5)
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(CHANNEL, self._notified)
        self._conn = conn
        self._lost.clear()
        self.on_reset()  # anything cached before this moment may have missed a notification

    async def _keep_listening(self) -> None:
        attempt = 0
        while True:
            if self.listening:
                await self._lost.wait()
                log.warning("the catalog listener lost its database connection: reconnecting")
                self._conn = None
                self.on_reset()
            try:
                await self._connect()
                attempt = 0
            except Exception as exc:
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                attempt += 1
                log.warning("the catalog listener cannot connect (%s): retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
