"""Engine and unit of work: one transaction per use case, hooks run after commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

AfterCommit = Callable[[], Awaitable[None]]
Publish = Callable[[str, bytes], Awaitable[None]]


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
    """A session plus the work to do once its transaction has committed."""

    def __init__(self, session: AsyncSession, publish: Publish | None) -> None:
        self.session = session
        self._publish = publish
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    def publish_after_commit(self, channel: str, message: bytes) -> None:
        """Tell live subscribers, but only about what was really committed."""
        publish = self._publish
        if publish is not None:
            self.after_commit(lambda: publish(channel, message))


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, publish: Publish | None = None) -> None:
        self.url = plain_url(url)
        self.publish = publish
        self.engine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            json_deserializer=_read_json,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[UnitOfWork]:
        """Commit when the block ends normally, roll back on any exception."""
        async with self.sessions() as session:
            uow = UnitOfWork(session, self.publish)
            async with session.begin():
                yield uow
            for hook in uow._after_commit:
                await hook()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (its transaction is rolled back at the end)."""
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
