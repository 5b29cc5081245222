"""Typical portal queries under 50 concurrent clients, 10,000 customers and a year of invoices
(budget: p95 < 100 ms).

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

Measured, for each API process count in --processes (the server is restarted with WEB_CONCURRENCY=N), each
query only if named in --queries:
  * `customerUsage` of a random customer (of the first --viewers, if given): --clients closed-loop clients
    (no think time) for --seconds; with --warm each of those customers is asked about several times per server
    first (kept answers then serve the repeats), and the customers never asked are measured apart (each
    answer computed, then kept);
  * the customer portal's invoice list: `invoices(customerExternalId: random, first: 12)` with lines, pdfUrl, of
    the same customers as `customerUsage` (and with --warm, of those never asked apart);
  Each measurement prints the share of requests answered from kept answers (graph/kept_responses.py).
  * the admin portal's list: `invoices(first: 20)` of the whole organization, with totalCount;
  * a burst of PDF downloads: half the clients fetch random invoices' PDFs while the other half run the
    customer invoice list; the list's p95 against its p95 alone shows whether rendering stalls GraphQL.
  * the revenue dashboard's `revenueMetrics` over the last 12 months, by month (the same question from every
    client, as a dashboard that many staff open asks it);
  * with --queries floor: `{ __typename }` with the API key, what every request costs before its resolvers run
    (HTTP, middlewares, authentication, rate limits, Strawberry), the floor under the three above.

The load comes from wrk (C; `apt-get install wrk`) when it is installed, else from this process's aiohttp clients
(--load-generator): both are closed loops, each of the --clients connections sending its next request when the last
one is answered; wrk costs the machine far less CPU per request, which leaves more of it to the server measured.
With --think S each client pauses S seconds x 0.5-1.5 between an answer and its next request (people reading pages);
without it (the budget's run) there is no pause at all, so the 50 clients keep the server saturated.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import asyncpg
import billing
import common
import orjson
import psutil
from common import Api, BenchStack, budget_line, ms, percentile

from valueverse import devstack

USAGE = """query Usage($c: String!) { customerUsage(customerExternalId: $c) {
  fromDatetime toDatetime currency amount subscriptionExternalId
  charges { billableMetricCode model units amount
    breakdown { kind units fromValue toValue perUnitAmount rate flatAmount amount }
    filters { values units amount } } } }"""
CUSTOMER_INVOICES = """query CustomerInvoices($c: String!) { invoices(customerExternalId: $c, first: 12) {
  edges { node { id number status periodStart periodEnd issuedAt dueAt currency totalAmount amountDue pdfUrl
    lines { kind description units amount } } }
  pageInfo { hasNextPage endCursor } } }"""
REVENUE = """query Revenue($from: Date!, $to: Date!) { revenueMetrics(from: $from, to: $to, granularity: MONTH) {
  periodStart periodEnd currency mrr arr newMrr expansionMrr contractionMrr churnedMrr reactivationMrr
  activeCustomers newCustomers churnedCustomers arpu netRevenueRetention grossRevenueRetention
  invoicedAmount collectedAmount overdueAmount usageRevenue } }"""
ORG_INVOICES = """query OrgInvoices { invoices(first: 20) { totalCount
  edges { node { id number status issuedAt currency totalAmount amountDue customer { externalId name } } }
  pageInfo { hasNextPage endCursor } } }"""

WARM_PASSES = 6

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


class Server:
    """One API server of the comparison: `serve` from a checkout (`root`) with WEB_CONCURRENCY=`processes`, on a port
    of its own, on the run's database. All of them run at once; only the one being measured gets requests."""

    def __init__(self, stack: BenchStack, name: str, root: Path, processes: int) -> None:
        self.name, self.root, self.processes = name, root, processes
        self.port = common.free_port()
        # 50 clients share the one API key and address, where a portal's visitors each have their own link: limits far
        # above what is reached (the buckets are still taken from, at the cost of every request, but never empty).
        env = {**stack.env, "WEB_CONCURRENCY": str(processes), "RATE_LIMIT_PER_SECOND": "100000",
               "RATE_LIMIT_BURST": "200000", "RATE_LIMIT_IP_PER_SECOND": "100000", "RATE_LIMIT_IP_BURST": "200000",
               "METRICS_TOKEN": uuid.uuid4().hex}
        self.metrics_token = env["METRICS_TOKEN"]
        self.log = stack.log_dir / f"api-{self.port}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "valueverse.cli", "serve", "--port", str(self.port), "--no-worker"],
            env=env, cwd=root, stdout=self.log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        try:
            devstack.wait_ready(self.url, self.process, self.log, timeout_s=90)
        except devstack.NotReady as exc:
            raise common.BenchError(f"{self.name}: {exc}") from None

    def kept_answers(self) -> float | None:
        """Kept answers the server gave so far, over its API processes (None: a tree without them)."""
        headers = {"Authorization": f"Bearer {self.metrics_token}"}
        request = urllib.request.Request(f"{self.url}/metrics", headers=headers)
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            found = re.search(r'^valueverse_graphql_kept_responses_total\{outcome="hit"\} (\S+)$', text, re.M)
            return float(found.group(1)) if found else 0.0
        return None

    def cpu(self) -> float:
        total = 0.0
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(self.process.pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Tally:
    """What one server did in one measurement, summed over the rounds."""

    samples: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    postgres_cpu: float = 0.0
    machine_cpu: float = 0.0
    kept: float | None = None  # answers served from what a process kept

    def line(self) -> str:
        n = max(1, len(self.samples))
        return (f"n={len(self.samples)} ({len(self.samples) / self.seconds:.0f}/s), "
                f"p50 {ms(percentile(self.samples, 50))}, p95 {ms(percentile(self.samples, 95))}, "
                f"p99 {ms(percentile(self.samples, 99))}"
                + (f", {self.errors} errors" if self.errors else "")
                + f"; per request: server CPU {1000 * self.server_cpu / n:.1f} ms, PostgreSQL CPU "
                  f"{1000 * self.postgres_cpu / n:.1f} ms; server {100 * self.server_cpu / self.seconds:.0f} %, "
                  f"PostgreSQL {100 * self.postgres_cpu / self.seconds:.0f} %, whole machine "
                  f"{100 * self.machine_cpu / self.seconds:.0f} % (of 200 %)"
                + (f"; kept answers {100 * self.kept / n:.0f} % of requests" if self.kept is not None else ""))


def _busy(t: Any) -> float:
    return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0)


async def closed_loop(url: str, token: str, clients: int, seconds: float, make_request,
                      think: float = 0.0) -> tuple[list[float], int]:
    """`clients` concurrent clients, each sending its next request when the previous one is answered (and, with
    `think` seconds, after a pause of 0.5 to 1.5 times that: a person reading the page)."""
    samples: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        api = Api(http, f"{url}/graphql", token)
        deadline = time.perf_counter() + seconds

        async def client(i: int) -> None:
            nonlocal errors
            rng = random.Random(i * 7919 + int(time.time()))
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    await make_request(api, http, rng, url)
                except Exception as exc:
                    if not errors:
                        print(f"    first error: {str(exc)[:300]}", flush=True)
                    errors += 1
                samples.append(time.perf_counter() - t0)
                if think:
                    await asyncio.sleep(think * (0.5 + rng.random()))

        await asyncio.gather(*(client(i) for i in range(clients)))
    return samples, errors


# wrk's Lua side: a random body of the file per request, GraphQL errors counted, the latency histogram (µs) written
# out at the end so that rounds can be merged as samples. Latency is wrk's: from the request's write to its answer.
WRK_SCRIPT = r"""
local threads = {}
function setup(thread) table.insert(threads, thread); thread:set("tid", #threads - 1) end
bodies = {}
bad = 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  math.randomseed(os.time() + tonumber(args[2]) + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
  headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")}
  think_ms = tonumber(args[3])
  start, step, sent = tonumber(args[4]), tonumber(args[5]), 0  -- step > 0: the bodies in turn, from start
end
function request()
  if step == 0 then return wrk.format("POST", "/graphql", headers, bodies[math.random(#bodies)]) end
  local i = start + tid + sent * step  -- each thread its own share of the turns: no body asked twice
  sent = sent + 1
  return wrk.format("POST", "/graphql", headers, bodies[i % #bodies + 1])
end
function response(status, hdrs, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + t:get("bad") end
  local e = summary.errors
  io.write(string.format("WRK %d %d %d\n", summary.requests, failed,
                         e.connect + e.read + e.write + e.status + e.timeout))
  local parts, i = {}, 1
  while true do  -- latency(i): the i-th distinct latency (µs) recorded and how often; past the last, 0
    local us, n = latency(i)
    if us == 0 or us > latency.max then break end
    parts[#parts + 1] = string.format("%d:%d", us, n)
    i = i + 1
  end
  io.write("HIST " .. table.concat(parts, " ") .. "\n")
end
"""
# With --think only (a script with delay() makes wrk schedule every request as a timer, even after 0 ms).
WRK_THINKING = r"""
function delay() return think_ms * (0.5 + math.random()) end  -- wrk waits this long (ms) before each request
"""


def wrk_loop(url: str, token: str, clients: int, seconds: float, bodies: list[bytes],
             workdir: Path, think: float = 0.0, turns: list[int] | None = None) -> tuple[list[float], int]:
    """`clients` connections of wrk (threads: one per core), each sending its next request when the last one is
    answered (after `think` seconds x 0.5 to 1.5), as `closed_loop` does, from a C load generator that costs the
    machine a fraction of aiohttp's CPU. A random body per request; with `turns` ([next body]) the bodies in turn
    from there instead, each once (`turns` is advanced past those sent)."""
    script, body_file = workdir / "portal.lua", workdir / f"bodies-{len(bodies)}-{hash(bodies[0]) & 0xffff}.jsonl"
    script.write_text(WRK_SCRIPT + (WRK_THINKING if think else ""))
    if not body_file.exists():
        body_file.write_bytes(b"\n".join(bodies) + b"\n")
    threads = min(clients, psutil.cpu_count() or 2)
    run = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(script),
         f"{url}/graphql", "--", str(body_file), str(random.randrange(1 << 20)), str(round(think * 1000)),
         str(turns[0] if turns else 0), str(threads if turns is not None else 0)],
        env={"WRK_TOKEN": token, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=seconds + 120)
    totals = next((line.split()[1:] for line in run.stdout.splitlines() if line.startswith("WRK ")), None)
    hist = next((line.split()[1:] for line in run.stdout.splitlines() if line.startswith("HIST")), None)
    if run.returncode != 0 or totals is None or hist is None:
        raise common.BenchError(f"wrk failed ({run.returncode}): {run.stdout[-500:]} {run.stderr[-500:]}")
    samples: list[float] = []
    for part in hist:
        us, n = part.split(":")
        samples += [int(us) / 1e6] * int(n)
    requests, failed, socket_errors = (int(v) for v in totals)
    if turns is not None:  # past every body sent: those answered, and those still in flight when wrk stopped
        turns[0] += requests + 2 * clients
    return samples, failed + socket_errors


def measured(server: Server, tally: Tally, run) -> None:
    """Run `run()` (one slice of load on `server`) and add what it cost to `tally`."""
    kept0 = server.kept_answers()
    cpu0, pg0, machine0, t0 = server.cpu(), common._postgres_cpu(), psutil.cpu_times(), time.monotonic()
    samples, errors = run()
    kept1 = server.kept_answers()
    if kept0 is not None and kept1 is not None:
        tally.kept = (tally.kept or 0.0) + kept1 - kept0
    tally.seconds += time.monotonic() - t0
    tally.server_cpu += server.cpu() - cpu0
    tally.postgres_cpu += sum(common._postgres_cpu().values()) - sum(pg0.values())
    tally.machine_cpu += _busy(psutil.cpu_times()) - _busy(machine0)
    tally.samples += samples
    tally.errors += errors


def compare(stack: BenchStack, args, servers: list[Server], customers: list[str], lines: list[str]) -> None:
    assert stack.org is not None
    token = stack.org.api_key
    pdf_paths: dict[str, list[str]] = {s.url: [] for s in servers}

    asked = customers[: args.usage_customers] if args.usage_customers else customers

    async def usage(api: Api, http, rng: random.Random, url: str) -> None:
        await api(USAGE, c=rng.choice(asked))

    if args.warm_usage:
        # Each viewer's pages asked about before the measurement: what a portal that shows them again and again sees
        # (answers kept since the last change), not the first read after each change. An API process keeps its own
        # answers and a connection stays with the process that accepted it: each question is asked WARM_PASSES times,
        # each time on a new connection, so that both processes have likely kept it (the measurement prints how many
        # answers were kept ones).
        warmed = [(name, query) for key, name, query in (("customerUsage", "customerUsage", USAGE),
                                                         ("customer", "customer invoices", CUSTOMER_INVOICES))
                  if key in args.queries]

        async def warm(url: str, query: str) -> None:
            rng = random.Random(3)
            pending = [c for _ in range(WARM_PASSES) for c in rng.sample(asked, len(asked))]
            # A new connection per request: each is accepted by whichever process is free, so both see each question.
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.clients,
                                                                            force_close=True)) as http:
                api = Api(http, f"{url}/graphql", token)

                async def client() -> None:
                    while pending:
                        await api(query, c=pending.pop())

                await asyncio.gather(*(client() for _ in range(args.clients)))

        for server in servers:
            for name, query in warmed:
                t0 = time.monotonic()
                asyncio.run(warm(server.url, query))
                print(f"warm-up: {name} of {len(asked):,} customers {WARM_PASSES} times on {server.name} in "
                      f"{time.monotonic() - t0:.1f} s", flush=True)

    async def customer_invoices(api: Api, http, rng: random.Random, url: str) -> None:
        data = await api(CUSTOMER_INVOICES, c=rng.choice(asked))
        if len(pdf_paths[url]) < 2000:
            pdf_paths[url].extend(e["node"]["pdfUrl"] for e in data["invoices"]["edges"][:2])

    async def org_invoices(api: Api, http, rng: random.Random, url: str) -> None:
        await api(ORG_INVOICES)

    today = datetime.now(UTC).date()
    year_ago = today.replace(day=1) - timedelta(days=365)

    async def revenue(api: Api, http, rng: random.Random, url: str) -> None:
        await api(REVENUE, **{"from": year_ago.replace(day=1).isoformat(), "to": today.isoformat()})

    if "revenue" in args.queries:
        # The first answer of a server is computed (each API process keeps its own answers): timed alone, one client.
        async def first_revenue(url: str) -> float:
            async with aiohttp.ClientSession() as http:
                t0 = time.perf_counter()
                await revenue(Api(http, f"{url}/graphql", token), http, random.Random(0), url)
                return time.perf_counter() - t0

        for server in servers:
            cpu0, pg0 = server.cpu(), sum(common._postgres_cpu().values())
            took = asyncio.run(first_revenue(server.url))
            print(f"revenueMetrics, 12 months, first answer (computed) on {server.name}: {ms(took)}; server CPU "
                  f"{1000 * (server.cpu() - cpu0):.0f} ms, PostgreSQL CPU "
                  f"{1000 * (sum(common._postgres_cpu().values()) - pg0):.0f} ms; {common.load_summary()}", flush=True)

    slice_seconds = args.seconds / args.rounds
    unasked = customers[len(asked):] if args.warm_usage and len(asked) < len(customers) else []
    random.Random(11).shuffle(unasked)

    async def floor(api: Api, http, rng: random.Random, url: str) -> None:
        await api("{ __typename }")

    def body(query: str, **variables: Any) -> bytes:
        return orjson.dumps({"query": query, "variables": variables})

    revenue_range = {"from": year_ago.replace(day=1).isoformat(), "to": today.isoformat()}
    wrk_bodies = {  # what wrk sends, a random line per request: the same questions as the aiohttp clients ask
        "customerUsage": [body(USAGE, c=c) for c in asked],
        "customerUsage, customers not asked before": [body(USAGE, c=c) for c in unasked],
        "customer invoices": [body(CUSTOMER_INVOICES, c=c) for c in asked],
        "customer invoices, customers not asked before": [body(CUSTOMER_INVOICES, c=c) for c in unasked],
        "organization invoices": [body(ORG_INVOICES)],
        "revenueMetrics, 12 months": [body(REVENUE, **revenue_range)],
        "floor: { __typename }": [body("{ __typename }")],
    }
    workdir = stack.log_dir

    # Customers not asked before are asked in turn, each once (random.shuffle'd once), across every slice and server:
    # a repeat would be answered from what the first ask kept. The benchmark says when they ran out.
    first_turns: dict[str, list[int]] = {}

    def load(server: Server, name: str, make, clients: int, seconds: float) -> tuple[list[float], int]:
        if args.load_generator == "wrk":
            turns = first_turns.setdefault(name, [0]) if "not asked before" in name else None
            return wrk_loop(server.url, token, clients, seconds, wrk_bodies[name], workdir, args.think, turns)
        return asyncio.run(closed_loop(server.url, token, clients, seconds, make, args.think))

    usage_turns, invoice_turns = itertools.cycle(unasked), itertools.cycle(unasked)

    async def first_usage(api: Api, http, rng: random.Random, url: str) -> None:
        await api(USAGE, c=next(usage_turns))

    async def first_invoices(api: Api, http, rng: random.Random, url: str) -> None:
        await api(CUSTOMER_INVOICES, c=next(invoice_turns))

    for key, name, make in (("customerUsage", "customerUsage", usage),
                            ("customerUsage", "customerUsage, customers not asked before", first_usage),
                            ("customer", "customer invoices", customer_invoices),
                            ("customer", "customer invoices, customers not asked before", first_invoices),
                            ("organization", "organization invoices", org_invoices),
                            ("revenue", "revenueMetrics, 12 months", revenue),
                            ("floor", "floor: { __typename }", floor)):
        if key not in args.queries or (make in (first_usage, first_invoices) and not unasked):
            continue
        thinking = f", each pausing {args.think:g} s x 0.5-1.5 between answer and request" if args.think else ""
        print(f"\n{name}: {args.clients} clients{thinking}, {args.rounds} rounds of {slice_seconds:.0f} s per server, "
              f"servers in turn; {common.load_summary()}", flush=True)
        tallies = {s.name: Tally() for s in servers}
        first_time = make in (first_usage, first_invoices)
        prof = None
        for round_ in range(args.rounds):
            for server in servers if round_ % 2 == 0 else reversed(servers):
                if args.profile and first_time and round_ == args.rounds - 1 and server is servers[-1]:
                    # answers asked for the first time can't be asked again for a profile: sample the last slice
                    prof = common.Profiler(server.process.pid, Path(f"{args.profile}.{name.split()[0].strip(',')}"
                                                                      f"-first.raw"), slice_seconds, subprocesses=True)
                    prof.start()
                measured(server, tallies[server.name], lambda server=server, make=make, name=name: load(
                    server, name, make, args.clients, slice_seconds))
        if prof is not None:
            print(f"  profile of {servers[-1].name}'s last slice (with the load measured):")
            prof.finish(20)
        used = first_turns.get(name, [0])[0]
        if used > len(unasked) > 0:
            print(f"  (the {len(unasked):,} customers not asked before ran out: about {used - len(unasked):,} were "
                  f"asked again; fewer --seconds or more --customers keep every one a first ask)")
        for server in servers:
            tally = tallies[server.name]
            print(f"  {server.name}: {tally.line()}")
            p95 = percentile(tally.samples, 95)
            who = f"{args.clients} clients" + (f" pausing {args.think:g} s" if args.think else "")
            lines.append(budget_line(f"{name} p95, {who}, {server.name}", ms(p95), "< 100 ms",
                                     p95 < 0.100 and not tally.errors))
        if args.profile and not first_time:
            target = servers[-1]
            prof = common.Profiler(target.process.pid, Path(f"{args.profile}.{name.split()[0].strip(',')}.raw"),
                                   min(slice_seconds, 15), subprocesses=True)
            prof.start()
            load(target, name, make, args.clients, slice_seconds)
            print(f"  profile of {target.name}:")
            prof.finish(20)

    # PDFs: half the clients download, the other half list invoices: does rendering stall the GraphQL clients?
    half = args.clients // 2
    if half == 0 or "pdf" not in args.queries:
        return
    print(f"\nPDF burst: {half} clients downloading PDFs while {half} list a customer's invoices; "
          f"{common.load_summary()}", flush=True)
    async def fill_pdf_paths(url: str) -> None:  # what the aiohttp clients gathered as they listed (not wrk)
        async with aiohttp.ClientSession() as http:
            rng = random.Random(7)
            for _ in range(100):
                await customer_invoices(Api(http, f"{url}/graphql", token), http, rng, url)

    for server in servers:
        if not pdf_paths[server.url]:
            asyncio.run(fill_pdf_paths(server.url))
    pdf_tallies = {s.name: Tally() for s in servers}
    list_tallies = {s.name: Tally() for s in servers}

    async def burst(server: Server) -> tuple[list[float], int]:
        pdfs: list[float] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=half)) as http:
            deadline = time.perf_counter() + slice_seconds

            async def downloader(i: int) -> None:
                rng = random.Random(1000 + i)
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    async with http.get(rng.choice(pdf_paths[server.url])) as response:
                        body = await response.read()
                    if response.status != 200 or not body.startswith(b"%PDF"):
                        raise common.BenchError(f"PDF: HTTP {response.status}")
                    pdfs.append(time.perf_counter() - t0)

            listing = asyncio.ensure_future(closed_loop(server.url, token, half, slice_seconds, customer_invoices))
            await asyncio.gather(*(downloader(i) for i in range(half)))
            samples, errors = await listing
        pdf_tallies[server.name].samples += pdfs
        pdf_tallies[server.name].seconds += slice_seconds
        return samples, errors

    for round_ in range(args.rounds):
        for server in servers if round_ % 2 == 0 else reversed(servers):
            measured(server, list_tallies[server.name], lambda server=server: asyncio.run(burst(server)))
    for server in servers:
        pdf = pdf_tallies[server.name]
        print(f"  {server.name}: PDFs n={len(pdf.samples)} ({len(pdf.samples) / pdf.seconds:.0f}/s), "
              f"p50 {ms(percentile(pdf.samples, 50))}, p95 {ms(percentile(pdf.samples, 95))}")
        print(f"    the invoice list meanwhile: {list_tallies[server.name].line()}")


def main() -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=10_000)
    p.add_argument("--events-per-customer", type=int, default=20)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=40.0, help="each measurement's duration per server")
    p.add_argument("--rounds", type=int, default=4,
                   help="the servers take turns, each measurement split in this many slices per server, so that "
                        "what else runs on the machine weighs on all of them alike")
    p.add_argument("--processes", default="1,2", help="API process counts of this tree's servers (WEB_CONCURRENCY)")
    p.add_argument("--profile", type=Path, help="py-spy the last server once more per query: <PATH>.<query>.raw")
    p.add_argument("--viewers", "--usage-customers", dest="usage_customers", type=int, default=0,
                   help="customerUsage and the customer invoice list ask about the first N customers only (0: all)")
    p.add_argument("--warm", "--warm-usage", dest="warm_usage", action="store_true",
                   help=f"ask customerUsage and the invoice list of each of those customers {WARM_PASSES} times per "
                        "server before measuring them; the customers never asked are measured apart")
    p.add_argument("--think", type=float, default=0.0,
                   help="seconds each client pauses (x 0.5 to 1.5, at random) between an answer and its next request: "
                        "people reading portal pages, not a closed loop at full speed (0: no pause, the budget's run)")
    p.add_argument("--queries", type=lambda text: set(text.split(",")),
                   default={"customerUsage", "customer", "organization", "revenue", "pdf"},
                   help="what to measure: customerUsage, customer (its invoices), organization (its invoices), "
                        "revenue (revenueMetrics), pdf, floor (`{ __typename }` with the API key: what any request "
                        "costs before its resolvers do anything; not in the default set)")
    p.add_argument("--baseline-processes", type=int, default=1, help="API processes of the --baseline-tree server")
    p.add_argument("--load-generator", choices=("wrk", "aiohttp"), default="wrk" if shutil.which("wrk") else "aiohttp",
                   help="who sends the requests: wrk (C, `apt-get install wrk`; the default when installed) or this "
                        "process's aiohttp clients (which take a good part of the machine's CPU themselves)")
    p.add_argument("--db-pool-size", type=int, default=5, help="DB_POOL_SIZE of every server (per API process)")
    p.add_argument("--candidate-index", action="store_true",
                   help="add an index on invoices (organization_id, created_at, id) after the set-up, to measure "
                        "what it would change (the schema has none: the organization-wide list sorts every invoice)")
    p.add_argument("--baseline-tree", type=Path,
                   help="another checkout (e.g. `git archive` of an older commit): its server (one process) is "
                        "measured too, on the same data, as the 'before' of this run")
    args = p.parse_args()
    common.exit_cleanly_on_sigterm()
    configs = [(f"this tree, WEB_CONCURRENCY={c}", common.ROOT, c) for c in args.processes.split(",") if c.strip()]
    if args.baseline_tree:
        configs.insert(0, (f"baseline {args.baseline_tree.name}, WEB_CONCURRENCY={args.baseline_processes}",
                           args.baseline_tree.resolve(), args.baseline_processes))

    lines: list[str] = []
    servers: list[Server] = []
    # Several servers run at once (idle but for the one measured): a smaller pool each keeps them all under
    # PostgreSQL's max_connections (100 by default) beside whatever else uses the server.
    with BenchStack(args.database_url, args.redis_url, keep_logs=args.keep_logs, processes=1,
                    db_pool_size=args.db_pool_size) as stack:
        try:
            print(common.machine_summary(stack.database_url))
            customers, _ = asyncio.run(setup(stack, args.customers, args.events_per_customer))
            if args.candidate_index:
                asyncio.run(common.admin_sql(stack.database_url, "CREATE INDEX ix_bench_invoices_created ON "
                                                                 "invoices (organization_id, created_at, id)"))
                print("set-up: candidate index ix_bench_invoices_created (organization_id, created_at, id) added")
            stack.stop_server()
            servers = [Server(stack, name, root, int(count)) for name, root, count in configs]
            for server in servers:
                server.wait_ready()
            compare(stack, args, servers, customers, lines)
        finally:
            for server in servers:
                server.stop()
    last = configs[-1][0]
    return 0 if all("PASS" in line for line in lines if last in line) else 1


if __name__ == "__main__":
    sys.exit(main())
