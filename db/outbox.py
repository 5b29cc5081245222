"""The outbox: the jobs and live messages of a transaction, stored in that transaction, dispatched after it.

A unit of work gathers what it wants to enqueue (`uow.enqueue_after_commit`) and publish
(`uow.publish_after_commit`) and writes it as one `outbox` row, the transaction's last statement. So the
row commits or rolls back with the change it follows: nothing is sent for a rolled-back change, and
nothing committed is lost when the process dies (or Redis is away) between COMMIT and the dispatch.

Right after COMMIT the process that committed dispatches the row itself (the fast path) and marks it
dispatched. Whatever stays undispatched, the worker's `drain` sends: a row a few seconds old, in
batches, under `FOR UPDATE SKIP LOCKED` so that several workers share the work. A row may thus be
dispatched twice (the process died after dispatching but before marking, or the drain raced it): jobs
carry deterministic ids, which arq queues once, and live subscribers re-read what a message points to.
Dispatched rows are kept for a day (`prune`), then deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from sqlalchemy import DateTime, Select, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models.outbox import outbox

if TYPE_CHECKING:
    from db.session import Database

log = logging.getLogger("valueverse.outbox")

# Sends (channel, message) pairs to live subscribers, all at once; True when Redis took them.
Publish = Callable[[Sequence[tuple[str, bytes]]], Awaitable[bool]]

OUTBOX_LEFT = Counter(
    "valueverse_outbox_left_for_drain_total",
    "Committed outbox rows the committing process could not dispatch (Redis away): the worker's drain sends them",
)

BATCH = 200  # rows per drain transaction
MAX_BATCHES = 10  # per drain run: a long backlog is worked off over several runs, never in one long job
GRACE = timedelta(seconds=5)  # a younger undispatched row is probably being dispatched by its own process
MESSAGE_TTL = timedelta(minutes=10)  # older live messages are not sent late: subscribers re-read on reconnect
KEEP = timedelta(days=1)  # dispatched rows kept this long, for whoever wants to know what went out
PRUNE_BATCH = 5000
BACKLOG_CAP = 100_000  # rows counted at most: past that, the figure only needs to say "a lot"

Json = None | bool | int | str | list["Json"] | dict[str, "Json"]


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """An arq job: its function's name, its arguments (JSON values), its deterministic id."""

    name: str
    args: tuple[Json, ...]
    job_id: str
    defer_until: str | None = None  # ISO 8601: arq runs it no earlier (a dunning retry's planned time)


# Queues jobs; True when every one is queued (or already was: an id arq knows is not queued again).
Enqueue = Callable[[Sequence[QueuedJob]], Awaitable[bool]]


def plain(value: Any) -> Json:
    """A job argument as it is stored and as the job receives it, whichever path dispatches it: JSON values
    only (a float would come back as Decimal, a UUID or a datetime as a string: pass strings)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: plain(v) for k, v in value.items()}
    raise TypeError(f"a job argument must be a JSON value (str, int, bool, None, list, dict): {type(value).__name__}")


def _row(messages: Sequence[tuple[str, bytes]], jobs: Sequence[QueuedJob]) -> dict[str, Any]:
    return {
        "messages": [[channel, message.decode()] for channel, message in messages],
        "jobs": [
            [job.name, list(job.args), job.job_id] + ([job.defer_until] if job.defer_until else []) for job in jobs
        ],
    }


def _messages(stored: list[list[str]]) -> list[tuple[str, bytes]]:
    return [(channel, message.encode()) for channel, message in stored]


def _jobs(stored: list[list[Any]]) -> list[QueuedJob]:
    return [QueuedJob(job[0], tuple(job[1]), job[2], job[3] if len(job) > 3 else None) for job in stored]


async def write(session: AsyncSession, messages: Sequence[tuple[str, bytes]], jobs: Sequence[QueuedJob]) -> int:
    """Store what the transaction will dispatch (in that transaction); the row's id."""
    return (await session.execute(insert(outbox).values(_row(messages, jobs)).returning(outbox.c.id))).scalar_one()


async def mark_dispatched(conn: AsyncConnection | AsyncSession, ids: Sequence[int]) -> None:
    await conn.execute(
        text("UPDATE outbox SET dispatched_at = clock_timestamp() WHERE id = ANY(:ids) AND dispatched_at IS NULL"),
        {"ids": list(ids)},
    )


async def send(
    publish: Publish | None, enqueue: Enqueue | None, messages: Sequence[tuple[str, bytes]], jobs: Sequence[QueuedJob]
) -> bool:
    """Publish and enqueue; True only when all of it went out (never raises: what failed stays for the drain)."""
    sent = True
    try:
        if messages:
            sent = publish is not None and bool(await publish(messages))
        if jobs:
            sent = enqueue is not None and bool(await enqueue(jobs)) and sent
    except Exception:
        log.exception("dispatching %d message(s) and %d job(s) failed", len(messages), len(jobs))
        return False
    return sent


def _undispatched(batch: int, grace: timedelta, message_ttl: timedelta) -> Select[Any]:
    now = func.clock_timestamp(type_=DateTime(timezone=True))
    return (
        select(outbox.c.id, outbox.c.messages, outbox.c.jobs, (outbox.c.created_at > now - message_ttl).label("fresh"))
        .where(outbox.c.dispatched_at.is_(None), outbox.c.created_at < now - grace)
        .order_by(outbox.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )


@dataclass
class Drained:
    rows: int = 0
    messages: int = 0
    jobs: int = 0
    expired_messages: int = 0  # too old to be worth a live push


async def drain(
    db: Database,
    *,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    grace: timedelta = GRACE,
    message_ttl: timedelta = MESSAGE_TTL,
) -> Drained:
    """Dispatch the undispatched rows older than `grace`, oldest first, `batch` rows per transaction; stop at
    the first batch that cannot be dispatched (Redis away: the next run tries again)."""
    done = Drained()
    for _ in range(max_batches):
        async with db.sessions() as session, session.begin():
            rows = (await session.execute(_undispatched(batch, grace, message_ttl))).all()
            if not rows:
                return done
            messages = [m for row in rows if row.fresh for m in _messages(row.messages)]
            jobs = [j for row in rows for j in _jobs(row.jobs)]
            if not await send(db.publish, db.enqueue, messages, jobs):
                log.warning("the outbox drain could not dispatch %d row(s): trying again at its next run", len(rows))
                return done
            await mark_dispatched(session, [row.id for row in rows])
        done.rows += len(rows)
        done.messages += len(messages)
        done.jobs += len(jobs)
        done.expired_messages += sum(len(row.messages) for row in rows if not row.fresh)
        if len(rows) < batch:
            return done
    return done


async def prune(db: Database, *, keep: timedelta = KEEP, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` rows dispatched and older than `keep` (never an undispatched one); how many."""
    now = func.clock_timestamp(type_=DateTime(timezone=True))
    old = (
        select(outbox.c.id)
        .where(outbox.c.created_at < now - keep, outbox.c.dispatched_at.is_not(None))
        .order_by(outbox.c.created_at)
        .limit(limit)
    )
    async with db.sessions() as session, session.begin():
        result = await session.execute(delete(outbox).where(outbox.c.id.in_(old.scalar_subquery())))
        return result.rowcount  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class Backlog:
    rows: int  # at most BACKLOG_CAP
    oldest_seconds: float  # age of the oldest undispatched row (0 without one)


async def backlog(session: AsyncSession) -> Backlog:
    """What is committed and not yet dispatched (the partial index keeps this cheap while it is small)."""
    row = (
        await session.execute(
            text(
                "SELECT count(*) AS rows, coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0) AS age "
                "FROM (SELECT created_at FROM outbox WHERE dispatched_at IS NULL ORDER BY id LIMIT :cap) AS pending"
            ),
            {"cap": BACKLOG_CAP},
        )
    ).one()
    return Backlog(int(row.rows), float(row.age))
