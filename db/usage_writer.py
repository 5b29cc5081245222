"""Group commit for usage events: concurrent requests share one transaction and one COPY.

Each request hands its rows to the writer and waits; a writer task takes everything queued
(up to MAX_ROWS), COPYs it into a temporary staging table, and in one statement claims the
new idempotency keys, inserts the new events, updates the hourly rollups and bumps the usage
version of each customer with new events (what kept `customerUsage` answers are checked against),
then commits.
Only after the commit does each request learn which of its transaction ids were new: an
acknowledged event is durable.

One request's bad row must not fail the others: when PostgreSQL refuses a batch for its data
(`db.faults.Fault.DATA`), the writer stores it again by halves under savepoints, in one transaction,
so that only the refused rows are refused (each with a reason); every other row commits. Only an
unavailable database fails a whole batch (`WriterUnavailable`: nothing of it is stored).

Several writers (two per API process, several processes) add to the same rollup rows and may claim
the same idempotency keys at once. Each MERGE takes its row locks in one order: the keys sorted by
(organization, transaction id), then the rollup rows sorted by their conflict key, so two writers wait
for each other but never in a cycle (`EXPLAIN` shows a Sort, or a sorted GroupAggregate, under each
INSERT). A deadlock or serialization failure that happens anyway is tried again (`_store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import asyncpg
from prometheus_client import Counter

from db.faults import Fault, fault

log = logging.getLogger("valueverse.usage_writer")

MAX_ROWS = 20_000
COLUMNS = (
    "organization_id",
    "transaction_id",
    "customer_external_id",
    "subscription_external_id",
    "metric_code",
    "timestamp",
    "properties",
    "value",
    "dims",
    "received_at",
)

STAGING = """
CREATE TEMP TABLE IF NOT EXISTS usage_staging (
    organization_id uuid, transaction_id varchar(200), customer_external_id varchar(200),
    subscription_external_id varchar(200), metric_code varchar(100), "timestamp" timestamptz,
    properties jsonb, value numeric, dims text, received_at timestamptz
) ON COMMIT DELETE ROWS"""

# Row locks are taken in the order each INSERT reads its input: `staged` is sorted by the keys' primary key,
# `rolled` by the rollups' conflict key and `bumped` by the usage versions' (ORDER BY), and the parts of one statement
# run in one order (the keys first: the outer SELECT reads them): the same total order in every writer, so no
# deadlock between them.
MERGE = """
WITH staged AS (
    SELECT DISTINCT ON (organization_id, transaction_id) * FROM usage_staging
    ORDER BY organization_id, transaction_id
), new_keys AS (
    INSERT INTO usage_event_keys (organization_id, transaction_id)
    SELECT organization_id, transaction_id FROM staged
    ON CONFLICT DO NOTHING
    RETURNING organization_id, transaction_id
), new_events AS (
    INSERT INTO usage_events (organization_id, transaction_id, customer_external_id, subscription_external_id,
                              metric_code, "timestamp", properties, value, dims, received_at)
    SELECT s.organization_id, s.transaction_id, s.customer_external_id, s.subscription_external_id, s.metric_code,
           s."timestamp", s.properties, s.value, s.dims, s.received_at
    FROM staged s JOIN new_keys k USING (organization_id, transaction_id)
    RETURNING organization_id, customer_external_id, subscription_external_id, metric_code, "timestamp", value, dims
), rolled AS (
    INSERT INTO usage_rollups AS r (organization_id, customer_external_id, metric_code, hour,
                                    subscription_external_id, dims, events, value_sum, value_max)
    SELECT organization_id, customer_external_id, metric_code, date_trunc('hour', "timestamp", 'UTC'),
           coalesce(subscription_external_id, ''), dims, count(*), coalesce(sum(value), 0), max(value)
    FROM new_events
    GROUP BY 1, 2, 3, 4, 5, 6
    ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (organization_id, customer_external_id, metric_code, hour, subscription_external_id, dims)
    DO UPDATE SET events = r.events + excluded.events, value_sum = r.value_sum + excluded.value_sum,
                  value_max = greatest(r.value_max, excluded.value_max)
    RETURNING organization_id, customer_external_id
), bumped AS (
    -- Each customer with new events: its kept usage answers (db/usage_answers.py) are stale from this commit on.
    -- (From the rollup rows written, far fewer than the events.)
    INSERT INTO usage_versions AS v (organization_id, customer_external_id, version)
    SELECT organization_id, customer_external_id, 1 FROM rolled
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (organization_id, customer_external_id) DO UPDATE SET version = v.version + 1
)
SELECT organization_id, transaction_id FROM new_keys
"""


class EventRow(NamedTuple):
    """One event as stored; a tuple so that COPY takes it as it is."""

    organization_id: uuid.UUID
    transaction_id: str
    customer_external_id: str
    subscription_external_id: str | None
    metric_code: str
    timestamp: datetime
    properties: str  # JSON text
    value: Decimal | None
    dims: str
    received_at: datetime


class WriterUnavailable(Exception):
    """The events could not be stored (database unreachable); nothing was acknowledged."""


class Stored(NamedTuple):
    """What became of a request's rows: the new transaction ids, and those refused with the reason."""

    inserted: set[str]
    refused: dict[str, str]


Key = tuple[uuid.UUID, str]

TRANSIENT_ATTEMPTS = 5
"""A batch that meets a deadlock or serialization failure is tried this many times in all."""
RETRY_PAUSE = 0.005
"""Before its n-th retry a batch waits a random time up to n times this many seconds."""
RETRIES = Counter(
    "valueverse_usage_writer_retries_total",
    "Group commits of usage events tried again after a deadlock or serialization failure",
    ["sqlstate"],
)
ISOLATION_FAILURES = 256
"""Failed parts an isolation may try before it refuses every part still failing whole (bounded work)."""


def _refusal(error: BaseException) -> str:
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate:
        return f"the database refused to store this event (SQLSTATE {sqlstate})"
    return "this event could not be encoded for storage"


class UsageWriter:
    def __init__(self, dsn: str, *, writers: int = 2) -> None:
        self.dsn = dsn
        self.writers = writers
        self._queue: asyncio.Queue[tuple[Sequence[EventRow], asyncio.Future[Stored]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run(), name=f"usage-writer-{i}") for i in range(self.writers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def write(self, rows: Sequence[EventRow]) -> set[str]:
        """Store the rows whose (organization, transaction id) is new; return those transaction ids."""
        return (await self.store(rows)).inserted

    async def store(self, rows: Sequence[EventRow]) -> Stored:
        """Store the rows whose (organization, transaction id) is new: those ids, and the rows refused.

        A row is refused only when the database refuses that row itself (see `_isolate`); the others
        are stored all the same. Raises WriterUnavailable when storage is unavailable: then none of
        these rows was stored."""
        if not rows:
            return Stored(set(), {})
        if not self._tasks:
            raise WriterUnavailable("the usage writer is not running")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        await self._queue.put((rows, future))
        return await future

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.dsn)
        await conn.execute(STAGING)
        return conn

    async def _run(self) -> None:
        conn: asyncpg.Connection | None = None
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0][0])
            while size < MAX_ROWS and not self._queue.empty():
                item = self._queue.get_nowait()
                batch.append(item)
                size += len(item[0])
            rows = [row for rows, _ in batch for row in rows]
            try:
                conn, inserted, refused = await self._store(conn, rows)
            except asyncio.CancelledError:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(WriterUnavailable("the server is shutting down"))
                raise
            except Exception as exc:
                log.exception("usage batch of %d events failed: storage unavailable", size)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                    conn = None
                for _, future in batch:
                    if not future.done():
                        future.set_exception(WriterUnavailable(str(exc)))
                continue
            # A key sent by two requests of the same batch is new for the first one only.
            for request_rows, future in batch:
                mine: set[str] = set()
                theirs: dict[str, str] = {}
                for r in request_rows:
                    key = (r.organization_id, r.transaction_id)
                    if key in inserted:
                        inserted.discard(key)
                        mine.add(r.transaction_id)
                    elif key in refused:
                        theirs[r.transaction_id] = refused[key]
                if not future.done():
                    future.set_result(Stored(mine, theirs))

    async def _store(
        self, conn: asyncpg.Connection | None, rows: list[EventRow]
    ) -> tuple[asyncpg.Connection, set[Key], dict[Key, str]]:
        """One shared transaction for the batch; if the database refuses it for its data, `_isolate`.

        A deadlock or serialization failure (SQLSTATE 40P01, 40001: `Fault.TRANSIENT`) rolled the whole
        transaction back, so the whole group commit is tried again, up to TRANSIENT_ATTEMPTS times in
        all: nothing of it was stored and nobody was answered yet, so no event is lost or counted twice.
        Writers take their row locks in one order (see MERGE), so this is the exception, not the rule."""
        for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
            if conn is None or conn.is_closed():
                conn = await self._connect()
            try:
                try:
                    return conn, await self._merge(conn, rows), {}
                except Exception as exc:
                    if fault(exc) is not Fault.DATA:
                        raise
                    log.warning("a usage batch of %d events was refused (%s): storing its parts apart", len(rows),
                                getattr(exc, "sqlstate", type(exc).__name__))
                    inserted, refused = await self._isolate(conn, rows)
                    return conn, inserted, refused
            except Exception as exc:
                if fault(exc) is not Fault.TRANSIENT or attempt == TRANSIENT_ATTEMPTS:
                    raise
                sqlstate = getattr(exc, "sqlstate", None) or "40"
                RETRIES.labels(sqlstate).inc()
                log.info("usage batch of %d events: %s (SQLSTATE %s), trying again", len(rows), exc, sqlstate)
                # Apart from the other party, which goes on at once.
                await asyncio.sleep(random.uniform(0, RETRY_PAUSE * attempt))
        raise AssertionError("unreachable")

    async def _isolate(self, conn: asyncpg.Connection, rows: list[EventRow]) -> tuple[set[Key], dict[Key, str]]:
        """Find the rows the database refuses, by halves, and store all the others.

        Still one transaction, committed once: each part is tried under a savepoint, a refused part is
        rolled back to it and split, until the refused rows stand alone. One bad row among n costs about
        2·log2(n) tries. After ISOLATION_FAILURES failed tries, a part still failing is refused whole.
        Any error but a refusal of the data ends it all (nothing committed: the caller answers 503)."""
        inserted: set[Key] = set()
        refused: dict[Key, str] = {}
        failures = 0
        async with conn.transaction():
            middle = len(rows) // 2
            parts = [rows[middle:], rows[:middle]] if middle else [rows]
            while parts:
                part = parts.pop()
                try:
                    async with conn.transaction():  # a savepoint
                        inserted |= await self._stage_and_merge(conn, part)
                        await conn.execute("DELETE FROM usage_staging")
                except Exception as exc:
                    if fault(exc) is not Fault.DATA:
                        raise
                    failures += 1
                    if len(part) == 1 or failures > ISOLATION_FAILURES:
                        reason = _refusal(exc)
                        refused.update({(r.organization_id, r.transaction_id): reason for r in part})
                        log.warning("usage: %d event(s) refused by the database: %s", len(part), exc)
                    else:
                        middle = len(part) // 2
                        parts += [part[middle:], part[:middle]]
        return inserted, refused

    @staticmethod
    async def _stage_and_merge(conn: asyncpg.Connection, rows: list[EventRow]) -> set[Key]:
        await conn.copy_records_to_table("usage_staging", records=rows, columns=COLUMNS)
        result = await conn.fetch(MERGE)
        return {(r["organization_id"], r["transaction_id"]) for r in result}

    @classmethod
    async def _merge(cls, conn: asyncpg.Connection, rows: list[EventRow]) -> set[Key]:
        async with conn.transaction():
            return await cls._stage_and_merge(conn, rows)
