"""Many writers adding to the same rollup rows and claiming the same keys at once (docs: no 503 unless
storage is unavailable; every acknowledged event counted once).

The test stack runs two API processes, each with its own group-commit writers: concurrent batches for the
same customers and hours, their events in different orders, many of them resending other batches'
transaction ids, over both `POST /v1/events` and `ingestUsage`. Before the writers took their row locks
in one order, such batches deadlocked and were answered 503.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import orjson

from tests.db import scalar
from tests.graph.catalog_helpers import USAGE, customer, metric, plan, subscribe, uid

INGEST = """mutation($input: IngestUsageInput!) { ingestUsage(input: $input) {
  accepted duplicates rejected { index code message } userErrors { code } } }"""

CUSTOMERS = 20
HOURS = 3
REGIONS = ("eu", "us")
EVENTS = 8000  # distinct transaction ids
BATCHES = 64


async def _setup(api) -> tuple[str, list[str]]:
    m = uid("contended")
    await metric(api, m, "SUM", "value", filters=[{"key": "region", "values": list(REGIONS)}])
    await plan(api, "p-" + m, [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}])
    started = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    customers = []
    for n in range(CUSTOMERS):
        c = f"c{n}-{m}"
        await customer(api, c)
        await subscribe(api, c, "p-" + m, "s-" + c, startedAt=started, billingTime="ANNIVERSARY")
        customers.append(c)
    return m, customers


async def test_overlapping_batches_of_two_processes_never_fail_and_count_each_event_once(stack, tenant) -> None:
    m, customers = await _setup(tenant.api)
    rng = random.Random(9)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # Every event falls into one of CUSTOMERS x HOURS x REGIONS rollup rows that all batches add to.
    events = []
    for i in range(EVENTS):
        at = hour - timedelta(hours=1 + i % HOURS, minutes=rng.randrange(60), seconds=rng.randrange(60))
        events.append({"transactionId": f"{m}-{i}", "customerExternalId": customers[i % CUSTOMERS],
                       "metricCode": m, "timestamp": at.isoformat(),
                       "properties": {"value": str(Decimal(rng.randrange(1, 1000)) / 100),
                                      "region": REGIONS[(i // CUSTOMERS) % 2]}})
    # Each event is sent in at least one batch; batches overlap (the same ids sent two or three times), and each
    # lists its events in its own order, so two batches meet the same rows in different orders.
    order = list(range(EVENTS))
    rng.shuffle(order)
    batches = [order[k::BATCHES] for k in range(BATCHES)]
    for batch in batches:  # of different sizes: PostgreSQL plans each group commit's MERGE for its size
        batch += rng.sample(range(EVENTS), rng.randrange(10, 600))
        rng.shuffle(batch)
    headers = {"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"}

    async def send(http: aiohttp.ClientSession, n: int, batch: list[int]) -> tuple[int, int, int, list]:
        body = [events[i] for i in batch]
        if n % 2:
            async with http.post(f"{stack.api_url}/v1/events", data=orjson.dumps(body), headers=headers) as r:
                answer = await r.json(content_type=None)
                if r.status != 200:
                    return r.status, 0, 0, [answer]
                return r.status, answer["accepted"], answer["duplicates"], answer["rejected"]
        payload = {"query": INGEST, "variables": {"input": {"events": body}}}
        async with http.post(stack.graphql_url, data=orjson.dumps(payload), headers=headers) as r:
            answer = await r.json(content_type=None)
            if r.status != 200 or answer.get("errors"):
                return r.status, 0, 0, [answer]
            result = answer["data"]["ingestUsage"]
            return r.status, result["accepted"], result["duplicates"], result["rejected"] + result["userErrors"]

    # One connection per batch, all at once: both API processes get some of them.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        answers = await asyncio.gather(*(send(http, n, b) for n, b in enumerate(batches)))
    assert [a for a in answers if a[0] != 200 or a[3]] == []
    assert sum(a[1] for a in answers) == EVENTS  # each event acknowledged as new exactly once
    assert sum(a[1] + a[2] for a in answers) == sum(len(b) for b in batches)

    expected: dict[str, Decimal] = defaultdict(Decimal)
    for e in events:
        expected[e["customerExternalId"]] += Decimal(e["properties"]["value"])
    usages = await asyncio.gather(*(tenant.api(USAGE, c=c) for c in customers))
    assert {c: Decimal(u["customerUsage"]["charges"][0]["units"]) for c, u in zip(customers, usages, strict=True)} \
        == expected
    stored = await scalar(stack.database_url, "SELECT count(*) FROM usage_events WHERE metric_code = $1", m)
    rolled = await scalar(stack.database_url, "SELECT sum(events) FROM usage_rollups WHERE metric_code = $1", m)
    assert stored == rolled == EVENTS
