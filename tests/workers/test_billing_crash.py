"""kill -9 in the middle of a billing run: after a restart and a second run, every customer has exactly one
invoice per billing date, the numbers have no gap and no repeat, and nothing is half-written.

A run bills its customers a batch per transaction (services/billing.py, BATCH_SIZE): the API process is
killed outright (SIGKILL, `serve` and its API processes) once the first batch has committed and before the
last has, which the test checks rather than assumes. No sleeps: it polls the database for that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import psutil
from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import JobStatus

from services.billing.runs import BATCH_SIZE
from tests.client import Api
from tests.graph.catalog_helpers import metric, plan, uid
from tests.ops.servers import RedisServer, worker_process
from tests.stack import ApiProcess, start_api
from workers.jobs.billing import enqueue_billing

CUSTOMERS = 2 * BATCH_SIZE  # two transactions: the kill falls after the first commit, before the second
DATES = 2  # each customer started two months and a day ago, billed on its anniversary: two ended periods
RUN = """mutation($asOf: DateTime) { runBilling(input: {asOf: $asOf}) {
  invoices { id } failures { customerExternalId reason } userErrors { code } } }"""


def _kill_outright(api: ApiProcess) -> None:
    """SIGKILL to `serve` and every API process it runs, at once: no shutdown, no rollback by the app."""
    root = psutil.Process(api.process.pid)
    for process in [*root.children(recursive=True), root]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    api.process.wait(timeout=30)
    assert api.process.returncode == -signal.SIGKILL


async def _seed(api: Api, prefix: str) -> list[str]:
    code = uid("crash_calls")
    await metric(api, code, "COUNT")
    await plan(api, "p-" + code, [{"billableMetricCode": code, "model": "STANDARD", "properties": {"amount": "1"}}],
               amount="30")
    started = (datetime.now(UTC) - timedelta(days=31 * DATES + 1)).isoformat()
    externals = [f"{prefix}-{n:04d}" for n in range(CUSTOMERS)]

    # Many customers per request (aliases within the limit): the seeding is not what this test waits for.
    for start in range(0, len(externals), 15):
        chunk = externals[start : start + 15]
        customers = " ".join(
            f'c{n}: createCustomer(input: {{externalId: "{e}", name: "{e}", timezone: "UTC"}}) '
            "{ userErrors { code } }"
            for n, e in enumerate(chunk))
        subscriptions = " ".join(
            f's{n}: createSubscription(input: {{customerExternalId: "{e}", planCode: "p-{code}", externalId: "s-{e}", '
            f'startedAt: "{started}", billingTime: ANNIVERSARY}}) {{ userErrors {{ code }} }}'
            for n, e in enumerate(chunk))
        for document in (customers, subscriptions):
            made = await api(f"mutation {{ {document} }}")
            assert all(payload["userErrors"] == [] for payload in made.values()), made
    return externals


async def _assert_billed_exactly_once(conn: asyncpg.Connection, tenant, externals: list[str]) -> None:
    """One invoice per customer and billing date, numbers 1..N, every invoice whole, the audit chain valid."""
    org = tenant.organization_id
    # Exactly one invoice per customer and billing date.
    per_date = await conn.fetch(
        """SELECT c.external_id, i.billing_key, count(*) AS n
           FROM invoices i JOIN customers c ON c.id = i.customer_id
           WHERE i.organization_id = $1::uuid GROUP BY 1, 2""", org)
    assert {r["n"] for r in per_date} == {1}
    per_customer: dict[str, int] = {}
    for r in per_date:
        per_customer[r["external_id"]] = per_customer.get(r["external_id"], 0) + 1
    assert per_customer == dict.fromkeys(externals, DATES)

    # Numbers: 1..N without a gap or a repeat, and the sequence stands at N.
    rows = await conn.fetch(
        """SELECT number, status, subtotal_minor, total_minor, tax_minor, discount_minor,
                  (SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id) AS lines,
                  (SELECT coalesce(sum(l.amount_minor), 0) FROM invoice_lines l
                   WHERE l.invoice_id = i.id) AS amounts
           FROM invoices i WHERE organization_id = $1::uuid""", org)
    total = CUSTOMERS * DATES
    assert sorted(int(r["number"].rsplit("-", 1)[1]) for r in rows) == list(range(1, total + 1))
    assert await conn.fetchval(
        "SELECT last_number FROM invoice_number_sequences WHERE organization_id = $1::uuid", org) == total
    # Nothing half-written: every invoice finalized, with its lines, its totals those of its lines.
    for r in rows:
        assert r["status"] == "OPEN" and r["lines"] >= 1, dict(r)
        assert r["subtotal_minor"] == r["amounts"] == 3000, dict(r)
        assert r["total_minor"] == r["subtotal_minor"] - r["discount_minor"] + r["tax_minor"], dict(r)
    # Every subscription is billed through its second period, none further.
    through = await conn.fetch(
        "SELECT started_at, billed_through FROM subscriptions WHERE organization_id = $1::uuid", org)
    assert len(through) == CUSTOMERS
    assert len({r["billed_through"] for r in through}) == 1 and all(r["billed_through"] for r in through)
    # The audit chain the killed run was writing still verifies.
    verified = await tenant.api("{ verifyAuditChain { valid } }")
    assert verified["verifyAuditChain"]["valid"] is True


async def test_a_billing_run_killed_mid_way_bills_everyone_exactly_once_after_a_restart(stack, tenant) -> None:
    externals = await _seed(tenant.api, uid("crash"))
    as_of = datetime.now(UTC).isoformat()  # both runs bill up to the same moment
    conn = await asyncpg.connect(stack.database_url)
    org = tenant.organization_id

    async def invoices_made() -> int:
        return await conn.fetchval("SELECT count(*) FROM invoices WHERE organization_id = $1::uuid", org)

    try:
        api = await asyncio.to_thread(start_api, stack, "api-billing-crash", WEB_CONCURRENCY="1")
        try:
            async with aiohttp.ClientSession() as http:
                run = asyncio.create_task(http.post(
                    api.graphql_url, json={"query": RUN, "variables": {"asOf": as_of}},
                    headers={"Authorization": f"Bearer {tenant.api_key}"},
                ))
                async with asyncio.timeout(120):  # a bounded wait for the first committed batch
                    while await invoices_made() == 0:
                        assert not run.done(), "the run ended before any batch was seen committed"
                        await asyncio.sleep(0.01)
                await asyncio.to_thread(_kill_outright, api)
                with contextlib.suppress(aiohttp.ClientError):
                    await run  # the client sees its connection dropped
        finally:
            await asyncio.to_thread(api.stop)
        committed = await invoices_made()
        assert 0 < committed < CUSTOMERS * DATES, f"the kill did not fall mid-run ({committed} invoices)"

        api = await asyncio.to_thread(start_api, stack, "api-billing-restarted", WEB_CONCURRENCY="1")
        try:
            again = (await Api(api.graphql_url, tenant.api_key)(RUN, asOf=as_of))["runBilling"]
        finally:
            await asyncio.to_thread(api.stop)
        assert again["userErrors"] == [] and again["failures"] == [], again
        assert len(again["invoices"]) == CUSTOMERS * DATES - committed  # only what the killed run had not made

        await _assert_billed_exactly_once(conn, tenant, externals)
    finally:
        await conn.close()


def _kill_worker(worker) -> None:
    root = psutil.Process(worker.pid)
    for process in [*root.children(recursive=True), root]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL


async def test_a_worker_killed_mid_job_leaves_nothing_half_written_and_the_next_schedule_bills_the_rest(
    stack, tenant, tmp_path
) -> None:
    """The worker's jobs (a batch of customers each, as the hourly schedule queues them): killed while the second
    runs, after the first committed. The killed job wrote nothing; the next hour's schedule, on a restarted
    worker, bills what is left, and only that. (arq itself runs the killed job again once its lease expires,
    job_timeout + 10 s later: idempotent, it then finds nothing to do.)"""
    externals = await _seed(tenant.api, uid("jobcrash"))
    org = uuid.UUID(tenant.organization_id)
    conn = await asyncpg.connect(stack.database_url)
    targets = [(org, r["id"]) for r in await conn.fetch(
        "SELECT id FROM customers WHERE organization_id = $1 ORDER BY external_id", org)]
    first, rest = targets[:BATCH_SIZE], targets[BATCH_SIZE:]
    as_of = datetime.now(UTC)

    async def invoices_made() -> int:
        return await conn.fetchval("SELECT count(*) FROM invoices WHERE organization_id = $1", org)

    # A Redis of the test's own: only this worker takes these jobs (not the test stack's).
    with RedisServer(tmp_path / "redis") as redis_server:
        queue = await create_pool(RedisSettings.from_dsn(redis_server.url))
        try:
            with worker_process(stack, tmp_path / "worker.log", REDIS_URL=redis_server.url) as worker:
                (job,) = await enqueue_billing(queue, first, as_of)
                assert await job.result(timeout=120) == BATCH_SIZE * DATES
                (job,) = await enqueue_billing(queue, rest, as_of)
                async with asyncio.timeout(60):  # bounded: until the worker has taken the second job
                    while True:
                        if await job.status() == JobStatus.in_progress:
                            break
                        await asyncio.sleep(0.01)
                await asyncio.to_thread(_kill_worker, worker)
            assert await invoices_made() == BATCH_SIZE * DATES  # the killed job's transaction left nothing

            with worker_process(stack, tmp_path / "worker-restarted.log", REDIS_URL=redis_server.url):
                # The next hour's schedule queues every customer again: only the second batch is billed.
                jobs = await enqueue_billing(queue, targets, as_of + timedelta(hours=1))
                made = [await j.result(timeout=120) for j in jobs]
            assert made == [0, BATCH_SIZE * DATES]
        finally:
            await queue.aclose()
    try:
        await _assert_billed_exactly_once(conn, tenant, externals)
    finally:
        await conn.close()
