"""The group-commit writers against each other: one lock order, and a deadlock that happens anyway is retried.

Two writers (of one API process or of two) add to the same hourly rollup rows. Each takes its row locks
in the order of the rollups' key, so when they meet they wait for each other in one direction only. The
interleavings are forced here with a third session holding a row lock; tests/usage/test_writer_contention.py
sends the same kind of load through the public interface.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from prometheus_client import REGISTRY

from db.usage_writer import EventRow, UsageWriter

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
CUSTOMERS = [f"lock-c{n:02d}" for n in range(50)]


def _row(org: uuid.UUID, tid: str, customer: str, hours_ago: int = 0) -> EventRow:
    return EventRow(org, tid, customer, None, "lock_units", HOUR - timedelta(hours=hours_ago, minutes=-7),
                    '{"value": 1}', Decimal(1), "", datetime.now(UTC))


def _retries(sqlstate: str) -> float:
    return REGISTRY.get_sample_value("valueverse_usage_writer_retries_total", {"sqlstate": sqlstate}) or 0.0


async def _waiting(database_url: str, count: int) -> None:
    """Until `count` sessions of this database wait for a row or transaction lock (bounded: 30 s).

    Asked outside any transaction: within one, pg_stat_activity shows what it showed first."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(3000):
            waiting = await conn.fetchval("SELECT count(*) FROM pg_stat_activity "
                                          "WHERE datname = current_database() AND wait_event_type = 'Lock'")
            if waiting >= count:
                return
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    raise AssertionError(f"fewer than {count} sessions ever waited for a lock")


async def _rollups(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, int]:
    """Events per customer, over all its rollup rows."""
    rows = await conn.fetch("SELECT customer_external_id, sum(events) AS events FROM usage_rollups "
                            "WHERE organization_id = $1 GROUP BY 1", org)
    return {r["customer_external_id"]: r["events"] for r in rows}


async def _meet(stack, first: UsageWriter, second: UsageWriter, seed: UsageWriter, rng: random.Random) -> None:
    """Two batches over the same rollup rows, the first one stopped halfway by a row lock held elsewhere."""
    org = uuid.uuid4()
    others = [f"lock-d{n:03d}" for n in range(150)]
    # The rollup rows exist, so that the upserts lock them: 50 customers x 6 hours that both batches add to.
    await seed.store([_row(org, f"seed-{c}-{h}", c, h) for c in CUSTOMERS for h in range(6)])
    shared = [(c, h) for c in CUSTOMERS for h in range(6)]
    # The second batch also adds to 900 rows of other customers, and lists its rows in another order:
    # without one lock order, PostgreSQL's hashed GROUP BY walks the 300 shared rows of the two statements
    # in different orders (its hash table is sized by the number of groups).
    wider = shared + [(c, h) for c in others for h in range(6)]
    rng.shuffle(shared)
    rng.shuffle(wider)
    holder = await asyncpg.connect(stack.database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM usage_rollups WHERE organization_id = $1 AND customer_external_id = $2 "
                                 "FOR UPDATE", org, rng.choice(CUSTOMERS))
            one = asyncio.ensure_future(first.store([_row(org, f"a-{c}-{h}", c, h) for c, h in shared]))
            await _waiting(stack.database_url, 1)
            two = asyncio.ensure_future(second.store([_row(org, f"b-{c}-{h}", c, h) for c, h in wider]))
            await _waiting(stack.database_url, 2)
        stored = await asyncio.gather(one, two)
        assert len(stored[0].inserted) == 300 and len(stored[1].inserted) == 1200
        assert await _rollups(holder, org) == {**{c: 3 * 6 for c in CUSTOMERS}, **{c: 6 for c in others}}
    finally:
        await holder.close()


async def test_two_writers_on_the_same_rollup_rows_wait_in_one_order(stack) -> None:
    writers = [UsageWriter(stack.database_url, writers=1) for _ in range(3)]
    for writer in writers:
        await writer.start()
    try:
        before = _retries("40P01") + _retries("40001")
        rng = random.Random(3)
        for _ in range(4):  # each time other rows (another organization) in other orders
            await _meet(stack, *writers, rng)
        assert _retries("40P01") + _retries("40001") == before  # they waited for each other, never in a cycle
    finally:
        for writer in writers:
            await writer.stop()


async def test_a_group_commit_a_deadlock_aborts_is_tried_again_and_counted_once(stack) -> None:
    org = uuid.uuid4()
    low, high = "lock-a", "lock-z"
    seed = UsageWriter(stack.database_url, writers=1)
    # The writer's session looks for a deadlock after 3 s of waiting, the other one only after a minute:
    # the writer is the one PostgreSQL aborts.
    writer = UsageWriter(stack.database_url + "?deadlock_timeout=3s", writers=1)
    await seed.start()
    await writer.start()
    holder = await asyncpg.connect(stack.database_url)
    try:
        await seed.store([_row(org, "seed-low", low), _row(org, "seed-high", high)])
        before = _retries("40P01")
        async with holder.transaction():
            await holder.execute("SET LOCAL deadlock_timeout = '60s'")
            await holder.execute("SELECT 1 FROM usage_rollups WHERE organization_id = $1 AND customer_external_id = $2 "
                                 "FOR UPDATE", org, high)
            # The writer locks the low row, then waits for the high one; the holder then waits for the low one.
            stored = asyncio.ensure_future(writer.store([_row(org, "t-high", high), _row(org, "t-low", low)]))
            await _waiting(stack.database_url, 1)
            await holder.execute("UPDATE usage_rollups SET events = events WHERE organization_id = $1 "
                                 "AND customer_external_id = $2", org, low)
            # The writer's transaction was aborted (which let the UPDATE through); it waits again, to try it all again.
            for _ in range(3000):
                if _retries("40P01") > before or stored.done():
                    break
                await asyncio.sleep(0.01)
            assert _retries("40P01") == before + 1
            assert not stored.done()
        outcome = await stored
        assert outcome.inserted == {"t-high", "t-low"} and outcome.refused == {}
        assert _retries("40P01") == before + 1
        assert await _rollups(holder, org) == {low: 2, high: 2}  # each event added once
        keys = await holder.fetchval("SELECT count(*) FROM usage_event_keys WHERE organization_id = $1", org)
        assert keys == 4
    finally:
        await holder.close()
        await writer.stop()
        await seed.stop()
