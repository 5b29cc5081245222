"""customerUsage latency for a customer with 1,000,000 events in the current period (budget: p95 < 50 ms).

    .venv/bin/python bench/usage_query.py [--events 1000000] [--raw-events 100000] [--profile /tmp/usage]

How the events get there: NOT through HTTP (that would take minutes), but through the server's
own write path in-process: each event is validated by services.usage.ingestion._validated (the function
POST /v1/events uses) and stored by db.usage_writer.UsageWriter, i.e. COPY into the staging table
and the writer's MERGE statement, which claims the idempotency keys, inserts usage_events and
upserts usage_rollups. So events, keys and rollups are exactly what ingestion would have made.
The events are spread evenly over the current period up to now (the subscription started 20 days
ago, anniversary billing), so the two partial hours at the ends are read as raw events as in life.

Measured:
  * SUM metric with a filter dimension (rollup path): --requests sequential customerUsage requests
    over one keep-alive connection, then --concurrent clients at once;
  * UNIQUE_COUNT metric (raw path: every event of the period is read) with --raw-events events,
    sequential requests bounded by --raw-seconds;
  * the database part alone (the same SQL through asyncpg) to split database from Python time.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import asyncpg
import common
from common import Api, BenchStack, budget_line, mib, ms, percentile

SUM_METRIC, RAW_METRIC = "api_calls", "active_users"
BIG, RAW = "cust-big", "cust-raw"
USAGE = """query($c: String!) { customerUsage(customerExternalId: $c) {
  fromDatetime toDatetime currency amount subscriptionExternalId
  charges { billableMetricCode model units amount
    breakdown { kind units fromValue toValue perUnitAmount rate flatAmount amount }
    filters { values units amount } } } }"""


async def setup(stack: BenchStack) -> dict[str, dict]:
    assert stack.org is not None
    started = datetime.now(UTC) - timedelta(days=20)
    async with aiohttp.ClientSession() as http:
        api = Api(http, stack.graphql_url, stack.org.api_key)
        await common.create_metric(api, SUM_METRIC, "SUM", "value", {"region": common.REGIONS})
        await common.create_metric(api, RAW_METRIC, "UNIQUE_COUNT", "user")
        await common.create_plan(api, "sum-plan", [{
            "billableMetricCode": SUM_METRIC, "model": "STANDARD", "properties": {"amount": "0.0001"},
            "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "0.0002"}}]}])
        await common.create_plan(api, "raw-plan", [{
            "billableMetricCode": RAW_METRIC, "model": "STANDARD", "properties": {"amount": "0.50"}}])
        subs = await common.create_customers(api, [BIG], "sum-plan", started_at=started)
        subs.update(await common.create_customers(api, [RAW], "raw-plan", started_at=started))
    return subs


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


async def load(stack: BenchStack, subs: dict[str, dict], n_sum: int, n_raw: int) -> None:
    """Validate with the ingestion code and store with the server's writer (COPY + MERGE)."""
    from db.usage_writer import UsageWriter
    from domain.aggregation import Aggregation
    from services.usage.ingestion import EventInput, IngestResult, MetricInfo, _validated

    assert stack.org is not None
    org = uuid.UUID(stack.org.organization_id)
    metrics = {SUM_METRIC: MetricInfo(SUM_METRIC, Aggregation.SUM, "value", ("region",)),
               RAW_METRIC: MetricInfo(RAW_METRIC, Aggregation.UNIQUE_COUNT, "user", ())}
    customers = {BIG, RAW}
    writer = UsageWriter(stack.database_url)
    await writer.start()
    try:
        for customer, metric, n in ((BIG, SUM_METRIC, n_sum), (RAW, RAW_METRIC, n_raw)):
            t0 = time.perf_counter()
            now = datetime.now(UTC)
            start = _parse(subs[customer]["currentPeriodStart"])
            span = (now - timedelta(seconds=1) - start) / n
            stored = 0
            for block in range(0, n, 100_000):
                scratch = IngestResult()
                rows = []
                for i in range(block, min(n, block + 100_000)):
                    properties = ({"value": Decimal(common.event_value(i)), "region": common.REGIONS[i % 3]}
                                  if metric == SUM_METRIC else {"user": f"user-{(i * 7919) % 5000}"})
                    event = EventInput(f"q-{customer}-{i}", metric, customer, None, start + span * (i + 0.5),
                                       properties)
                    rows.append(_validated(scratch, i, event, org, metrics, customers, {}, now, {}))  # no test clocks
                if scratch.rejected:
                    raise common.BenchError(f"rejected while loading: {scratch.rejected[:3]}")
                done = await asyncio.gather(*(writer.write(rows[j:j + 5000]) for j in range(0, len(rows), 5000)))
                stored += sum(len(d) for d in done)
            if stored != n:
                raise common.BenchError(f"stored {stored} of {n}")
            print(f"loaded {n:,} {metric} events for {customer} in {time.perf_counter() - t0:.1f} s "
                  f"(validation + UsageWriter COPY/MERGE, no HTTP)", flush=True)
    finally:
        await writer.stop()


async def expected(stack: BenchStack, subs: dict[str, dict]) -> dict[str, Decimal]:
    assert stack.org is not None
    org = uuid.UUID(stack.org.organization_id)
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute("VACUUM ANALYZE usage_events")
        await conn.execute("VACUUM ANALYZE usage_rollups")
        big_start = _parse(subs[BIG]["currentPeriodStart"])
        total = await conn.fetchval("SELECT sum(value) FROM usage_events WHERE organization_id = $1 AND "
                                    "customer_external_id = $2 AND metric_code = $3 AND timestamp >= $4",
                                    org, BIG, SUM_METRIC, big_start)
        users = await conn.fetchval("SELECT count(DISTINCT properties->>'user') FROM usage_events WHERE "
                                    "organization_id = $1 AND customer_external_id = $2 AND metric_code = $3",
                                    org, RAW, RAW_METRIC)
        rollups = await conn.fetchval("SELECT count(*) FROM usage_rollups WHERE organization_id = $1 AND "
                                      "customer_external_id = $2", org, BIG)
        print(f"database: {rollups:,} hourly rollup rows for {BIG}; expected units {total} (SUM), {users} (UNIQUE)")
        return {BIG: total, RAW: Decimal(users)}
    finally:
        await conn.close()


async def db_only(stack: BenchStack, subs: dict[str, dict], rounds: int = 20) -> dict[str, float]:
    """The usage queries' SQL (as db/repositories/usage.py builds it) through asyncpg: the database's share."""
    assert stack.org is not None
    org = uuid.UUID(stack.org.organization_id)
    now = datetime.now(UTC)
    start = _parse(subs[BIG]["currentPeriodStart"])
    first_hour = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    last_hour = now.replace(minute=0, second=0, microsecond=0)
    belongs = ("organization_id = $1 AND customer_external_id = $2 AND ({none} OR subscription_external_id = $3) "
               "AND metric_code = ANY($4::varchar[])")
    rollup_sql = ("SELECT metric_code, dims, sum(events), sum(value_sum), max(value_max) FROM usage_rollups WHERE "
                  + belongs.format(none="subscription_external_id = ''")
                  + " AND hour >= $5 AND hour < $6 GROUP BY metric_code, dims")
    events_sql = ("SELECT transaction_id, metric_code, timestamp, properties FROM usage_events WHERE "
                  + belongs.format(none="subscription_external_id IS NULL")
                  + " AND timestamp >= $5 AND timestamp < $6 ORDER BY timestamp, transaction_id")
    out: dict[str, float] = {}
    conn = await asyncpg.connect(stack.database_url)
    try:
        async def timed(name: str, sql: str, *params: object) -> None:
            samples = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                rows = await conn.fetch(sql, *params)
                samples.append(time.perf_counter() - t0)
            out[name] = percentile(samples, 50)
            out[name + "_rows"] = len(rows)

        await timed("rollups", rollup_sql, org, BIG, f"sub-{BIG}", [SUM_METRIC], first_hour, last_hour)
        await timed("edge_start", events_sql, org, BIG, f"sub-{BIG}", [SUM_METRIC], start, first_hour)
        await timed("edge_end", events_sql, org, BIG, f"sub-{BIG}", [SUM_METRIC], last_hour, now)
        raw_start = _parse(subs[RAW]["currentPeriodStart"])
        await timed("raw", events_sql, org, RAW, f"sub-{RAW}", [RAW_METRIC], raw_start, now + timedelta(days=40))
    finally:
        await conn.close()
    return out


async def sequential(stack: BenchStack, customer: str, n: int, max_seconds: float) -> tuple[list[float], dict]:
    assert stack.org is not None
    async with aiohttp.ClientSession() as http:
        api = Api(http, stack.graphql_url, stack.org.api_key)
        for _ in range(3):  # warm-up: connection, caches, first-use imports
            last = await api(USAGE, c=customer)
        samples: list[float] = []
        deadline = time.perf_counter() + max_seconds
        while len(samples) < n and time.perf_counter() < deadline:
            t0 = time.perf_counter()
            last = await api(USAGE, c=customer)
            samples.append(time.perf_counter() - t0)
    return samples, last["customerUsage"]


async def concurrent(stack: BenchStack, customer: str, clients: int, per_client: int) -> tuple[list[float], float]:
    assert stack.org is not None
    samples: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        api = Api(http, stack.graphql_url, stack.org.api_key)

        async def client() -> None:
            for _ in range(per_client):
                t0 = time.perf_counter()
                await api(USAGE, c=customer)
                samples.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return samples, time.perf_counter() - t0


def summary(samples: list[float]) -> str:
    return (f"n={len(samples)}, p50 {ms(percentile(samples, 50))}, p95 {ms(percentile(samples, 95))}, "
            f"p99 {ms(percentile(samples, 99))}, max {ms(max(samples))}")


def main() -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events of the SUM customer")
    p.add_argument("--raw-events", type=int, default=100_000, help="events of the UNIQUE_COUNT customer")
    p.add_argument("--requests", type=int, default=200, help="sequential requests per measurement")
    p.add_argument("--concurrent", type=int, default=50, help="concurrent clients (0: skip)")
    p.add_argument("--per-client", type=int, default=4, help="requests per concurrent client")
    p.add_argument("--raw-seconds", type=float, default=30.0, help="time bound of the raw-path measurement")
    p.add_argument("--profile", type=Path, help="py-spy the server: <PATH>.sum.raw and <PATH>.raw.raw")
    args = p.parse_args()
    common.exit_cleanly_on_sigterm()

    lines: list[str] = []
    with BenchStack(args.database_url, args.redis_url, keep_logs=args.keep_logs,
                    processes=args.web_concurrency) as stack:
        assert stack.server is not None
        print(common.machine_summary(stack.database_url))
        subs = asyncio.run(setup(stack))
        asyncio.run(load(stack, subs, args.events, args.raw_events))
        want = asyncio.run(expected(stack, subs))

        def profiled(suffix: str, seconds: float):
            if not args.profile:
                return None
            prof = common.Profiler(stack.server.pid, Path(f"{args.profile}.{suffix}.raw"), seconds)
            prof.start()
            return prof

        prof = profiled("sum", 8)
        seq, answer = asyncio.run(sequential(stack, BIG, args.requests, 120))
        if prof:
            prof.finish(20)
        units = Decimal(answer["charges"][0]["units"])
        print(f"\ncustomerUsage, SUM over {args.events:,} events (rollups + partial-hour edges), sequential: "
              f"{summary(seq)}")
        print(f"  units {units} (database says {want[BIG]}: {'equal' if units == want[BIG] else 'DIFFERENT'}), "
              f"amount {answer['amount']}")
        lines.append(budget_line(f"customerUsage p95, {args.events:,} events (sequential)",
                                 ms(percentile(seq, 95)), "< 50 ms", percentile(seq, 95) < 0.050))
        lines.append(budget_line("customerUsage units = SUM of the stored events", str(units), str(want[BIG]),
                                 units == want[BIG]))
        if args.concurrent:
            conc, elapsed = asyncio.run(concurrent(stack, BIG, args.concurrent, args.per_client))
            print(f"  {args.concurrent} concurrent clients x {args.per_client}: {summary(conc)}; "
                  f"{len(conc) / elapsed:.0f} requests/s")

        prof = profiled("raw", 8)
        raw, raw_answer = asyncio.run(sequential(stack, RAW, args.requests, args.raw_seconds))
        if prof:
            prof.finish(20)
        raw_units = Decimal(raw_answer["charges"][0]["units"])
        print(f"\ncustomerUsage, UNIQUE_COUNT over {args.raw_events:,} events (raw path), sequential "
              f"(bounded by {args.raw_seconds:.0f} s): {summary(raw)}")
        print(f"  units {raw_units} (database says {want[RAW]}: {'equal' if raw_units == want[RAW] else 'DIFFERENT'})")
        lines.append(budget_line(f"customerUsage p95, UNIQUE_COUNT raw path, {args.raw_events:,} events "
                                 "(reported; the budget is for the rollup path)", ms(percentile(raw, 95)),
                                 "< 50 ms", percentile(raw, 95) < 0.050))

        split = asyncio.run(db_only(stack, subs))
        print("\nthe same SQL through asyncpg (median of 20), i.e. the database's share:")
        print(f"  rollups of the whole hours   {ms(split['rollups'])} ({split['rollups_rows']:.0f} rows)")
        print(f"  raw events, first partial hour {ms(split['edge_start'])} ({split['edge_start_rows']:,.0f} rows); "
              f"current partial hour {ms(split['edge_end'])} ({split['edge_end_rows']:,.0f} rows)")
        print(f"  raw path: every event of the period {ms(split['raw'])} ({split['raw_rows']:,.0f} rows)")
        print(f"\nserver RSS at the end: {mib(stack.server_rss())}\n")
    return 0 if all("PASS" in line for line in lines[:2]) else 1


if __name__ == "__main__":
    sys.exit(main())
