"""Collection: 10,000 finalized invoices charged against the fake Stripe (budget: < 5 min, no invoice charged
twice), and outbound webhook delivery latency under a billing run (budget: committed -> delivered p95 < 2 s).

    .venv/bin/python bench/collection.py [--invoices 10000] [--workers 2] [--billing-subscriptions 2000]

The fake Stripe (tests/fakes/stripe.py) runs as its own server process; the API and the workers reach it through
the real Stripe SDK (STRIPE_API_BASE). Outbound webhooks go to tests/fakes/receiver.py, in this process.

Set-up (timed, reported, not against the budget): a Stripe test key configured (configurePaymentProvider); then,
for speed, without our API: N customers through the use case, each one's Stripe customer and pm_card_visa made at
the fake over its HTTP API (what setCustomerPaymentMethod asks of Stripe) and kept as its default payment method,
and one 10.00 USD one-off invoice each through the use case createOneOffInvoice calls. The API runs without a
worker, so each finalization's `collect_invoice` job waits in the queue.

(1) Collection: --workers `valueverse worker` processes are started and timed from the first start until SQL
    counts N PAID invoices. Then the fake's request log is read: every executed (not replayed) POST
    /v1/payment_intents, by the invoice of its idempotency key — a second charge of an invoice is a duplicate.
    An endpoint subscribed to invoice.paid records when each event arrives: latency = arrival - the event's
    createdAt (its transaction's time). Informational: the deliveries queue behind the remaining collection jobs.
(2) Webhooks under a billing run: --billing-subscriptions customers with one ANNIVERSARY subscription that
    started a month and a day ago (made in-process through the use cases, as bench/billing.py does), an endpoint
    subscribed to invoice.created and invoice.finalized, then one `runBilling` in the API while the same workers
    deliver: latency of every event, p50 / p95 / max (the budget is p95 < 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
import asyncpg
import billing
import common
import orjson
from aiohttp import web
from common import Api, BenchStack, budget_line, percentile

from tests.fakes.receiver import WebhookReceiver

COLLECTION_BUDGET_SECONDS = 300.0
WEBHOOK_P95_BUDGET = 2.0
CONFIGURE = """mutation($input: ConfigurePaymentProviderInput!) { configurePaymentProvider(input: $input) {
  provider userErrors { code message } } }"""
ENDPOINT = """mutation($url: String!, $types: [String!]!) { createWebhookEndpoint(input: {url: $url,
  eventTypes: $types}) { endpoint { id } userErrors { code message } } }"""


class TimedReceiver(WebhookReceiver):
    """The fake receiver, noting when each request arrived (before it is answered)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.arrivals: list[tuple[float, bytes]] = []

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrivals.append((time.time(), await request.read()))
        return await super()._handle(request)

    def latencies(self, types: set[str], since: float = 0.0) -> tuple[list[float], int]:
        """Seconds from each event's createdAt to its first arrival, and how many arrivals were repeats."""
        first: dict[str, float] = {}
        repeats = 0
        for arrived, body in self.arrivals:
            event = orjson.loads(body)
            if event["type"] not in types or arrived < since:
                continue
            created = datetime.fromisoformat(event["createdAt"]).timestamp()
            if event["id"] in first:
                repeats += 1
                continue
            first[event["id"]] = arrived - created
        return list(first.values()), repeats


def start_fake_stripe(log_dir: Path) -> tuple[subprocess.Popen, str]:
    port = common.free_port()
    log = (log_dir / "fake-stripe.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.stripe", "--port", str(port)],
        cwd=common.ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise common.BenchError(f"the fake Stripe exited with {process.returncode}")
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, url
        time.sleep(0.1)
    raise common.BenchError("the fake Stripe did not listen within 30 s")


async def gather_limited(concurrency: int, items: list[Any], one: Any) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def run(item: Any) -> None:
        async with gate:
            await one(item)

    await asyncio.gather(*(run(i) for i in items))


def payload(data: dict[str, Any], name: str) -> dict[str, Any]:
    if data[name].get("userErrors"):
        raise common.BenchError(f"{name}: {data[name]['userErrors']}")
    return data[name]


async def set_up_invoices(stack: BenchStack, api: Api, n: int, concurrency: int) -> dict[str, float]:
    """A Stripe key over GraphQL; then, for speed, the rest without our API: customers through the use case,
    each one's Stripe customer and pm_card_visa made at the fake over its HTTP API (what setCustomerPaymentMethod
    asks of Stripe) and kept as its default payment method, and one one-off invoice each through the use case that
    createOneOffInvoice calls (finalized at once: its collect_invoice job is queued in Redis)."""
    from db.session import Database
    from integrations.jobs import JobQueue
    from services.actors import system_actor
    from services.credits import OneOffLine, create_one_off_invoice
    from services.customers import CustomerFields, create_customer

    assert stack.org is not None
    key = f"sk_test_{secrets.token_hex(12)}"
    payload(await api(CONFIGURE, input={"provider": "STRIPE", "secretKey": key}), "configurePaymentProvider")
    stripe_url = os.environ["STRIPE_API_BASE"]
    org = uuid.UUID(stack.org.organization_id)
    customers = [f"cc-{i:05d}" for i in range(n)]
    queue = JobQueue(stack.redis_url)
    db = Database(stack.database_url, pool_size=4, enqueue=queue)
    actor = system_actor(org, name="bench set-up")
    timings = {}
    batches = [customers[i : i + 100] for i in range(0, n, 100)]
    try:
        t0 = time.perf_counter()
        ids: dict[str, uuid.UUID] = {}

        async def make_customers(chunk: list[str]) -> None:
            async with db.unit_of_work() as uow:
                for c in chunk:
                    row = await create_customer(uow, actor, c, CustomerFields(name=c, currency="USD"))
                    ids[c] = row.id

        await gather_limited(4, batches, make_customers)
        timings["customers"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        at_stripe: dict[str, tuple[str, str]] = {}
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(headers=headers) as http:

            async def card(c: str) -> None:
                async with http.post(f"{stripe_url}/v1/customers", data={"name": c}) as r:
                    customer = (await r.json())["id"]
                async with http.post(f"{stripe_url}/v1/payment_methods/pm_card_visa/attach",
                                     data={"customer": customer}) as r:
                    method = (await r.json())["id"]
                at_stripe[c] = (customer, method)

            await gather_limited(concurrency * 4, customers, card)
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.executemany(
                "INSERT INTO provider_customers (id, organization_id, customer_id, provider, provider_customer_id,"
                " created_at) VALUES ($1, $2, $3, 'STRIPE', $4, now())",
                [(uuid.uuid4(), org, ids[c], at_stripe[c][0]) for c in customers])
            await conn.executemany(
                "INSERT INTO payment_methods (id, organization_id, customer_id, provider, provider_payment_method_id,"
                " kind, brand, last4, is_default, created_at) VALUES ($1, $2, $3, 'STRIPE', $4, 'card', 'visa',"
                " '4242', true, now())",
                [(uuid.uuid4(), org, ids[c], at_stripe[c][1]) for c in customers])
        finally:
            await conn.close()
        timings["Stripe customers with pm_card_visa (at the fake)"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        line = [OneOffLine("Service", Decimal("10"))]

        async def invoices(chunk: list[str]) -> None:
            async with db.unit_of_work() as uow:
                for c in chunk:
                    invoice = await create_one_off_invoice(uow, actor, c, line)
                    if invoice.status != "OPEN":
                        raise common.BenchError(f"the invoice of {c} is {invoice.status}")

        await gather_limited(2, batches, invoices)
        timings["finalized invoices (collect jobs queued)"] = time.perf_counter() - t0
    finally:
        await db.dispose()
        await queue.close()
    return timings


async def count_invoices(database_url: str, org: uuid.UUID, status: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM invoices WHERE organization_id = $1 AND status = $2", org, status
        )
    finally:
        await conn.close()


async def wait_for(check: Any, target: int, within: float, every: float = 0.5) -> tuple[float, int]:
    t0 = time.perf_counter()
    value = 0
    while time.perf_counter() - t0 < within:
        value = await check()
        if value >= target:
            break
        await asyncio.sleep(every)
    return time.perf_counter() - t0, value


async def charges_by_invoice(stripe_url: str) -> Counter[str]:
    """Executed charges at the fake (not idempotent replays, not injected faults) per invoice."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http, http.get(
        f"{stripe_url}/_control/requests", params={"path_prefix": "/v1/payment_intents"}
    ) as response:
        requests = orjson.loads(await response.read())
    charges: Counter[str] = Counter()
    for r in requests:
        if r["method"] != "POST" or r["path"] != "/v1/payment_intents" or r["replayed"] or r["fault"]:
            continue
        if r["status"] not in (200, 402):
            continue
        key = r["idempotency_key"] or ""
        invoice = key.split(":")[1] if key.startswith("charge_invoice:") else key
        charges[invoice] += 1
    return charges


async def db_checks(database_url: str, org: uuid.UUID) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM payments WHERE organization_id = $1) AS payments,
                      (SELECT count(*) FROM payment_attempts WHERE organization_id = $1) AS attempts,
                      (SELECT count(*) FROM (SELECT invoice_id FROM payments WHERE organization_id = $1
                        GROUP BY invoice_id HAVING count(*) > 1) AS twice) AS paid_twice""",
            org,
        )
        return dict(row)
    finally:
        await conn.close()


def describe_latency(what: str, values: list[float], repeats: int) -> str:
    return (f"{what}: {len(values)} events, p50 {percentile(values, 50) * 1000:.0f} ms, "
            f"p95 {percentile(values, 95) * 1000:.0f} ms, max {max(values, default=float('nan')) * 1000:.0f} ms"
            f" ({repeats} repeated deliveries)")


async def run(stack: BenchStack, args: Any, stripe_url: str) -> int:
    assert stack.org is not None
    org = uuid.UUID(stack.org.organization_id)
    n = args.invoices
    failures = 0
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as http, \
            TimedReceiver() as receiver:
        api = Api(http, stack.graphql_url, stack.org.api_key)
        print(f"set-up: {n} customers with pm_card_visa and one finalized invoice of 10.00 USD each ...", flush=True)
        for what, seconds in (await set_up_invoices(stack, api, n, args.concurrency)).items():
            print(f"  {what}: {seconds:.1f} s", flush=True)
        payload(await api(ENDPOINT, url=f"{receiver.url}/collection", types=["invoice.paid"]),
                "createWebhookEndpoint")
        print(f"machine: {common.load_summary()}", flush=True)

        # (1) collection
        workers = billing.start_workers(stack, stack.database_url, args.workers, "collection")
        try:
            elapsed, paid = await wait_for(lambda: count_invoices(stack.database_url, org, "PAID"), n,
                                           COLLECTION_BUDGET_SECONDS * 3)
            rate = paid / elapsed if elapsed else 0.0
            print(f"collection: {paid}/{n} invoices PAID in {elapsed:.1f} s with {args.workers} workers "
                  f"({rate:.0f} invoices/s)", flush=True)
            await wait_for(lambda: _count(receiver, "invoice.paid"), n, 120)
            charges = await charges_by_invoice(stripe_url)
            duplicates = sum(c - 1 for c in charges.values() if c > 1)
            checks = await db_checks(stack.database_url, org)
            print(f"charges at the fake: {sum(charges.values())} for {len(charges)} invoices, duplicates "
                  f"{duplicates}; payments {checks['payments']}, attempts {checks['attempts']}, invoices paid "
                  f"twice {checks['paid_twice']}", flush=True)
            values, repeats = receiver.latencies({"invoice.paid"})
            print(describe_latency("invoice.paid webhooks during collection (informational)", values, repeats),
                  flush=True)
            ok = paid == n and elapsed < COLLECTION_BUDGET_SECONDS
            failures += not budget_line(f"collection of {n} invoices", f"{elapsed:.1f} s ({rate:.0f}/s)",
                                        f"< {COLLECTION_BUDGET_SECONDS:.0f} s", ok).startswith("BUDGET PASS")
            failures += not budget_line("invoices charged twice", str(duplicates), "0",
                                        duplicates == 0 and checks["paid_twice"] == 0).startswith("BUDGET PASS")

            # (2) webhooks under a billing run
            if args.billing_subscriptions:
                m = args.billing_subscriptions
                await billing.create_catalog(api)
                now = datetime.now(UTC)
                started = billing.months_back(now, 1) - timedelta(days=1)
                customers = [f"bw-{i:05d}" for i in range(m)]
                made = await billing.create_in_process(stack.database_url, stack.org.organization_id, customers,
                                                       started, batch=100)
                print(f"billing set-up: {m} subscriptions in process in {made:.1f} s", flush=True)
                payload(await api(ENDPOINT, url=f"{receiver.url}/billing",
                                  types=["invoice.created", "invoice.finalized"]), "createWebhookEndpoint")
                since = time.time()
                print(f"machine: {common.load_summary()}", flush=True)
                seconds, invoices, run_failures, _ = await billing.run_billing(stack, now, m)
                print(f"billing run: {invoices} invoices in {seconds:.1f} s ({len(run_failures)} failures)",
                      flush=True)
                waited, got = await wait_for(
                    lambda: _count(receiver, "invoice.created", "invoice.finalized", since=since), 2 * m, 300)
                print(f"webhooks: {got}/{2 * m} events delivered {waited:.1f} s after the run ended", flush=True)
                values, repeats = receiver.latencies({"invoice.created", "invoice.finalized"}, since=since)
                print(describe_latency("webhooks under the billing run", values, repeats), flush=True)
                p95 = percentile(values, 95)
                failures += not budget_line("webhook committed -> delivered under a billing run",
                                            f"p95 {p95 * 1000:.0f} ms over {len(values)} events",
                                            f"< {WEBHOOK_P95_BUDGET * 1000:.0f} ms",
                                            got >= 2 * m and p95 < WEBHOOK_P95_BUDGET).startswith("BUDGET PASS")
        finally:
            billing.stop_workers(workers)
    return 1 if failures else 0


async def _count(receiver: TimedReceiver, *types: str, since: float = 0.0) -> int:
    seen = set()
    for arrived, body in receiver.arrivals:
        event = orjson.loads(body)
        if event["type"] in types and arrived >= since:
            seen.add(event["id"])
    return len(seen)


def main() -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--invoices", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=2, help="`valueverse worker` processes (MAX_JOBS jobs each)")
    p.add_argument("--concurrency", type=int, default=8, help="clients of the set-up (x4 at the fake)")
    p.add_argument("--billing-subscriptions", type=int, default=2_000,
                   help="subscriptions of the billing run of (2); 0 skips it")
    args = p.parse_args()
    common.exit_cleanly_on_sigterm()
    log_dir = Path(tempfile.mkdtemp(prefix="vv_bench_collection_"))
    fake, stripe_url = start_fake_stripe(log_dir)
    os.environ["STRIPE_API_BASE"] = stripe_url
    os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"
    print(f"fake Stripe: pid {fake.pid} on {stripe_url}", flush=True)
    try:
        with BenchStack(args.database_url, args.redis_url, keep_logs=args.keep_logs,
                        processes=args.web_concurrency) as stack:
            return asyncio.run(run(stack, args, stripe_url))
    finally:
        fake.terminate()
        try:
            fake.wait(timeout=20)
        except subprocess.TimeoutExpired:
            fake.kill()
        shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
