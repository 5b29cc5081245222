"""The group-commit writer against the real database: rows it cannot store fail alone, whatever refuses them.

Ingestion never hands it such rows (every event is checked first, tests/usage/test_poisoned_batches.py);
this is the safety net behind that check, driven directly with rows no request could produce.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from db.usage_writer import EventRow, UsageWriter
from tests.db import scalar


def _row(org: uuid.UUID, tid: str, properties: str = '{"value": 1}', value: Decimal | None = Decimal(1)) -> EventRow:
    now = datetime.now(UTC)
    return EventRow(org, tid, "writer-customer", None, "writer_units", now, properties, value, "", now)


async def test_rows_the_driver_or_the_database_refuse_are_refused_alone(stack) -> None:
    writer = UsageWriter(stack.database_url)
    await writer.start()
    org, other = uuid.uuid4(), uuid.uuid4()
    try:
        poisoned = [_row(org, f"w-{i}") for i in range(40)]
        poisoned[3] = _row(org, "w-surrogate", '{"k": "\ud800"}')  # cannot be encoded as UTF-8 (driver)
        poisoned[17] = _row(org, "w-nul", '{"k": "\\u0000"}')  # jsonb refuses U+0000 (database, 22P05)
        poisoned[30] = _row(org, "w-huge", '{"value": 1e999999}', Decimal("1e999999"))  # numeric overflow
        clean = [[_row(other, f"c-{n}-{i}") for i in range(50)] for n in range(4)]
        outcomes = await asyncio.gather(writer.store(poisoned), *[writer.store(rows) for rows in clean])
    finally:
        await writer.stop()
    mine = outcomes[0]
    assert set(mine.refused) == {"w-surrogate", "w-nul", "w-huge"}
    assert all(reason.startswith(("the database refused", "this event could not be encoded"))
               for reason in mine.refused.values())
    assert len(mine.inserted) == 37
    assert all(len(o.inserted) == 50 and o.refused == {} for o in outcomes[1:])
    stored = await scalar(stack.database_url, "SELECT count(*) FROM usage_event_keys WHERE organization_id = ANY($1)",
                          [org, other])
    assert stored == 37 + 200


async def test_a_commit_of_many_refused_rows_stays_bounded_and_keeps_the_good_ones(stack) -> None:
    writer = UsageWriter(stack.database_url)
    await writer.start()
    org = uuid.uuid4()
    try:
        rows = [_row(org, f"m-{i}", '{"k": "\\u0000"}' if i % 2 else '{"value": 1}') for i in range(2_000)]
        outcome = await writer.store(rows)
    finally:
        await writer.stop()
    bad, good = {f"m-{i}" for i in range(1, 2_000, 2)}, {f"m-{i}" for i in range(0, 2_000, 2)}
    assert bad <= outcome.refused.keys()  # after 256 failed tries, parts still failing are refused whole
    assert outcome.inserted <= good and outcome.inserted
    assert outcome.inserted | outcome.refused.keys() == bad | good
