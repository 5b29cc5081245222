"""Engine and unit of work: one transaction per use case, hooks run before and after commit, the outbox."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import await_

from db import outbox
from db.outbox import Enqueue, Publish, QueuedJob
from integrations.clock import SYSTEM_CLOCK, Clock

Hook = Callable[[], Awaitable[None]]

__all__ = ["Database", "Enqueue", "Publish", "UnitOfWork"]

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

    def __init__(
        self, session: AsyncSession, *, live: bool = True, clock: Clock = SYSTEM_CLOCK, wall_clock: Clock | None = None
    ) -> None:
        self.session = session
        self.clock = clock  # the use case's time: services ask `uow.clock.now()`, never the machine
        # The database's own clock, when the use case runs at another time (a test clock's moment): the audit
        # chain is stamped by it, so that its entries stay in the order they were written.
        self.wall_clock = wall_clock or clock
        self._live = live  # False: a process without a publisher (the CLI's commands) sends no live messages
        self._before_commit: dict[str, Hook] = {}
        self._after_commit: list[Hook] = []
        self._messages: list[tuple[str, bytes]] = []
        self._jobs: list[QueuedJob] = []
        self._outbox_id: int | None = None
        # What the use case's services gather during the transaction for their before-commit hooks.
        self.pending: dict[Any, Any] = {}

    def before_commit(self, key: str, hook: Hook) -> None:
        """Run `hook` once, as the last work of the transaction (a second call with the same key is ignored).

        Work that takes an organization-wide lock belongs here: the lock is then held only until COMMIT."""
        self._before_commit.setdefault(key, hook)

    def after_commit(self, hook: Hook) -> None:
        """Run `hook` in this process once the transaction committed (not durable: for in-process caches)."""
        self._after_commit.append(hook)

    def publish_after_commit(self, channel: str, message: bytes) -> None:
        """Tell live subscribers, but only about what was really committed (through the outbox: db/outbox.py)."""
        message.decode()  # stored as text: a message is JSON, and a message that is not fails here, not later
        if self._live:
            self._messages.append((channel, message))

    def enqueue_after_commit(
        self, job_name: str, *args: Any, job_id: str, defer_until: datetime | None = None
    ) -> None:
        """Queue the arq job `job_name(*args)` once the transaction committed, never if it rolls back.

        Durable (the outbox row commits with the change) and at least once: `job_id` must name the work
        (e.g. f"finalize_invoice:{invoice_id}") so that a second dispatch is not queued twice, and the job
        must find the work done if it runs again. Arguments are JSON values (`db.outbox.plain`). `defer_until`: the
        job runs no earlier than that (aware) time."""
        if defer_until is not None and defer_until.utcoffset() is None:
            raise ValueError("defer_until needs a time zone")
        deferred = defer_until.isoformat() if defer_until is not None else None
        self._jobs.append(QueuedJob(job_name, tuple(outbox.plain(a) for a in args), job_id, deferred))

    async def _run_before_commit(self) -> None:
        while self._before_commit:  # a hook may register another one
            key = next(iter(self._before_commit))
            await self._before_commit.pop(key)()
        if self._messages or self._jobs:  # last: the hooks above may publish (the audit seal does)
            self._outbox_id = await outbox.write(self.session, self._messages, self._jobs)


class _ReadSession(Session):
    """The session of `Database.read()`: with no transaction around it, a write would be kept, so none is allowed."""


@event.listens_for(_ReadSession, "before_flush")
def _refuse_writes(session: Session, _context: object, _instances: object) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read session does not write: use Database.unit_of_work()")


class _Marks:
    """Outbox rows dispatched and not yet marked: marked together, a moment later, off the request's path (one
    UPDATE for every row dispatched meanwhile). A row whose mark is lost (the process died) is dispatched
    again by the drain, which is harmless."""

    DELAY = 0.05  # seconds: far below the drain's grace (db.outbox.GRACE)

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._ids: list[int] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, outbox_id: int) -> None:
        self._ids.append(outbox_id)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox marks")

    async def _run(self) -> None:
        try:
            while self._ids:
                await asyncio.sleep(self.DELAY)
                ids, self._ids = self._ids, []
                try:
                    async with self._engine.connect() as conn:
                        await outbox.mark_dispatched(conn, ids)
                except Exception as exc:  # sent but not marked: the drain sends them again
                    log.warning("marking %d outbox row(s) dispatched failed: %s", len(ids), exc)
        finally:
            self._task = None

    async def close(self) -> None:
        if self._task is not None:
            await self._task


# A connection given back less than this long ago is handed out again without a ping: under load every
# checkout used to cost a round trip (and PostgreSQL's CPU) for a connection that had just answered.
PING_IDLE_AFTER_S = 1.0
_returned_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _returned(dbapi_connection: Any, _record: Any) -> None:
    if dbapi_connection is not None:  # None: it was invalidated on its way back
        _returned_at[dbapi_connection._connection] = time.monotonic()


def _ping(dbapi_connection: Any) -> bool:
    """The pool's check before handing out a connection that sat idle, in one round trip.

    SQLAlchemy's asyncpg ping wraps its `;` in BEGIN … ROLLBACK (for pgbouncer in transaction mode, which this
    project does not run behind): three round trips per checkout, two checkouts per API request. A connection
    that broke while idle (an outage, a restart) still fails here and is replaced, as before; one that answered
    in the last `PING_IDLE_AFTER_S` and whose socket asyncpg has not seen end is not asked again (a connection
    that went silent without being closed in that second is met by the statement instead, and SQLAlchemy then
    replaces every connection of the pool). docs/performance.md."""
    raw = dbapi_connection._connection
    returned = _returned_at.get(raw)
    if returned is not None and time.monotonic() - returned < PING_IDLE_AFTER_S and not raw.is_closed():
        return True  # asyncpg saw no end of the connection (a server restart, a reset, a cut relay close it at once)
    try:
        await_(dbapi_connection._connection.fetchrow(";"))
    except Exception as error:
        dbapi_connection._handle_exception(error)
    return True


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under a session's: for a hot read sent as it is, without SQLAlchemy's statement
    machinery (compiling, cache keys, result processing), in the session's transaction if it has one."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


class Database:
    """The engine and its sessions; `publish` and `enqueue` dispatch what units of work leave in the outbox.

    Without `enqueue`, jobs wait in the outbox for a worker's drain. Without `publish` (the CLI's commands,
    which start no Redis), live messages are not kept at all, as they were never sent before the outbox."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        publish: Publish | None = None,
        enqueue: Enqueue | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.url = plain_url(url)
        self.publish = publish
        self.enqueue = enqueue
        self.clock = clock  # handed to every unit of work
        self.engine = create_async_engine(
            async_url(url),
            # At most 2 x pool_size connections, as before (pool_size + as many overflow), but all of them kept once
            # opened: an overflow connection was closed on return while pool_size others sat idle, so a busy server
            # opened and closed connections all the time (a TLS attempt, a backend fork and every statement
            # prepared again on each; docs/performance.md).
            pool_size=2 * pool_size,
            pool_pre_ping=True,  # a connection that broke (an outage, a restart) is replaced before it is used
            max_overflow=0,
            json_deserializer=_read_json,
        )
        self.engine.sync_engine.dialect.do_ping = _ping  # type: ignore[method-assign]
        event.listen(self.engine.sync_engine.pool, "checkin", _returned)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads need no transaction: under READ COMMITTED each statement sees its own snapshot either way, and
        # without BEGIN and ROLLBACK a read session costs two round trips less.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._marks = _Marks(self._autocommit)
        self._read_sessions = async_sessionmaker(
            self._autocommit,
            expire_on_commit=False,
            autoflush=False,
            sync_session_class=_ReadSession,
        )

    @asynccontextmanager
    async def unit_of_work(self, clock: Clock | None = None) -> AsyncIterator[UnitOfWork]:
        """Commit when the block ends normally, roll back on any exception. `clock`: the use case's time when it
        is not the database's clock (a test clock's advance runs each moment with a clock standing at it)."""
        async with self.sessions() as session:
            uow = UnitOfWork(session, live=self.publish is not None, clock=clock or self.clock, wall_clock=self.clock)
            async with session.begin():
                yield uow
                await uow._run_before_commit()
        await self._dispatch(uow)
        for hook in uow._after_commit:
            await hook()

    @asynccontextmanager
    async def rehearsal(self, clock: Clock | None = None) -> AsyncIterator[UnitOfWork]:
        """A unit of work that is always rolled back: a use case runs exactly as it would (its writes are
        flushed, its locks taken), and nothing of it is kept or told. Before-commit hooks (the audit seal,
        webhook events) do not run, so no outbox row is written and no live message or job is sent; after-commit
        hooks do not run; a number taken from a counter row (invoice numbers) is given back by the rollback.
        Read what the caller needs before the block ends: the rows are gone afterwards."""
        async with self.sessions() as session:
            uow = UnitOfWork(session, live=False, clock=clock or self.clock, wall_clock=self.clock)
            await session.begin()
            try:
                yield uow
                await session.flush()
            finally:
                await session.rollback()

    async def _dispatch(self, uow: UnitOfWork) -> None:
        """Right after COMMIT: send the transaction's outbox row and mark it sent. Committed is committed: a
        failure here is logged, never raised, and the row stays for the worker's drain."""
        if uow._outbox_id is None:
            return
        if await outbox.send(self.publish, self.enqueue, uow._messages, uow._jobs):
            self._marks.add(uow._outbox_id)
        else:
            outbox.OUTBOX_LEFT.inc()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads: each statement on its own (no transaction), nothing written."""
        async with self._read_sessions() as session:
            yield session

    @asynccontextmanager
    async def driver_read(self) -> AsyncIterator[Any]:
        """The asyncpg connection of one of the pool's connections, for a hot read or two sent as they are: each
        statement on its own (no transaction), without a session around it (which costs several times the
        statement: graph/kept_responses.py reads its versions so on every request it answers)."""
        raw = await self.engine.raw_connection()
        try:
            yield raw.driver_connection
        except Exception as exc:
            # A statement PostgreSQL refused, or a mistake of the caller's (a bad cursor) leaves the connection as it
            # was; a broken or timed-out one may be mid-statement: the pool opens a fresh connection instead.
            if isinstance(exc, asyncpg.InterfaceError | OSError | TimeoutError):
                raw.invalidate()
            raise
        except BaseException:  # cancelled mid-statement
            raw.invalidate()
            raise
        finally:
            raw.close()

    async def dispose(self) -> None:
        await self._marks.close()
        await self.engine.dispose()
