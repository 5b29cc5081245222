"""Event stored -> usageUpdated pushed, under ingestion load (budget: p95 < 500 ms).

    .venv/bin/python bench/live.py [--samples 100] [--background-rate 1000000] [--background-connections 8]

A load generator process posts batches of 1,000 events for ~100 other customers, paced at
--background-rate events/minute (0: as fast as the server answers). Meanwhile this process
watches one more customer over graphql-transport-ws (gql WebsocketsTransport, `usageUpdated`)
and, one at a time, posts a single tagged event for it (value 1, so after the k-th event the
pushed units are k). For each it times
  * ack:  POST sent -> its 200 answer (the event is committed: acknowledged = stored),
  * push: the 200 answer -> the first push showing units >= k (what the budget is about),
  * and send -> push.
The server coalesces a burst into one push per 100 ms window (graph/subscriptions.py), so a push
comes at least ~100 ms after the event.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import common
import orjson
from common import Api, BenchStack, LoadConfig, LoadGenerator, Monitor, budget_line, mib, ms, percentile

METRIC, PLAN, WATCHED = "api_calls", "usage-plan", "cust-watched"
LIVE = """subscription($c: String!) { usageUpdated(customerExternalId: $c) {
  amount charges { billableMetricCode units amount } } }"""


async def setup(stack: BenchStack, n_customers: int) -> list[str]:
    assert stack.org is not None
    async with aiohttp.ClientSession() as http:
        api = Api(http, stack.graphql_url, stack.org.api_key)
        await common.create_metric(api, METRIC, "SUM", "value", {"region": common.REGIONS})
        await common.create_plan(api, PLAN, [{
            "billableMetricCode": METRIC, "model": "STANDARD", "properties": {"amount": "0.0001"},
            "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "0.0002"}}]}])
        customers = [f"cust-{i:04d}" for i in range(n_customers)]
        await common.create_customers(api, [*customers, WATCHED], PLAN)
    return customers


async def measure(stack: BenchStack, samples: int) -> list[tuple[float, float, float] | None]:
    """Per sample (ack, push after ack, push after send) in seconds; None when no push came within 10 s."""
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    assert stack.org is not None
    key = stack.org.api_key
    transport = WebsocketsTransport(url=stack.ws_url, init_payload={"authorization": f"Bearer {key}"},
                                    subprotocols=["graphql-transport-ws"])
    request = gql(LIVE)
    request.variable_values = {"c": WATCHED}
    pushes: list[tuple[float, Decimal]] = []
    arrived = asyncio.Event()
    out: list[tuple[float, float, float] | None] = []

    async def first_push_with(units: Decimal, since: float, deadline: float) -> float | None:
        while True:
            arrived.clear()
            for at, got in pushes:
                if at >= since and got >= units:
                    return at
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(arrived.wait(), timeout=left)
            except TimeoutError:
                return None

    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        async def consume() -> None:
            async for result in session.subscribe(request):
                pushes.append((time.monotonic(), Decimal(result["usageUpdated"]["charges"][0]["units"])))
                arrived.set()

        consumer = asyncio.create_task(consume())
        try:
            if await first_push_with(Decimal(0), 0.0, time.monotonic() + 10) is None:
                raise common.BenchError("no initial usageUpdated push within 10 s")
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as http:
                for k in range(1, samples + 1):
                    body = orjson.dumps([{"transactionId": f"live-{k}", "customerExternalId": WATCHED,
                                          "metricCode": METRIC, "properties": {"value": 1, "region": "eu"}}])
                    sent = time.monotonic()
                    async with http.post(stack.events_url, data=body) as response:
                        answer = await response.json(content_type=None)
                    acked = time.monotonic()
                    if response.status != 200 or answer.get("accepted") != 1:
                        raise common.BenchError(f"sample {k}: HTTP {response.status} {answer}")
                    pushed = await first_push_with(Decimal(k), sent, acked + 10)
                    out.append(None if pushed is None else (acked - sent, pushed - acked, pushed - sent))
                    await asyncio.sleep(random.uniform(0.05, 0.15))  # not in phase with the 100 ms coalescing
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
    return out


def main() -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--background-rate", type=float, default=1_000_000,
                   help="background events/minute (0: as fast as the server answers)")
    p.add_argument("--background-connections", type=int, default=8)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--customers", type=int, default=100)
    p.add_argument("--warmup", type=float, default=3.0)
    args = p.parse_args()
    common.exit_cleanly_on_sigterm()

    lines: list[str] = []
    with BenchStack(args.database_url, args.redis_url, keep_logs=args.keep_logs,
                    processes=args.web_concurrency) as stack:
        assert stack.org is not None
        print(common.machine_summary(stack.database_url))
        customers = asyncio.run(setup(stack, args.customers))
        rate = args.background_rate / 60 if args.background_rate else None
        cfg = LoadConfig(stack.events_url, stack.org.api_key, METRIC, customers, batch=args.batch,
                         connections=args.background_connections, events_per_second=rate, prefix="bg",
                         seconds=args.warmup + 30 + 3 * args.samples)  # a bound; stopped when the samples are in
        generator = LoadGenerator(cfg)
        generator.start()
        try:
            time.sleep(args.warmup + 1.0)
            monitor = Monitor(stack).start()
            t0 = time.monotonic()
            results = asyncio.run(measure(stack, args.samples))
            t1 = time.monotonic()
            usage = monitor.stop()
        finally:
            generator.stop()
        background = generator.result()

        window = [r for r in background.window(t0, t1) if r[3] == 200]
        bg_rate = sum(r[4] for r in window) / (t1 - t0)
        bg_lat = [r[8] - r[7] for r in window]
        failed = sum(1 for r in background.records if r[3] != 200)
        print(f"\nbackground load during the {t1 - t0:.1f} s of samples: {bg_rate:,.0f} events/s = "
              f"{bg_rate * 60:,.0f} events/min (target {args.background_rate:,.0f}/min), "
              f"{len(window)} requests of {args.batch}, latency p50 {ms(percentile(bg_lat, 50))}, "
              f"p95 {ms(percentile(bg_lat, 95))}; failed requests {failed} {background.errors or ''}")
        common.print_cpu(usage)

        got = [r for r in results if r is not None]
        missing = len(results) - len(got)
        ack = [r[0] for r in got]
        after_ack = [r[1] for r in got] + [float("inf")] * missing
        after_send = [r[2] for r in got] + [float("inf")] * missing
        print(f"\nusageUpdated for {WATCHED}, {len(results)} single events ({missing} without a push in 10 s):")
        print(f"  POST -> 200 (stored)   p50 {ms(percentile(ack, 50))}, p95 {ms(percentile(ack, 95))}, "
              f"max {ms(max(ack))}")
        print(f"  200 -> push            p50 {ms(percentile(after_ack, 50))}, p95 {ms(percentile(after_ack, 95))}, "
              f"max {ms(max(after_ack))}")
        print(f"  POST sent -> push      p50 {ms(percentile(after_send, 50))}, p95 {ms(percentile(after_send, 95))}, "
              f"max {ms(max(after_send))}")
        print(f"server RSS at the end: {mib(stack.server_rss())} (peak {mib(usage['peak_rss'])})\n")
        lines.append(budget_line("event stored -> usageUpdated pushed, p95", ms(percentile(after_ack, 95)),
                                 "< 500 ms", percentile(after_ack, 95) < 0.5))
        budget_line("(for reference) event sent -> pushed, p95", ms(percentile(after_send, 95)), "< 500 ms",
                    percentile(after_send, 95) < 0.5)
        if args.background_rate and bg_rate * 60 < 0.95 * args.background_rate:
            print(f"note: the background load reached only {bg_rate * 60:,.0f} of {args.background_rate:,.0f} "
                  "events/min: the server is saturated")
    return 0 if all("PASS" in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
