"""Typical portal queries under 50 concurrent clients, 10,000 customers and a year of invoices
(SPEC §5: p95 < 100 ms).

    .venv/bin/python bench/portal.py [--customers 10000] [--processes 1,2] [--seconds 20] [--profile /tmp/portal]
    .venv/bin/python bench/portal.py --baseline-tree /tmp/before    # + the server of another checkout, first

Set-up (reported, not timed against the budget):
  * one SUM metric and one plan (MONTHLY, 10.00 in arrears + 0.001 per unit) over GraphQL;
  * --customers customers, each with one ANNIVERSARY subscription that started a year and 10 days ago: the first 50
    created in-process through the use cases the mutations call (bench/billing.py create_in_process), the others
    copies of the first one's rows (customer, subscription, phase) in SQL with their own ids and external ids
    (the use cases make 20-150 customers/s on a busy machine: minutes of set-up for nothing measured);
  * --events-per-customer usage events each through POST /v1/events (this period: the rollups serve them);
  * a year of invoices: 12 finalized invoices per customer (the last OPEN, the others PAID), each with a fee
    line and a usage line with its breakdown, written with SQL in the shape billing writes them (numbers
    gapless per organization, one billing key per customer and month) — billing 120,000 invoices through
    the use cases would take ~4 minutes and measure billing, which bench/billing.py does.

Measured, for each API process count in --processes (the server is restarted with WEB_CONCURRENCY=N):
  * `customerUsage` of a random customer: --clients closed-loop clients (no think time) for --seconds;
  * the customer portal's invoice list: `invoices(customerExternalId: random, first: 12)` with lines, pdfUrl;
  * the admin portal's list: `invoices(first: 20)` of the whole organization, with totalCount;
  * a burst of PDF downloads: half the clients fetch random invoices' PDFs while the other half run the
    customer invoice list; the list's p95 against its p95 alone shows whether rendering stalls GraphQL.
`revenueMetrics` (the third query the budget names) does not exist yet in the API.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import asyncpg
import billing
import common
import orjson
from common import Api, BenchStack, budget_line, ms, percentile

USAGE = """query Usage($c: String!) { customerUsage(customerExternalId: $c) {
  fromDatetime toDatetime currency amount subscriptionExternalId
  charges { billableMetricCode model units amount
    breakdown { kind units fromValue toValue perUnitAmount rate flatAmount amount }
    filters { values units amount } } } }"""
CUSTOMER_INVOICES = """query CustomerInvoices($c: String!) { invoices(customerExternalId: $c, first: 12) {
  edges { node { id number status periodStart periodEnd issuedAt dueAt currency totalAmount amountDue pdfUrl
    lines { kind description units amount } } }
  pageInfo { hasNextPage endCursor } } }"""
ORG_INVOICES = """query OrgInvoices { invoices(first: 20) { totalCount
  edges { node { id number status issuedAt currency totalAmount amountDue customer { externalId name } } }
  pageInfo { hasNextPage endCursor } } }"""

# Customers beyond the first --seeded ones are copies of the first one's rows (customer, subscription, phase), with
# their own ids and external ids: the same shape the use cases write, at SQL speed.
COPY_CUSTOMERS_SQL = """
WITH n AS (SELECT g, gen_random_uuid() AS cid, gen_random_uuid() AS sid, gen_random_uuid() AS pid,
                  'pc-' || lpad(g::text, 5, '0') AS ext
           FROM generate_series($3::int, $4::int) AS g),
src AS (SELECT * FROM customers WHERE organization_id = $1 AND external_id = $2),
sub AS (SELECT s.* FROM subscriptions s JOIN src ON s.customer_id = src.id),
phase AS (SELECT p.* FROM subscription_phases p JOIN sub ON p.subscription_id = sub.id),
c AS (
  INSERT INTO customers (id, organization_id, external_id, name, legal_name, email, address_line1, address_line2,
                         city, state, postal_code, country, currency, timezone, tax_identification_number,
                         tax_exempt, metadata, created_at, deleted_at)
  SELECT n.cid, src.organization_id, n.ext, n.ext, src.legal_name, src.email, src.address_line1, src.address_line2,
         src.city, src.state, src.postal_code, src.country, src.currency, src.timezone,
         src.tax_identification_number, src.tax_exempt, src.metadata, src.created_at, src.deleted_at
  FROM src, n RETURNING id
), s AS (
  INSERT INTO subscriptions (id, organization_id, customer_id, external_id, name, billing_time, started_at,
                             trial_ends_at, ending_at, cancel_at_period_end, terminated_at, ended_status, past_due,
                             created_at, billed_through)
  SELECT n.sid, sub.organization_id, n.cid, 'sub-' || n.ext, sub.name, sub.billing_time, sub.started_at,
         sub.trial_ends_at, sub.ending_at, sub.cancel_at_period_end, sub.terminated_at, sub.ended_status,
         sub.past_due, sub.created_at, sub.billed_through
  FROM sub, n WHERE EXISTS (SELECT 1 FROM c WHERE c.id = n.cid) RETURNING id
)
INSERT INTO subscription_phases (id, organization_id, subscription_id, plan_id, starts_at, ends_at, overrides,
                                 created_at)
SELECT n.pid, phase.organization_id, n.sid, phase.plan_id, phase.starts_at, phase.ends_at, phase.overrides,
       phase.created_at
FROM phase, n WHERE EXISTS (SELECT 1 FROM s WHERE s.id = n.sid)
"""

SEEDED = 50
INVOICES_SQL = """
WITH months AS (SELECT m FROM generate_series(1, 12) AS m),
made AS (
  INSERT INTO invoices (id, organization_id, customer_id, number, status, kind, billing_key, currency,
                        period_start, period_end, issued_at, due_at, subtotal_minor, discount_minor,
                        progressive_credit_minor, tax_minor, total_minor, credit_notes_minor, credits_minor,
                        amount_due_minor, paid_minor, reverse_charge, notes, deductions, billed_from, seller, buyer,
                        finalized_at, paid_at, created_at)
  SELECT gen_random_uuid(), c.organization_id, c.id,
         'INV-' || to_char($2::timestamptz - make_interval(months => 13 - m), 'YYYYMM') || '-'
           || lpad((row_number() OVER (ORDER BY m, c.external_id))::text, 6, '0'),
         CASE WHEN m = 12 THEN 'OPEN' ELSE 'PAID' END, 'SUBSCRIPTION',
         'bench:' || m, 'USD',
         $2::timestamptz - make_interval(months => 13 - m), $2::timestamptz - make_interval(months => 12 - m),
         $2::timestamptz - make_interval(months => 12 - m),
         $2::timestamptz - make_interval(months => 12 - m, days => -30),
         1000 + (m * 137) % 900, 0, 0, 0, 1000 + (m * 137) % 900, 0, 0,
         CASE WHEN m = 12 THEN 1000 + (m * 137) % 900 ELSE 0 END,
         CASE WHEN m = 12 THEN 0 ELSE 1000 + (m * 137) % 900 END,
         false, '', '{}'::jsonb, '{}'::jsonb,
         jsonb_build_object('name', 'Bench Org', 'address', jsonb_build_array('1 Bench Street')),
         jsonb_build_object('name', c.name, 'country', 'DE'),
         $2::timestamptz - make_interval(months => 12 - m),
         CASE WHEN m = 12 THEN NULL ELSE $2::timestamptz - make_interval(months => 12 - m, days => -3) END,
         $2::timestamptz - make_interval(months => 12 - m)
  FROM customers c CROSS JOIN months
  WHERE c.organization_id = $1
  RETURNING id, organization_id, period_start, period_end, subtotal_minor
)
INSERT INTO invoice_lines (id, organization_id, invoice_id, position, kind, description, subscription_external_id,
                           billable_metric_code, units, period_start, period_end, amount_minor, discount_minor,
                           tax_minor, tax_rates, breakdown)
SELECT gen_random_uuid(), organization_id, id, 0, 'SUBSCRIPTION', 'billing-plan (monthly fee)', NULL, NULL, NULL,
       period_start, period_end, 1000, 0, 0, '[]'::jsonb, '[]'::jsonb
FROM made
UNION ALL
SELECT gen_random_uuid(), organization_id, id, 1, 'CHARGE', 'api_calls', NULL, 'api_calls', subtotal_minor - 1000,
       period_start, period_end, subtotal_minor - 1000, 0, 0, '[]'::jsonb,
       jsonb_build_array(jsonb_build_object('kind', 'STANDARD', 'units', (subtotal_minor - 1000)::text,
                                            'perUnitAmount', '0.01', 'amount', ((subtotal_minor - 1000) / 100.0)::text))
FROM made
"""


async def setup(stack: BenchStack, n: int, events_per_customer: int) -> tuple[list[str], list[str]]:
    assert stack.org is not None
    now = datetime.now(UTC)
    started = billing.months_back(now, 12) - timedelta(days=10)
    customers = [f"pc-{i:05d}" for i in range(n)]
    async with aiohttp.ClientSession() as http:
        await billing.create_catalog(Api(http, stack.graphql_url, stack.org.api_key))
    t0 = time.perf_counter()
    seeded = min(n, SEEDED)
    await billing.create_in_process(stack.database_url, stack.org.organization_id, customers[:seeded], started, 50)
    conn = await asyncpg.connect(stack.database_url)
    try:
        if n > seeded:
            await conn.execute(COPY_CUSTOMERS_SQL, uuid.UUID(stack.org.organization_id), customers[0], seeded, n - 1)
        made = await conn.fetchval("SELECT count(*) FROM subscription_phases p JOIN subscriptions s ON "
                                   "s.id = p.subscription_id WHERE s.organization_id = $1",
                                   uuid.UUID(stack.org.organization_id))
    finally:
        await conn.close()
    if made != n:
        raise common.BenchError(f"{made} subscriptions made, not {n}")
    print(f"set-up: {n:,} customers with a subscription in {time.perf_counter() - t0:.1f} s ({seeded} through the "
          f"use cases in-process, the others copies of the first one's rows in SQL)", flush=True)
    t0 = time.perf_counter()
    accepted = await send_recent_usage(stack, customers, events_per_customer)
    print(f"set-up: {accepted:,} usage events this period in {time.perf_counter() - t0:.1f} s (POST /v1/events)",
          flush=True)
    org = uuid.UUID(stack.org.organization_id)
    conn = await asyncpg.connect(stack.database_url)
    try:
        t0 = time.perf_counter()
        await conn.execute(INVOICES_SQL, org, now)
        count = await conn.fetchval("SELECT count(*) FROM invoices WHERE organization_id = $1", org)
        await conn.execute("INSERT INTO invoice_number_sequences (organization_id, last_number) VALUES ($1, $2) "
                           "ON CONFLICT (organization_id) DO UPDATE SET last_number = excluded.last_number", org, count)
        await conn.execute("VACUUM ANALYZE invoices")
        await conn.execute("VACUUM ANALYZE invoice_lines")
        await conn.execute("VACUUM ANALYZE customers")
        ids = [str(r["id"]) for r in await conn.fetch("SELECT id FROM invoices WHERE organization_id = $1", org)]
        print(f"set-up: {count:,} invoices ({count // n} per customer, 2 lines each) in "
              f"{time.perf_counter() - t0:.1f} s (SQL)", flush=True)
    finally:
        await conn.close()
    return customers, ids


async def send_recent_usage(stack: BenchStack, customers: list[str], per_customer: int) -> int:
    """Events of the last two days (inside every customer's current period)."""
    assert stack.org is not None
    now = datetime.now(UTC)
    events = [{"transactionId": f"portal-{n}", "customerExternalId": customers[n % len(customers)],
               "metricCode": billing.METRIC, "timestamp": (now - timedelta(seconds=(n * 7919) % 172_800)).isoformat(),
               "properties": {"value": str(billing.usage_value(n))}} for n in range(len(customers) * per_customer)]
    headers = {"Authorization": f"Bearer {stack.org.api_key}", "Content-Type": "application/json"}
    accepted = 0
    async with aiohttp.ClientSession(headers=headers) as http:
        for i in range(0, len(events), 5000):
            async with http.post(stack.events_url, data=orjson.dumps(events[i:i + 5000])) as response:
                answer = await response.json(content_type=None)
            if response.status != 200 or answer.get("rejected"):
                raise common.BenchError(f"POST /v1/events: {response.status} {str(answer)[:300]}")
            accepted += answer["accepted"]
    return accepted


async def closed_loop(stack: BenchStack, clients: int, seconds: float, make_request) -> tuple[list[float], int]:
    """`clients` concurrent clients, each sending its next request when the previous one is answered."""
    assert stack.org is not None
    samples: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        api = Api(http, stack.graphql_url, stack.org.api_key)
        deadline = time.perf_counter() + seconds

        async def client(i: int) -> None:
            nonlocal errors
            rng = random.Random(i)
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    await make_request(api, http, rng)
                except Exception:
                    errors += 1
                samples.append(time.perf_counter() - t0)

        await asyncio.gather(*(client(i) for i in range(clients)))
    return samples, errors


def summary(samples: list[float], seconds: float, errors: int) -> str:
    return (f"n={len(samples)} ({len(samples) / seconds:.0f}/s), p50 {ms(percentile(samples, 50))}, "
            f"p95 {ms(percentile(samples, 95))}, p99 {ms(percentile(samples, 99))}"
            + (f", {errors} errors" if errors else ""))


def measure(stack: BenchStack, args, customers: list[str], invoice_ids: list[str], processes: int,
            lines: list[str]) -> dict[str, float]:
    pdf_paths: list[str] = []

    async def usage(api: Api, http, rng: random.Random) -> None:
        await api(USAGE, c=rng.choice(customers))

    async def customer_invoices(api: Api, http, rng: random.Random) -> None:
        data = await api(CUSTOMER_INVOICES, c=rng.choice(customers))
        if len(pdf_paths) < 2000:
            pdf_paths.extend(e["node"]["pdfUrl"] for e in data["invoices"]["edges"][:2])

    async def org_invoices(api: Api, http, rng: random.Random) -> None:
        await api(ORG_INVOICES)

    out: dict[str, float] = {}
    for name, make in (("customerUsage", usage), ("customer invoices", customer_invoices),
                       ("organization invoices", org_invoices)):
        prof = None
        if args.profile:
            prof = common.Profiler(stack.server.pid, Path(f"{args.profile}.{processes}.{name.split()[0]}.raw"),
                                   min(args.seconds, 15), subprocesses=True)
            prof.start()
        monitor = common.Monitor(stack).start()
        samples, errors = asyncio.run(closed_loop(stack, args.clients, args.seconds, make))
        usage_cpu = monitor.stop()
        print(f"  {name}, {args.clients} clients: {summary(samples, args.seconds, errors)}")
        common.print_cpu(usage_cpu)
        # CPU per request: steadier than latency when other work shares the machine
        out[f"{name} server CPU ms"] = 1000 * usage_cpu["server_cpu"] / max(1, len(samples))
        out[f"{name} PostgreSQL CPU ms"] = 1000 * usage_cpu["postgres_cpu"] / max(1, len(samples))
        print(f"    per request: server CPU {out[f'{name} server CPU ms']:.1f} ms, "
              f"PostgreSQL CPU {out[f'{name} PostgreSQL CPU ms']:.1f} ms")
        if prof:
            prof.finish(20)
        out[name] = percentile(samples, 95)
        lines.append(budget_line(f"{name} p95, {args.clients} clients, {processes} API process(es)"
                                 + (" (baseline)" if stack.server_root != common.ROOT else ""),
                                 ms(out[name]), "< 100 ms", out[name] < 0.100 and not errors))

    # PDFs: half the clients download, the other half list invoices; compare the list's p95 to the run above.
    half = args.clients // 2
    pdf_samples: list[float] = []

    async def burst() -> tuple[list[float], int]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=half)) as http:
            deadline = time.perf_counter() + args.seconds

            async def downloader(i: int) -> None:
                rng = random.Random(1000 + i)
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    async with http.get(rng.choice(pdf_paths)) as response:
                        body = await response.read()
                    if response.status != 200 or not body.startswith(b"%PDF"):
                        raise common.BenchError(f"PDF: HTTP {response.status}")
                    pdf_samples.append(time.perf_counter() - t0)

            listing = asyncio.ensure_future(closed_loop(stack, half, args.seconds, customer_invoices))
            await asyncio.gather(*(downloader(i) for i in range(half)))
            return await listing

    list_samples, errors = asyncio.run(burst())
    print(f"  PDF burst: {half} clients downloading PDFs: {summary(pdf_samples, args.seconds, 0)}")
    print(f"    meanwhile {half} clients listing a customer's invoices: {summary(list_samples, args.seconds, errors)}")
    out["invoices during PDFs"] = percentile(list_samples, 95)
    out["pdf"] = percentile(pdf_samples, 95)
    return out


def main() -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=10_000)
    p.add_argument("--events-per-customer", type=int, default=20)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20.0, help="each measurement's duration")
    p.add_argument("--processes", default="1,2", help="API process counts to measure (WEB_CONCURRENCY)")
    p.add_argument("--profile", type=Path, help="py-spy the API processes: <PATH>.<processes>.<query>.raw")
    p.add_argument("--candidate-index", action="store_true",
                   help="add an index on invoices (organization_id, created_at, id) after the set-up, to measure "
                        "what it would change (the schema has none: the organization-wide list sorts every invoice)")
    p.add_argument("--baseline-tree", type=Path,
                   help="another checkout (e.g. `git archive` of an older commit): its server is measured first, "
                        "on the same data, as the 'before' of this run")
    args = p.parse_args()
    common.exit_cleanly_on_sigterm()
    counts = [int(x) for x in args.processes.split(",") if x.strip()]
    runs = [(f"this tree, {c} API process(es)", common.ROOT, c) for c in counts]
    if args.baseline_tree:
        runs.insert(0, (f"baseline {args.baseline_tree}", args.baseline_tree.resolve(), 1))

    lines: list[str] = []
    results: dict[str, dict[str, float]] = {}
    with BenchStack(args.database_url, args.redis_url, keep_logs=args.keep_logs, processes=runs[0][2]) as stack:
        print(common.machine_summary(stack.database_url))
        customers, invoice_ids = asyncio.run(setup(stack, args.customers, args.events_per_customer))
        if args.candidate_index:
            asyncio.run(common.admin_sql(stack.database_url, "CREATE INDEX ix_bench_invoices_created ON invoices "
                                                             "(organization_id, created_at, id)"))
            print("set-up: candidate index ix_bench_invoices_created (organization_id, created_at, id) added")
        for name, root, count in runs:
            if (root, count) != (stack.server_root, stack.processes):
                stack.stop_server()
                stack.server_root, stack.processes = root, count
                stack.start_server()
            print(f"\n{name} (WEB_CONCURRENCY={count}): {common.load_summary()}", flush=True)
            results[name] = measure(stack, args, customers, invoice_ids, count, lines)
    first = runs[0][0]
    for name, _, _ in runs[1:]:
        ratios = ", ".join(f"{k} {results[first][k] / v:.2f}x" for k, v in results[name].items() if v)
        print(f"p95 of '{first}' / p95 of '{name}': {ratios}")
    return 0 if all("PASS" in line for line in lines if f", {counts[-1]} API" in line) else 1


if __name__ == "__main__":
    sys.exit(main())
