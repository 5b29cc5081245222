"""Engine and unit of work: one transaction per use case, hooks run before and after commit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from integrations.clock import SYSTEM_CLOCK, Clock

Hook = Callable[[], Awaitable[None]]
# Sends (channel, message) pairs to live subscribers, all at once (one round trip).
Publish = Callable[[Sequence[tuple[str, bytes]]], Awaitable[None]]

log = logging.getLogger("valueverse.db")

_json = msgspec.json.Decoder(float_hook=Decimal)


def _read_json(text: str) -> object:
    """JSON columns read exactly: a stored 0.1 comes back as Decimal('0.1'), never a float."""
    return _json.decode(text)


def async_url(url: str) -> str:
    """`postgresql://…` as users write it → the asyncpg dialect SQLAlchemy needs."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql://")


def plain_url(url: str) -> str:
    """The libpq form (for asyncpg.connect and tools) of a URL in either form."""
    return "postgresql://" + async_url(url)[len("postgresql+asyncpg://") :]


class UnitOfWork:
    """A session, the work to do just before its transaction commits, and what to tell once it has."""

    def __init__(self, session: AsyncSession, publish: Publish | None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.session = session
        self.clock = clock  # the use case's time: services ask `uow.clock.now()`, never the machine
        self._publish = publish
        self._before_commit: dict[str, Hook] = {}
        self._after_commit: list[Hook] = []
        self._messages: list[tuple[str, bytes]] = []
        # What the use case's services gather during the transaction for their before-commit hooks.
        self.pending: dict[Any, Any] = {}

    def before_commit(self, key: str, hook: Hook) -> None:
        """Run `hook` once, as the last work of the transaction (a second call with the same key is ignored).

        Work that takes an organization-wide lock belongs here: the lock is then held only until COMMIT."""
        self._before_commit.setdefault(key, hook)

    def after_commit(self, hook: Hook) -> None:
        self._after_commit.append(hook)

    def publish_after_commit(self, channel: str, message: bytes) -> None:
        """Tell live subscribers, but only about what was really committed."""
        if self._publish is not None:
            self._messages.append((channel, message))

    async def _run_before_commit(self) -> None:
        while self._before_commit:  # a hook may register another one
            key = next(iter(self._before_commit))
            await self._before_commit.pop(key)()

    async def _run_after_commit(self) -> None:
        if self._messages and self._publish is not None:
            try:
                await self._publish(self._messages)
            except Exception:  # committed is committed: a missed live push must not turn into an error
                log.exception("publishing %d message(s) after commit failed", len(self._messages))
        for hook in self._after_commit:
            await hook()


class _ReadSession(Session):
    """The session of `Database.read()`: with no transaction around it, a write would be kept, so none is allowed."""


@event.listens_for(_ReadSession, "before_flush")
def _refuse_writes(session: Session, _context: object, _instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read session does not write: use Database.unit_of_work()")


class Database:
    def __init__(
        self, url: str, *, pool_size: int = 10, publish: Publish | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.url = plain_url(url)
        self.publish = publish
        self.clock = clock  # handed to every unit of work
        self.engine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            json_deserializer=_read_json,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads need no transaction: under READ COMMITTED each statement sees its own snapshot either way, and
        # without BEGIN and ROLLBACK a read session costs two round trips less.
        self._read_sessions = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=_ReadSession,
        )

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Commit when the block ends normally, roll back on any exception."""
        async with self.sessions() as session:
            uow = UnitOfWork(session, self.publish, self.clock)
            async with session.begin():
                yield uow
                await uow._run_before_commit()
            await uow._run_after_commit()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads: each statement on its own (no transaction), nothing written."""
        async with self._read_sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
