"""Sustained usage ingestion through POST /v1/events (or ingestUsage), against raw COPY of the same rows (the budget).

    .venv/bin/python bench/ingest.py --seconds 30 [--connections 8] [--batch 1000] [--profile /tmp/ingest.raw]
    .venv/bin/python bench/ingest.py --via graphql     # the same batches as the ingestUsage mutation

A load generator process (aiohttp) posts batches of 1,000 events (~100 customers, a SUM metric with
a decimal value and one filter dimension, unique transaction ids) over N keep-alive connections for
a fixed time, after a short warm-up that is not counted. Then the same rows (same columns, same
values, built by the server's own validation code) are COPYed with asyncpg into
  (a) bench_copy, a plain copy of usage_events' columns without any index,
  (b) the real usage_events + usage_event_keys (with their indexes), in one transaction,
and, to show where the API's time goes, stored through (c) the server's own writer
(db.usage_writer.UsageWriter: COPY to staging + MERGE into keys, events and rollups) without HTTP.
Exactly-once is checked at the end: the organization's usage_event_keys = the events the generator
saw accepted.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import asyncpg
import common
from common import (
    Api,
    BenchStack,
    LoadConfig,
    LoadGenerator,
    LoadResult,
    Monitor,
    budget_line,
    mib,
    ms,
    percentile,
)

METRIC = "api_calls"
PLAN = "usage-plan"


async def setup(stack: BenchStack, n_customers: int) -> list[str]:
    assert stack.org is not None
    async with aiohttp.ClientSession() as http:
        api = Api(http, stack.graphql_url, stack.org.api_key)
        await common.create_metric(api, METRIC, "SUM", "value", {"region": common.REGIONS})
        await common.create_plan(api, PLAN, [{
            "billableMetricCode": METRIC, "model": "STANDARD", "properties": {"amount": "0.0001"},
            "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "0.0002"}}]}])
        customers = [f"cust-{i:04d}" for i in range(n_customers)]
        await common.create_customers(api, customers, PLAN)
    return customers


def rebuild_rows(result: LoadResult, cfg: LoadConfig, organization_id: str) -> tuple[list, float]:
    """The rows the server stored for the accepted requests, built by the server's own validation."""
    from domain.aggregation import Aggregation
    from services.usage.ingestion import EventInput, IngestResult, MetricInfo, _validated

    org = uuid.UUID(organization_id)
    metric = MetricInfo(METRIC, Aggregation.SUM, "value", ("region",))
    metrics, customers = {METRIC: metric}, set(cfg.customers)
    received_at = datetime.now(UTC)
    scratch = IngestResult()
    rows = []
    spent = 0.0
    for conn, seq, size, status, accepted, *_ in result.records:
        if status != 200 or accepted == 0:
            continue
        if accepted != size:
            raise common.BenchError(f"request {conn}/{seq}: {accepted} of {size} accepted")
        fields = common.batch_fields(cfg.prefix, conn, seq, size, cfg.customers)
        t0 = time.perf_counter()
        for tx, customer, value, region in fields:
            event = EventInput(tx, METRIC, customer, None, received_at, {"value": Decimal(value), "region": region})
            rows.append(_validated(scratch, 0, event, org, metrics, customers, {}, received_at, {}))
        spent += time.perf_counter() - t0
    if scratch.rejected:
        raise common.BenchError(f"rebuilt rows rejected: {scratch.rejected[:3]}")
    return rows, spent / max(1, len(rows))


def python_costs(cfg: LoadConfig, organization_id: str) -> dict[str, float]:
    """µs per event of what the endpoint does in Python before the writer: JSON decode, conversion, validation."""
    import msgspec

    from domain.aggregation import Aggregation
    from graph.http_events import _decoder, _plain
    from services.usage.ingestion import IngestResult, MetricInfo, _validated

    body = common.batch_body(common.batch_fields("probe", 0, 0, cfg.batch, cfg.customers), METRIC,
                             datetime.now(UTC).isoformat())
    org = uuid.UUID(organization_id)
    metrics = {METRIC: MetricInfo(METRIC, Aggregation.SUM, "value", ("region",))}
    customers = set(cfg.customers)
    rounds = 20
    t0 = time.perf_counter()
    for _ in range(rounds):
        items = _decoder.decode(body)
    t1 = time.perf_counter()
    for _ in range(rounds):
        events = [_plain(item) for item in items]
    t2 = time.perf_counter()
    now = datetime.now(UTC)
    for _ in range(rounds):
        scratch = IngestResult()
        rows = [_validated(scratch, i, e, org, metrics, customers, {}, now, {}) for i, e in enumerate(events)]
    t3 = time.perf_counter()
    assert not scratch.rejected and len(rows) == cfg.batch and isinstance(msgspec.json.decode(b"1"), int)
    per = rounds * cfg.batch / 1e6
    return {"decode": (t1 - t0) / per, "convert": (t2 - t1) / per, "validate": (t3 - t2) / per}


async def copy_phases(stack: BenchStack, rows: list) -> dict[str, float]:
    from db.usage_writer import COLUMNS, UsageWriter

    timings: dict[str, float] = {}
    conn = await asyncpg.connect(stack.database_url)
    try:
        # (a) plain table, no index
        await conn.execute("CREATE TABLE bench_copy (LIKE usage_events)")
        t0 = time.perf_counter()
        await conn.copy_records_to_table("bench_copy", records=rows, columns=COLUMNS)
        timings["copy_plain"] = time.perf_counter() - t0
        await conn.execute("DROP TABLE bench_copy")

        # (b) the real tables with their indexes, under another organization id (same transaction ids)
        org_b = uuid.uuid4()
        rows_b = [r._replace(organization_id=org_b) for r in rows]
        keys_b = [(org_b, r.transaction_id) for r in rows]
        t0 = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("usage_events", records=rows_b, columns=COLUMNS)
            await conn.copy_records_to_table("usage_event_keys", records=keys_b,
                                             columns=("organization_id", "transaction_id"))
        timings["copy_real"] = time.perf_counter() - t0
        del rows_b, keys_b
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()

    # (c) the server's writer (2 writer tasks, group commit up to 20,000 rows), fed 1,000-row requests
    org_c = uuid.uuid4()
    rows_c = [r._replace(organization_id=org_c) for r in rows]
    writer = UsageWriter(stack.database_url)
    await writer.start()
    try:
        chunks = [rows_c[i:i + 1000] for i in range(0, len(rows_c), 1000)]
        t0 = time.perf_counter()
        done = await asyncio.gather(*(writer.write(c) for c in chunks))
        timings["writer"] = time.perf_counter() - t0
        if sum(len(d) for d in done) != len(rows_c):
                raise common.BenchError("the writer did not store every row")
    finally:
        await writer.stop()
    del rows_c

    # (d) the writer's two statements timed apart, one connection, 20,000-row batches (<= 100,000 rows),
    #     and EXPLAIN ANALYZE of the MERGE of the last batch
    from db.usage_writer import MAX_ROWS, MERGE, STAGING

    org_d = uuid.uuid4()
    sample = [r._replace(organization_id=org_d) for r in rows[:100_000]]
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(STAGING)
        copy_s = merge_s = 0.0
        batches = [sample[i:i + MAX_ROWS] for i in range(0, len(sample), MAX_ROWS)]
        for i, batch in enumerate(batches):
            async with conn.transaction():
                t0 = time.perf_counter()
                await conn.copy_records_to_table("usage_staging", records=batch, columns=COLUMNS)
                t1 = time.perf_counter()
                if i == len(batches) - 1:
                    plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + MERGE)
                else:
                    await conn.fetch(MERGE)
                t2 = time.perf_counter()
            copy_s, merge_s = copy_s + t1 - t0, merge_s + time.perf_counter() - t1
        timings.update(split_rows=len(sample), split_copy=copy_s, split_merge=merge_s, split_last=t2 - t1,
                       split_last_rows=len(batches[-1]))
        timings["plan"] = plan  # type: ignore[assignment]
    finally:
        await conn.close()
    return timings


def plan_nodes(plan: object) -> list[str]:
    """One line per plan node: type, relation, actual time (ms, inclusive of children), rows."""
    import json

    root = json.loads(plan)[0] if isinstance(plan, str) else plan[0]  # type: ignore[index]
    lines: list[str] = []

    def walk(node: dict, depth: int) -> None:
        what = node["Node Type"] + (f" {node['Operation']}" if "Operation" in node else "")
        if "Relation Name" in node:
            what += f" on {node['Relation Name']}"
        if "CTE Name" in node:
            what += f" ({node['CTE Name']})"
        if "Subplan Name" in node:
            what = f"[{node['Subplan Name']}] {what}"
        lines.append(f"{'  ' * depth}{what}: {node.get('Actual Total Time', 0):.0f} ms, "
                     f"{node.get('Actual Rows', 0):,} rows")
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(root["Plan"], 0)
    lines.append(f"execution {root.get('Execution Time', 0):.0f} ms")
    return lines


async def exactly_once(stack: BenchStack) -> dict[str, int]:
    assert stack.org is not None
    conn = await asyncpg.connect(stack.database_url)
    try:
        org = uuid.UUID(stack.org.organization_id)
        keys = await conn.fetchval("SELECT count(*) FROM usage_event_keys WHERE organization_id = $1", org)
        events = await conn.fetchval("SELECT count(*) FROM usage_events WHERE organization_id = $1", org)
        rolled = await conn.fetchval("SELECT coalesce(sum(events), 0) FROM usage_rollups WHERE organization_id = $1",
                                     org)
        return {"keys": keys, "events": events, "rollup_events": int(rolled)}
    finally:
        await conn.close()


def main() -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0, help="measured duration")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the measured window")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--batch", type=int, default=1000, help="events per request")
    p.add_argument("--customers", type=int, default=100)
    p.add_argument("--profile", type=Path, help="py-spy the server over the measured window into this file")
    p.add_argument("--via", choices=("events", "graphql"), default="events",
                   help="POST /v1/events, or the same batches as the ingestUsage mutation on /graphql")
    args = p.parse_args()
    common.exit_cleanly_on_sigterm()

    lines: list[str] = []
    with BenchStack(args.database_url, args.redis_url, keep_logs=args.keep_logs,
                    processes=args.web_concurrency) as stack:
        assert stack.org is not None and stack.server is not None
        print(common.machine_summary(stack.database_url))
        customers = asyncio.run(setup(stack, args.customers))
        graphql = args.via == "graphql"
        cfg = LoadConfig(stack.graphql_url if graphql else stack.events_url, stack.org.api_key, METRIC, customers,
                         batch=args.batch, connections=args.connections, seconds=args.warmup + args.seconds,
                         prefix="ing", graphql=graphql)
        path = "ingestUsage" if graphql else "POST /v1/events"
        print(f"load: {args.connections} connections x {args.batch} events/request, {len(customers)} customers, "
              f"{args.warmup:.0f} s warm-up + {args.seconds:.0f} s measured", flush=True)
        generator = LoadGenerator(cfg)
        generator.start()
        # the measured window starts after the warm-up of the generator's own clock; wait for it
        time.sleep(args.warmup + 1.0)  # the spawned process needs ~1 s to start
        monitor = Monitor(stack).start()
        profiler = None
        if args.profile:
            profiler = common.Profiler(stack.server.pid, args.profile, args.seconds - 2)
            profiler.start()
        result = generator.result()
        usage = monitor.stop()
        if profiler:
            profiler.finish()

        window_start = result.start + args.warmup
        measured = [r for r in result.window(window_start) if r[3] == 200]
        failed = [r for r in result.records if r[3] != 200]
        span = max(r[8] for r in measured) - window_start
        accepted = sum(r[4] for r in measured)
        rate = accepted / span
        latencies = [r[8] - r[7] for r in measured]
        rss = stack.server_rss()
        print(f"\n{path}, measured {span:.1f} s after {args.warmup:.0f} s warm-up:")
        print(f"  accepted   {accepted:,} events  -> {rate:,.0f} events/s = {rate * 60:,.0f} events/min")
        print(f"  requests   {len(measured):,} -> {len(measured) / span:.1f} requests/s; "
              f"failed requests {len(failed)} {result.errors or ''}")
        print(f"  latency    p50 {ms(percentile(latencies, 50))}, p95 {ms(percentile(latencies, 95))}, "
              f"p99 {ms(percentile(latencies, 99))}, max {ms(max(latencies))}")
        print(f"  server RSS {mib(rss)} (peak {mib(usage['peak_rss'])} during the window)")
        common.print_cpu(usage, result.cpu_seconds * usage["elapsed"] / (result.end - result.start))

        costs = python_costs(cfg, stack.org.organization_id)
        print(f"  server Python per event, measured in-process: JSON decode {costs['decode']:.1f} µs, "
              f"to EventInput {costs['convert']:.1f} µs, validation -> EventRow {costs['validate']:.1f} µs "
              f"= {sum(costs.values()):.1f} µs")

        total_accepted = result.accepted
        rows, _ = rebuild_rows(result, cfg, stack.org.organization_id)
        print(f"\nraw COPY of the same {len(rows):,} rows (asyncpg copy_records_to_table), same database:", flush=True)
        timings = asyncio.run(copy_phases(stack, rows))
        n = len(rows)
        plain, real, writer = n / timings["copy_plain"], n / timings["copy_real"], n / timings["writer"]
        print(f"  (a) bench_copy, no index            {timings['copy_plain']:6.2f} s  {plain:>10,.0f} rows/s  "
              f"API/COPY = {100 * rate / plain:.0f} %")
        print(f"  (b) usage_events + usage_event_keys {timings['copy_real']:6.2f} s  {real:>10,.0f} rows/s  "
              f"API/COPY = {100 * rate / real:.0f} %")
        print(f"  (c) UsageWriter (COPY+MERGE, rollups) {timings['writer']:4.2f} s  {writer:>10,.0f} rows/s  "
              f"API/writer = {100 * rate / writer:.0f} %  (the API's database-side ceiling)")

        print(f"  (d) the writer's statements apart, {timings['split_rows']:,.0f} rows in 20,000-row batches: "
              f"COPY to usage_staging {timings['split_copy']:.2f} s "
              f"({timings['split_rows'] / timings['split_copy']:,.0f} rows/s), "
              f"MERGE {timings['split_merge']:.2f} s ({timings['split_rows'] / timings['split_merge']:,.0f} rows/s)")
        print(f"      EXPLAIN ANALYZE of the MERGE of {timings['split_last_rows']:,.0f} rows:")
        for line in plan_nodes(timings["plan"]):
            print(f"        {line}")

        counts = asyncio.run(exactly_once(stack))
        print(f"\nexactly-once: generator saw {total_accepted:,} accepted; usage_event_keys {counts['keys']:,}, "
              f"usage_events {counts['events']:,}, rollup events {counts['rollup_events']:,}")
        print(f"server RSS at the end: {mib(stack.server_rss())}\n")

        target = 500_000 if graphql else 1_000_000
        lines.append(budget_line(f"{path} sustained", f"{rate * 60:,.0f} events/min", f">= {target:,} events/min",
                                 rate * 60 >= target))
        lines.append(budget_line("ingestion vs raw COPY (a: plain table)", f"{100 * rate / plain:.0f} %", ">= 50 %",
                                 rate / plain >= 0.5))
        lines.append(budget_line("ingestion vs raw COPY (b: real tables + indexes)", f"{100 * rate / real:.0f} %",
                                 ">= 50 %", rate / real >= 0.5))
        once = counts["keys"] == total_accepted == counts["events"] == counts["rollup_events"]
        lines.append(budget_line("exactly-once (keys = events = rollups = accepted)",
                                 f"{counts['keys']:,} / {total_accepted:,}", "equal", once))
        if failed:
            lines.append(budget_line("no failed requests", str(len(failed)), "0", False))
    return 0 if all("PASS" in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
