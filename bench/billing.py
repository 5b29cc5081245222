"""Billing run: 10,000 subscriptions with usage invoiced (budget: in < 60 s).

    .venv/bin/python bench/billing.py [--subscriptions 10000] [--workers 1,2] [--profile /tmp/billing]

Set-up (not timed against the budget, but reported):
  * the organization comes from `valueverse create-org` (BenchStack);
  * 1 SUM metric and 1 plan (MONTHLY, 10.00 in arrears + 0.001 per unit) over GraphQL;
  * N customers, each with one ANNIVERSARY subscription that started one calendar month and one day
    ago, so that exactly one period has ended (about a day ago) and the next is still running.
    First --pilot customers go over GraphQL (createCustomer + createSubscription, --concurrency
    clients); when that pace projects the whole set past --graphql-limit seconds, the rest are
    created in-process through the same use cases (services.customers.create_customer and
    services.subscriptions.create_subscription, --batch customers per unit of work, 4 at once).
    The output says which path made how many;
  * --events-per-customer events per customer through POST /v1/events, 5,000 per request, with
    timestamps 2 to 25 days old (inside the ended period).

The set is then copied with CREATE DATABASE … TEMPLATE (the API is stopped for it), once per
worker configuration, so that every measurement bills the same fresh 10,000 subscriptions:
  (a) one `runBilling` mutation (the API bills customer after customer, one transaction each);
      then a second `runBilling`, which must create no invoice;
  (b) for each count in --workers: that many `valueverse worker` processes on a copy (started one
      after the other: see start_workers), one `bill_customer` job per customer enqueued with arq,
      timed from the first enqueue until SQL counts N invoices; meanwhile pg_stat_activity is
      sampled to show whether the workers' sessions run statements or wait for locks.
Each path is checked: exactly N invoices, one per customer, numbers gapless 1..N, the CHARGE
lines' units add up to the usage sent. With --profile, py-spy samples the API during (a) and
the first worker during the first (b) run (for --profile-seconds); the numbers of a profiled run
are a few per cent slower. Last, --breakdown customers are billed in-process on yet another copy
with a wall-clock timer around each step of services.billing.runs.bill_customers and the SQL statements
counted and timed (SQLAlchemy cursor events): where one customer's time goes, by function.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import asyncpg
import common
import orjson
import psutil
from common import Api, BenchStack, budget_line, mib

METRIC, PLAN = "api_calls", "billing-plan"
FEE, UNIT_PRICE = Decimal("10"), Decimal("0.001")
BUDGET_SECONDS = 60.0
RUN = """mutation($asOf: DateTime) { runBilling(input: {asOf: $asOf}) {
  invoices { id } failures { customerExternalId reason } userErrors { code message } } }"""


def months_back(moment: datetime, months: int) -> datetime:
    """The same wall-clock moment `months` calendar months earlier (day clamped to the month's length)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def customer_ids(n: int) -> list[str]:
    return [f"bc-{i:05d}" for i in range(n)]


# --- set-up ---------------------------------------------------------------------------------------


async def create_catalog(api: Api) -> None:
    await common.create_metric(api, METRIC, "SUM", "value")
    await common.create_plan(api, PLAN, [{"billableMetricCode": METRIC, "model": "STANDARD",
                                          "properties": {"amount": str(UNIT_PRICE)}}], amount=str(FEE))


async def create_over_graphql(stack: BenchStack, customers: list[str], started_at: datetime,
                              concurrency: int) -> float:
    assert stack.org is not None
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        api = Api(http, stack.graphql_url, stack.org.api_key)
        t0 = time.perf_counter()
        await common.create_customers(api, customers, PLAN, started_at=started_at, concurrency=concurrency)
        return time.perf_counter() - t0


async def create_in_process(database_url: str, organization_id: str, customers: list[str], started_at: datetime,
                            batch: int, parallel: int = 4) -> float:
    """The use cases the GraphQL mutations call, without HTTP and GraphQL: `batch` customers per unit of work."""
    from db.session import Database
    from services.actors import system_actor
    from services.customers import CustomerFields, create_customer
    from services.subscriptions import SubscriptionSpec, create_subscription

    db = Database(database_url, pool_size=parallel)
    actor = system_actor(uuid.UUID(organization_id), name="bench set-up")
    gate = asyncio.Semaphore(parallel)

    async def one_batch(chunk: list[str]) -> None:
        async with gate, db.unit_of_work() as uow:
            for external_id in chunk:
                await create_customer(uow, actor, external_id, CustomerFields(name=external_id))
                await create_subscription(uow, actor, SubscriptionSpec(
                    customer_external_id=external_id, plan_code=PLAN, external_id=f"sub-{external_id}",
                    started_at=started_at, billing_time="ANNIVERSARY"))

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(one_batch(customers[i:i + batch]) for i in range(0, len(customers), batch)))
        return time.perf_counter() - t0
    finally:
        await db.dispose()


def usage_value(n: int) -> Decimal:
    return Decimal(f"{n % 90 + 1}.{(n * 7919) % 1000:03d}")


async def send_usage(stack: BenchStack, customers: list[str], per_customer: int, per_request: int = 5000,
                     concurrency: int = 4) -> tuple[int, Decimal, float]:
    """(accepted, sum of the values, seconds). Timestamps 2 to 25 days old, spread by event number."""
    assert stack.org is not None
    now = datetime.now(UTC)
    events = []
    total = Decimal(0)
    for n in range(len(customers) * per_customer):
        value = usage_value(n)
        total += value
        age = timedelta(days=2) + timedelta(seconds=(n * 104_729) % (23 * 86_400))
        events.append({"transactionId": f"bill-{n}", "customerExternalId": customers[n % len(customers)],
                       "metricCode": METRIC, "timestamp": (now - age).isoformat(),
                       "properties": {"value": value}})
    bodies = [orjson.dumps(events[i:i + per_request], default=str) for i in range(0, len(events), per_request)]
    gate = asyncio.Semaphore(concurrency)
    accepted = 0
    headers = {"Authorization": f"Bearer {stack.org.api_key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=300)) as http:
        async def post(body: bytes) -> None:
            nonlocal accepted
            async with gate, http.post(stack.events_url, data=body) as response:
                answer = await response.json(content_type=None)
            if response.status != 200 or answer.get("rejected"):
                raise common.BenchError(f"POST /v1/events: HTTP {response.status} {str(answer)[:300]}")
            accepted += answer["accepted"]

        t0 = time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        return accepted, total, time.perf_counter() - t0


# --- checks ---------------------------------------------------------------------------------------


async def invoice_count(conn: asyncpg.Connection, org: uuid.UUID) -> int:
    return await conn.fetchval("SELECT count(*) FROM invoices WHERE organization_id = $1", org)


async def check(database_url: str, organization_id: str, n: int, usage_total: Decimal) -> dict[str, Any]:
    org = uuid.UUID(organization_id)
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS invoices, count(DISTINCT customer_id) AS customers, count(DISTINCT number) AS numbers, "
            "sum(total_minor) AS total_minor FROM invoices WHERE organization_id = $1", org)
        last = await conn.fetchval("SELECT last_number FROM invoice_number_sequences WHERE organization_id = $1", org)
        units = await conn.fetchval("SELECT coalesce(sum(units), 0) FROM invoice_lines WHERE organization_id = $1 "
                                    "AND kind = 'CHARGE'", org)
        fees = await conn.fetchval("SELECT count(*) FROM invoice_lines WHERE organization_id = $1 "
                                   "AND kind = 'SUBSCRIPTION'", org)
    finally:
        await conn.close()
    ok = (row["invoices"] == n == row["customers"] == row["numbers"] == (last or 0) == fees
          and Decimal(units) == usage_total)
    return {"invoices": row["invoices"], "customers": row["customers"], "numbers": row["numbers"], "last": last,
            "fee_lines": fees, "units": Decimal(units), "total": Decimal(row["total_minor"] or 0) / 100, "ok": ok}


def describe(c: dict[str, Any], usage_total: Decimal) -> str:
    return (f"{c['invoices']:,} invoices for {c['customers']:,} customers, {c['fee_lines']:,} fee lines, numbers "
            f"1..{c['last']} ({c['numbers']:,} distinct), CHARGE units {c['units']} (sent {usage_total}), "
            f"invoiced total {c['total']:,.2f}: {'OK' if c['ok'] else 'WRONG'}")


# --- what the machine does meanwhile ----------------------------------------------------------------


class Cpu:
    """CPU seconds of some processes, of PostgreSQL and of the machine over a window."""

    def __init__(self, pids: list[int]) -> None:
        # with their children: serve's API processes when WEB_CONCURRENCY > 1
        self.procs = [c for p in pids for c in (psutil.Process(p), *psutil.Process(p).children(recursive=True))]

    def _own(self) -> float:
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
        return total

    def start(self) -> Cpu:
        self.t0 = time.monotonic()
        self.own0, self.pg0, self.machine0 = self._own(), common._postgres_cpu(), psutil.cpu_times()
        return self

    def stop(self) -> str:
        elapsed = time.monotonic() - self.t0
        pg = common._postgres_cpu()
        busy = lambda t: t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0)  # noqa: E731
        own = self._own() - self.own0
        pg_cpu = sum(pg.values()) - sum(self.pg0.values())
        machine = busy(psutil.cpu_times()) - busy(self.machine0)
        return (f"CPU over {elapsed:.1f} s (2 cores = 200 %): billing process(es) {100 * own / elapsed:.0f} %, "
                f"PostgreSQL (all backends) {100 * pg_cpu / elapsed:.0f} %, "
                f"whole machine {100 * machine / elapsed:.0f} %")


async def poll_progress(database_url: str, org: uuid.UUID, target: int, progress: list[tuple[float, int]],
                        stop: asyncio.Event, interval: float = 1.0) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        t0 = time.perf_counter()
        while not stop.is_set():
            count = await invoice_count(conn, org)
            progress.append((time.perf_counter() - t0, count))
            if count >= target:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await conn.close()


def pace(progress: list[tuple[float, int]], n: int) -> str:
    """Invoices/s over each tenth of the run: shows whether billing slows down as invoices pile up."""
    out = []
    marks = [n * k // 10 for k in range(11)]
    prev_t, prev_c = 0.0, 0
    for mark in marks[1:]:
        hit = next(((t, c) for t, c in progress if c >= mark), None)
        if hit is None:
            break
        t, c = hit
        if t > prev_t:
            out.append(f"{(c - prev_c) / (t - prev_t):.0f}")
        prev_t, prev_c = t, c
    return "/".join(out)


# --- (a) runBilling ------------------------------------------------------------------------------


async def run_billing(stack: BenchStack, as_of: datetime, n: int) -> tuple[float, int, list, list[tuple[float, int]]]:
    assert stack.org is not None
    org = uuid.UUID(stack.org.organization_id)
    progress: list[tuple[float, int]] = []
    stop = asyncio.Event()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as http:
        api = Api(http, stack.graphql_url, stack.org.api_key)
        poller = asyncio.create_task(poll_progress(stack.database_url, org, n, progress, stop))
        t0 = time.perf_counter()
        try:
            data = (await api(RUN, asOf=as_of.isoformat()))["runBilling"]
        finally:
            elapsed = time.perf_counter() - t0
            stop.set()
            await poller
    if data["userErrors"]:
        raise common.BenchError(f"runBilling: {data['userErrors']}")
    return elapsed, len(data["invoices"]), data["failures"], progress


# --- (b) workers ---------------------------------------------------------------------------------


def start_workers(stack: BenchStack, database_url: str, count: int, tag: str) -> list[subprocess.Popen]:
    """`valueverse worker` processes, started one after the other: each is ready once it holds a connection to
    PostgreSQL (its on_startup has run; the poll loop starts next). Not all at once: workers starting together
    race in on_startup's maintain_usage_partitions and one exits with "relation usage_events_YYYYMM already
    exists" (CREATE TABLE IF NOT EXISTS … PARTITION OF is not safe against a concurrent create)."""
    env = {**stack.env, "DATABASE_URL": database_url}
    pg_port = urlsplit(database_url).port or 5432
    workers: list[subprocess.Popen] = []
    try:
        for i in range(count):
            log = (stack.log_dir / f"worker-{tag}-{i}.log").open("w")
            w = subprocess.Popen([sys.executable, "-m", "valueverse.cli", "worker"], env=env, cwd=common.ROOT,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            workers.append(w)
            deadline = time.monotonic() + 60
            while True:
                if time.monotonic() > deadline:
                    raise common.BenchError(f"worker {w.pid} did not start within 60 s")
                if w.poll() is not None:
                    raise common.BenchError(f"worker {w.pid} exited with {w.returncode} during start-up")
                with contextlib.suppress(psutil.Error):
                    if any(c.raddr and c.raddr.port == pg_port for c in psutil.Process(w.pid).net_connections("tcp")):
                        break
                time.sleep(0.1)
        time.sleep(0.5)
    except BaseException:
        stop_workers(workers)
        raise
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        if w.poll() is None:
            w.terminate()
    for w in workers:
        try:
            w.wait(timeout=20)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait(timeout=10)


async def customer_rows(database_url: str, org: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return [str(r["id"]) for r in await conn.fetch(
            "SELECT id FROM customers WHERE organization_id = $1 ORDER BY created_at", org)]
    finally:
        await conn.close()


# What the other sessions on the database are doing (sampled while the jobs run): working, waiting for a lock
# (which one), or holding a transaction open while the worker's Python runs ("idle in transaction").
ACTIVITY = """SELECT CASE WHEN wait_event_type = 'Lock' THEN 'waiting for a lock (' || wait_event || ')'
                   WHEN state = 'active' THEN 'running a statement'
                   WHEN state = 'idle in transaction' THEN 'idle in transaction (Python side)'
                   ELSE coalesce(state, '?') END AS what
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"""


async def run_jobs(stack: BenchStack, database_url: str, as_of: datetime, n: int,
                   stall_seconds: float = 60.0) -> dict[str, Any]:
    from arq import create_pool
    from arq.connections import RedisSettings

    from workers.jobs.billing import enqueue_billing

    assert stack.org is not None
    org = uuid.UUID(stack.org.organization_id)
    customers = await customer_rows(database_url, org)
    pool = await create_pool(RedisSettings.from_dsn(stack.redis_url))
    progress: list[tuple[float, int]] = []
    try:
        conn = await asyncpg.connect(database_url)
        try:
            # Forget every job of an earlier measurement on another database: job ids are named by customer and
            # asOf, and what (a)'s runBilling queued after commit (emails, collection, webhooks of its 10,000
            # invoices, for invoices this copy does not have) would keep the workers busy for minutes first.
            stale = [key async for key in pool.scan_iter(match="arq:*")]
            if stale:
                await pool.delete(*stale)
            t0 = time.perf_counter()
            # what the hourly schedule_billing cron does: one bill_customers job per batch of customers
            jobs = await enqueue_billing(pool, [(org, uuid.UUID(c)) for c in customers], as_of)
            enqueued = time.perf_counter() - t0
            last_change, last = time.perf_counter(), -1
            states: dict[str, int] = {}
            while True:
                count = await invoice_count(conn, org)
                for row in await conn.fetch(ACTIVITY):
                    states[row["what"]] = states.get(row["what"], 0) + 1
                now = time.perf_counter()
                progress.append((now - t0, count))
                if count >= n:
                    break
                if count != last:
                    last_change, last = now, count
                elif now - last_change > stall_seconds:
                    break
                await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - t0
        finally:
            await conn.close()
        # the jobs' own outcome (arq keeps the results): failures and the job-side time
        await asyncio.sleep(1.0)
        infos = await asyncio.gather(*(j.result_info() for j in jobs if j is not None))
        done = [i for i in infos if i is not None]
        failed = [i for i in done if not i.success]
        run_ms = sorted((i.finish_time - i.start_time).total_seconds() for i in done)
        return {"elapsed": elapsed, "enqueue": enqueued, "jobs": len(jobs), "results": len(done),
                "states": states,
                "failed": len(failed), "first_error": repr(failed[0].result)[:300] if failed else "",
                "job_p50": common.percentile(run_ms, 50), "job_p95": common.percentile(run_ms, 95),
                "progress": progress}
    finally:
        await pool.aclose()


def worker_jobs() -> int:
    from workers.settings import MAX_JOBS

    return MAX_JOBS


# --- where a customer's time goes (diagnostic) ----------------------------------------------------


async def breakdown(database_url: str, organization_id: str, as_of: datetime, customers: int) -> str:
    """Bill `customers` customers in-process, a batch of services.billing.runs.BATCH_SIZE per unit of work (what
    runBilling does, without HTTP and GraphQL), with wall-clock timers around the steps of
    services.billing.runs.bill_customers and SQLAlchemy events counting the statements and the time spent inside
    cursor.execute (driver + round trip + PostgreSQL)."""
    import functools

    from sqlalchemy import event

    from db.repositories.audit import AuditRepository
    from db.repositories.billing import InvoiceRepository
    from db.repositories.customers import CustomerRepository
    from db.repositories.organizations import OrganizationRepository
    from db.repositories.subscriptions import SubscriptionRepository
    from db.session import Database
    from services import audit
    from services.billing import issue, runs
    from services.usage import rating

    spent: dict[str, float] = {}
    calls: dict[str, int] = {}

    def timed(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        async def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await original(*a, **k)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
                calls[label] = calls.get(label, 0) + 1

        setattr(owner, name, wrapper)

    steps = [  # (owner, attribute, label); labels indented under the step that contains them
        (runs, "bill_customers", "services/billing/runs.py bill_customers (all of it but the before-commit seal)"),
        (runs, "advisory_xact_locks", "  db/locks.py advisory_xact_locks (the batch's customers)"),
        (OrganizationRepository, "get", "  OrganizationRepository.get"),
        (CustomerRepository, "by_ids", "  CustomerRepository.by_ids"),
        (SubscriptionRepository, "of_customers", "  SubscriptionRepository.of_customers (+ phases, plans, charges)"),
        (rating, "rate_windows", "  services/usage/rating.py rate_windows (usage of the periods, batched)"),
        (InvoiceRepository, "billing_keys", "  InvoiceRepository.billing_keys (invoices that exist)"),
        (issue.InvoicingContext, "load", "  InvoicingContext.load (tax rates, coupons, credit notes, wallets)"),
        (runs, "_issue", "  services/billing/issue.py _issue (compute and stage each invoice)"),
        (runs, "finalize_many", "  services/billing/finalize.py finalize_many"),
        (InvoiceRepository, "next_numbers", "    InvoiceRepository.next_numbers (gapless, row lock; flushes)"),
        (audit, "_seal", "services/audit.py _seal (before COMMIT: chain lock, link, INSERT entries)"),
        (AuditRepository, "append", "  AuditRepository.append (INSERT of the batch's entries)"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in steps]
    for owner, name, label in steps:
        timed(owner, name, label)

    org = uuid.UUID(organization_id)
    db = Database(database_url, pool_size=1)
    statements: dict[str, int] = {}
    in_cursor = [0.0]

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_t0"] = time.perf_counter()
        head = " ".join(statement.split()[:3])[:48]
        statements[head] = statements.get(head, 0) + 1

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        in_cursor[0] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    event.listen(db.engine.sync_engine, "after_cursor_execute", after)
    size = runs.BATCH_SIZE
    try:
        ids = [uuid.UUID(c) for c in (await customer_rows(database_url, org))[:customers]]
        actor = runs.job_actor(org)
        made, total = 0, 0.0
        for i in range(0, len(ids), size):
            t0 = time.perf_counter()
            async with db.unit_of_work() as uow:
                made += len(await runs.bill_customers(uow, actor, ids[i:i + size], as_of))
            total += time.perf_counter() - t0
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
        await db.dispose()
    k = len(ids)
    per = lambda seconds: 1000 * seconds / k  # noqa: E731
    lines = [f"where a customer's time goes: in-process bill_customers, {size} customers per unit of work, {k} "
             f"customers ({made} invoices), {per(total):.2f} ms per customer (wall clock, sequential):",
             f"  {per(total):6.2f} ms 100 %  unit of work (session, BEGIN, bill_customers, seal, COMMIT)"]
    for _, _, label in steps:
        if label in spent:
            ms_ = per(spent[label])
            lines.append(f"  {ms_:6.2f} ms {100 * ms_ / per(total):3.0f} %  {label}  [{calls[label] / k:g}/customer]")
    lines.append(f"  {per(in_cursor[0]):6.2f} ms {100 * in_cursor[0] / total:3.0f} %  (across all steps) inside "
                 f"cursor.execute: {sum(statements.values()) / k:.2f} statements per customer (+ BEGIN/COMMIT); "
                 f"the rest, {per(total - in_cursor[0]):.2f} ms, is Python (SQLAlchemy ORM, project code, event loop)")
    lines += [f"      {n / k:5.2f}  {head}" for head, n in sorted(statements.items(), key=lambda kv: -kv[1])[:14]]
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--subscriptions", type=int, default=10_000)
    p.add_argument("--events-per-customer", type=int, default=5)
    p.add_argument("--setup", choices=("auto", "graphql", "services"), default="auto",
                   help="how customers and subscriptions are created (auto: GraphQL unless too slow)")
    p.add_argument("--pilot", type=int, default=400, help="customers created over GraphQL to measure its pace")
    p.add_argument("--concurrency", type=int, default=12, help="concurrent GraphQL clients during set-up")
    p.add_argument("--graphql-limit", type=float, default=150.0,
                   help="seconds the whole GraphQL set-up may take, projected from the pilot")
    p.add_argument("--batch", type=int, default=200, help="customers per unit of work (in-process set-up)")
    p.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated (empty: none)")
    p.add_argument("--skip-run-billing", action="store_true", help="do not measure the runBilling mutation")
    p.add_argument("--profile", type=Path, help="py-spy: <PATH>.api.raw (runBilling) and <PATH>.worker.raw")
    p.add_argument("--profile-seconds", type=float, default=40.0)
    p.add_argument("--breakdown", type=int, default=300, metavar="CUSTOMERS",
                   help="bill this many customers in-process on another copy, with timers per step (0: skip)")
    args = p.parse_args()
    common.exit_cleanly_on_sigterm()
    n = args.subscriptions
    worker_counts = [int(x) for x in args.workers.split(",") if x.strip()]

    lines: list[str] = []
    with BenchStack(args.database_url, args.redis_url, keep_logs=args.keep_logs,
                    processes=args.web_concurrency) as stack:
        assert stack.org is not None and stack.server is not None
        print(common.machine_summary(stack.database_url))
        t_setup = time.perf_counter()
        now = datetime.now(UTC)
        started_at = months_back(now - timedelta(days=1), 1)
        customers = customer_ids(n)

        async def catalog() -> None:
            assert stack.org is not None
            async with aiohttp.ClientSession() as http:
                await create_catalog(Api(http, stack.graphql_url, stack.org.api_key))

        asyncio.run(catalog())
        over_graphql = 0
        if args.setup != "services":
            pilot = customers if args.setup == "graphql" else customers[:min(args.pilot, n)]
            seconds = asyncio.run(create_over_graphql(stack, pilot, started_at, args.concurrency))
            over_graphql = len(pilot)
            rate = len(pilot) / seconds
            print(f"set-up over GraphQL: {len(pilot):,} customers + subscriptions in {seconds:.1f} s "
                  f"({rate:.0f}/s, {args.concurrency} concurrent clients); all {n:,} would take {n / rate:.0f} s",
                  flush=True)
            rest = customers[len(pilot):]
            if rest and n / rate <= args.graphql_limit:
                seconds = asyncio.run(create_over_graphql(stack, rest, started_at, args.concurrency))
                over_graphql += len(rest)
                print(f"set-up over GraphQL: the other {len(rest):,} in {seconds:.1f} s", flush=True)
        rest = customers[over_graphql:]
        if rest:
            seconds = asyncio.run(create_in_process(stack.database_url, stack.org.organization_id, rest, started_at,
                                                    args.batch))
            print(f"set-up in-process (services.customers.create_customer + services.subscriptions."
                  f"create_subscription, {args.batch} per unit of work, 4 at once): {len(rest):,} customers + "
                  f"subscriptions in {seconds:.1f} s ({len(rest) / seconds:.0f}/s)", flush=True)
        accepted, usage_total, seconds = asyncio.run(send_usage(stack, customers, args.events_per_customer))
        if accepted != n * args.events_per_customer:
            raise common.BenchError(f"{accepted} events accepted of {n * args.events_per_customer}")
        print(f"usage: {accepted:,} events through POST /v1/events (5,000 per request) in {seconds:.1f} s; "
              f"values add up to {usage_total}; subscriptions started {started_at:%Y-%m-%d %H:%M} UTC (anniversary)")

        # copies of the fresh set, one per measurement that bills it
        stack.stop_server()
        t0 = time.perf_counter()
        clones = {w: stack.clone_database(f"w{w}") for w in worker_counts}
        stmt_url = stack.clone_database("steps") if args.breakdown else None
        print(f"copied the set into {len(clones) + bool(stmt_url)} more database(s) "
              f"in {time.perf_counter() - t0:.1f} s")
        stack.start_server()
        print(f"set-up done in {time.perf_counter() - t_setup:.0f} s\n", flush=True)
        as_of = datetime.now(UTC)

        results: list[tuple[str, float]] = []
        if not args.skip_run_billing:
            prof = None
            if args.profile:
                prof = common.Profiler(stack.server.pid, Path(f"{args.profile}.api.raw"), args.profile_seconds)
                prof.start()
            cpu = Cpu([stack.server.pid]).start()
            elapsed, made, failures, progress = asyncio.run(run_billing(stack, as_of, n))
            usage = cpu.stop()
            print(f"(a) runBilling: {made:,} invoices in {elapsed:.1f} s = {made / elapsed:.0f} invoices/s "
                  f"({1000 * elapsed / max(1, made):.1f} ms per customer); failures {len(failures)} "
                  f"{failures[:3] or ''}")
            print(f"    invoices/s over each tenth of the run: {pace(progress, n)}")
            print(f"    {usage}; server RSS {mib(stack.server_rss())}")
            if prof:
                prof.finish(30)
            t0 = time.perf_counter()
            again, again_made, again_failures, _ = asyncio.run(run_billing(stack, as_of, n))
            print(f"    second runBilling: {again_made} invoices, {len(again_failures)} failures, {again:.1f} s")
            c = asyncio.run(check(stack.database_url, stack.org.organization_id, n, usage_total))
            print(f"    {describe(c, usage_total)}")
            results.append(("runBilling", elapsed))
            lines.append(budget_line(f"billing run, runBilling mutation, {n:,} subscriptions",
                                     f"{elapsed:.1f} s ({made / elapsed:.0f} invoices/s)",
                                     f"< {BUDGET_SECONDS:.0f} s", elapsed < BUDGET_SECONDS))
            lines.append(budget_line("runBilling: one invoice per subscription, gapless, units = usage; rerun makes 0",
                                     f"{c['invoices']:,} then {again_made}", f"{n:,} then 0",
                                     c["ok"] and made == n and again_made == 0 and not failures))

        for index, count in enumerate(worker_counts):
            url = clones[count]
            workers = start_workers(stack, url, count, f"w{count}")
            prof = None
            try:
                if args.profile and index == 0:
                    prof = common.Profiler(workers[0].pid, Path(f"{args.profile}.worker.raw"), args.profile_seconds)
                    prof.start()
                cpu = Cpu([w.pid for w in workers]).start()
                r = asyncio.run(run_jobs(stack, url, as_of, n))
                usage = cpu.stop()
                rss = sum(psutil.Process(w.pid).memory_info().rss for w in workers if w.poll() is None)
            finally:
                stop_workers(workers)
            print(f"\n(b) {count} worker process(es), {r['jobs']:,} bill_customers jobs "
                  f"(enqueued in {r['enqueue']:.1f} s): {n:,} invoices in {r['elapsed']:.1f} s = "
                  f"{n / r['elapsed']:.0f} invoices/s")
            print(f"    jobs: {r['results']:,} results, {r['failed']} failed {r['first_error']}; time in a job "
                  f"p50 {1000 * r['job_p50']:.0f} ms, p95 {1000 * r['job_p95']:.0f} ms "
                  f"(up to {worker_jobs()} jobs at once per worker)")
            print(f"    invoices/s over each tenth of the run: {pace(r['progress'], n)}")
            print(f"    {usage}; workers' RSS {mib(rss)}")
            sampled = sum(r["states"].values())
            shares = ", ".join(f"{what} {100 * k / max(1, sampled):.0f} %"
                               for what, k in sorted(r["states"].items(), key=lambda kv: -kv[1]))
            print(f"    the workers' PostgreSQL sessions, sampled every 0.2 s "
                  f"({sampled / max(1, len(r['progress'])):.1f} open on average): {shares}")
            if prof:
                prof.finish(30)
            c = asyncio.run(check(url, stack.org.organization_id, n, usage_total))
            print(f"    {describe(c, usage_total)}")
            results.append((f"{count} worker(s)", r["elapsed"]))
            lines.append(budget_line(f"billing run, {count} worker process(es), {n:,} subscriptions",
                                     f"{r['elapsed']:.1f} s ({n / r['elapsed']:.0f} invoices/s)",
                                     f"< {BUDGET_SECONDS:.0f} s", r["elapsed"] < BUDGET_SECONDS))
            lines.append(budget_line(f"{count} worker(s): one invoice per subscription, gapless, units = usage",
                                     f"{c['invoices']:,}, {r['failed']} failed jobs", f"{n:,}, 0",
                                     c["ok"] and r["failed"] == 0))

        if stmt_url:
            print("\n" + asyncio.run(breakdown(stmt_url, stack.org.organization_id, as_of, args.breakdown)))
        print()
        for what, seconds in results:
            print(f"  {what:<14} {seconds:7.1f} s  {n / seconds:6.0f} invoices/s")
        print()
    return 0 if lines and all("PASS" in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
