"""Schedules tested by moving a clock: the worker's jobs run in this process with a `ManualClock`, against the
real database, at dates of their own (1971) that no other test's customers have reached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from db.session import Database
from integrations.clock import ManualClock
from integrations.jobs import QUEUE_NAME
from tests.graph.catalog_helpers import customer, plan, subscribe, uid
from tests.stack import claim_redis_db
from workers.jobs.billing import bill_customer, bill_customers, finalize_drafts, schedule_billing

INVOICES = """query($c: String) { invoices(customerExternalId: $c) {
  nodes { number status periodStart periodEnd totalAmount } } }"""
STARTED = datetime(1971, 1, 10, tzinfo=UTC)


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(STARTED)


@pytest.fixture
async def ctx(stack, clock: ManualClock) -> AsyncIterator[dict]:
    """What the worker's start-up gives its jobs, with the test's clock, and a Redis db of the test's own (the
    stack's worker must not run these jobs with its own clock)."""
    redis_url, claim = claim_redis_db(stack.redis_url)
    db = Database(stack.database_url, pool_size=2, clock=clock)
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        yield {"db": db, "clock": clock, "redis": redis, "redis_settings": RedisSettings.from_dsn(redis_url)}
    finally:
        await redis.aclose()
        await db.dispose()
        claim.flushdb()
        claim.close()


async def _run_queued_jobs(ctx: dict) -> None:
    """What the worker does with the queued jobs, here and now (burst: it stops when the queue is empty)."""
    worker = Worker(
        [bill_customers, bill_customer],
        queue_name=QUEUE_NAME,
        redis_pool=ctx["redis"],
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
        max_tries=1,
        ctx=dict(ctx),
    )
    await worker.main()
    assert worker.jobs_failed == 0


async def _monthly_customer(api) -> str:
    code = uid("plan")
    await plan(api, code, [], amount="30")
    cust = uid("cust")
    await customer(api, cust, timezone="UTC")
    await subscribe(api, cust, code, uid("sub"), startedAt=STARTED.isoformat(), billingTime="ANNIVERSARY")
    return cust


async def _invoices(api, cust: str) -> list[dict]:
    return sorted((await api(INVOICES, c=cust))["invoices"]["nodes"], key=lambda i: i["periodEnd"])


async def test_the_hourly_schedule_bills_each_billing_date_once_its_hour_has_come(tenant, ctx, clock) -> None:
    cust = await _monthly_customer(tenant.api)
    clock.set(datetime(1971, 3, 9, 23, 59, tzinfo=UTC))  # the second billing date (10 March) is a minute away
    assert await schedule_billing(ctx) >= 1
    await _run_queued_jobs(ctx)
    first = await _invoices(tenant.api, cust)
    assert [(i["periodEnd"][:10], i["status"], i["totalAmount"]) for i in first] == [("1971-02-10", "OPEN", "30.00")]
    assert "-197103-" in first[0]["number"]  # numbered in the month the clock says
    clock.advance(minutes=2)  # 00:01 on 10 March: the 00:00 schedule includes that billing date
    assert await schedule_billing(ctx) >= 1
    await _run_queued_jobs(ctx)
    assert [(i["periodEnd"][:10], i["status"]) for i in await _invoices(tenant.api, cust)] == [
        ("1971-02-10", "OPEN"),
        ("1971-03-10", "OPEN"),
    ]
    assert await schedule_billing(ctx) == 0  # the same hour again: its jobs (same ids) were queued already
    clock.advance(hours=1)  # the next hour: queued again, nothing new is due
    assert await schedule_billing(ctx) >= 1
    await _run_queued_jobs(ctx)
    assert len(await _invoices(tenant.api, cust)) == 2


async def test_drafts_are_finalized_when_the_grace_period_ends(tenant, ctx, clock) -> None:
    api = tenant.api
    await api("mutation { updateOrganization(input: {invoiceGracePeriodDays: 3}) { userErrors { code } } }")
    cust = await _monthly_customer(api)
    clock.set(datetime(1971, 3, 10, 0, 5, tzinfo=UTC))
    customer_id = (await api("query($c: String!) { customer(externalId: $c) { id } }", c=cust))["customer"]["id"]
    assert await bill_customer(ctx, tenant.organization_id, customer_id, clock.now().isoformat()) == 2
    assert [(i["status"], i["number"]) for i in await _invoices(api, cust)] == [("DRAFT", None)] * 2
    clock.advance(days=2, hours=23, minutes=59)  # a minute before the grace period ends
    assert await finalize_drafts(ctx) == 0
    assert [i["status"] for i in await _invoices(api, cust)] == ["DRAFT", "DRAFT"]
    clock.advance(minutes=1)  # three days after the drafts were made
    assert await finalize_drafts(ctx) == 2
    final = await _invoices(api, cust)
    assert [i["status"] for i in final] == ["OPEN", "OPEN"]
    assert all("-197103-" in i["number"] for i in final)  # numbered at finalization, on 13 March
    assert await finalize_drafts(ctx) == 0  # nothing left to finalize
