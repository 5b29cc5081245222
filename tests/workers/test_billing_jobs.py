"""Billing by the worker: the hourly schedule's batch jobs, what they push, and what a failing customer does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from arq import create_pool
from arq.connections import RedisSettings
from gql import gql

from tests.client import ws_client
from tests.db import execute, scalar
from tests.graph.test_billing import INVOICES, RUN, _monthly_customer
from workers.jobs.billing import enqueue_billing

PUSHED = gql("subscription { invoiceUpdated { number status customer { externalId } } }")


async def _customer_ids(stack, organization_id: str, external_ids: list[str]) -> list[uuid.UUID]:
    ids = []
    for external_id in external_ids:
        ids.append(
            await scalar(
                stack.database_url,
                "SELECT id FROM customers WHERE organization_id = $1::uuid AND external_id = $2",
                organization_id,
                external_id,
            )
        )
    return ids


async def _bill_by_jobs(stack, organization_id: str, customer_ids: list[uuid.UUID]) -> list:
    """Queue the customers as `schedule_billing` does and wait for every job's outcome."""
    redis = await create_pool(RedisSettings.from_dsn(stack.redis_url))
    try:
        org = uuid.UUID(organization_id)
        jobs = await enqueue_billing(redis, [(org, c) for c in customer_ids], datetime.now(UTC))
        assert jobs, "nothing queued"
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(await job.result(timeout=60))
            except Exception as exc:  # a failed job: arq hands back what it raised
                outcomes.append(exc)
        return outcomes
    finally:
        await redis.aclose()


async def _invoice_count(api, customer_external_id: str) -> int:
    return (await api(INVOICES, c=customer_external_id))["invoices"]["totalCount"]


async def test_a_billing_job_bills_its_batch_once_and_pushes_each_invoice(stack, tenant) -> None:
    async with ws_client(stack.ws_url, tenant.api_key) as session:
        stream = session.subscribe(PUSHED).__aiter__()
        first = asyncio.create_task(stream.__anext__())
        # The subscription is live once a push arrives: bill other customers until one does.
        warm_up = set()
        for _ in range(50):
            warm_up.add((await _monthly_customer(tenant.api))[0])
            await tenant.api(RUN, asOf=None)
            done, _ = await asyncio.wait({first}, timeout=0.2)
            if done:
                break
        assert (await first)["invoiceUpdated"]["customer"]["externalId"] in warm_up
        customers = [(await _monthly_customer(tenant.api))[0] for _ in range(3)]
        ids = await _customer_ids(stack, tenant.organization_id, customers)
        outcomes = await _bill_by_jobs(stack, tenant.organization_id, ids)
        # 3 customers, 2 ended periods each, one batch: 6 invoices, each pushed once finalized
        assert outcomes == [6]
        pushed = []
        while len(pushed) < 6:
            event = await asyncio.wait_for(stream.__anext__(), timeout=10)
            if event["invoiceUpdated"]["customer"]["externalId"] not in warm_up:
                pushed.append(event["invoiceUpdated"])
    assert sorted(p["customer"]["externalId"] for p in pushed) == sorted(customers * 2)
    assert {p["status"] for p in pushed} == {"OPEN"}
    assert all(p["number"] for p in pushed)
    assert [await _invoice_count(tenant.api, c) for c in customers] == [2, 2, 2]
    # the same jobs again (a retry, or the next hour's schedule): nothing new
    assert await _bill_by_jobs(stack, tenant.organization_id, ids) == [0]
    assert [await _invoice_count(tenant.api, c) for c in customers] == [2, 2, 2]


async def test_a_failing_customer_stops_nobody_else_and_is_billed_once_fixed(stack, tenant) -> None:
    customers = [(await _monthly_customer(tenant.api))[0] for _ in range(3)]
    ids = await _customer_ids(stack, tenant.organization_id, customers)
    broken = customers[1]
    # Bad data as an operator might find it: a currency nobody can be invoiced in.
    await execute(stack.database_url, "UPDATE customers SET currency = 'XXX' WHERE id = $1", ids[1])

    outcomes = await _bill_by_jobs(stack, tenant.organization_id, ids)
    assert len(outcomes) == 1 and isinstance(outcomes[0], Exception)
    message = str(outcomes[0])
    assert "1 of 3 customers not billed (4 invoices made)" in message
    assert f"{broken}: UNKNOWN_CURRENCY" in message
    assert [await _invoice_count(tenant.api, c) for c in customers] == [2, 0, 2]

    # the job's audit entry says who failed and why
    logged = await tenant.api(
        '{ auditLogs(first: 5, action: "billing.run") { nodes { actorType targetType after } } }'
    )
    (entry,) = logged["auditLogs"]["nodes"]
    assert (entry["actorType"], entry["targetType"]) == ("job", "organization")
    assert (entry["after"]["customers"], entry["after"]["invoices"]) == (3, 4)
    assert [f["customerExternalId"] for f in entry["after"]["failures"]] == [broken]
    assert entry["after"]["failures"][0]["reason"].startswith("UNKNOWN_CURRENCY")
    # runBilling reports it the same way, and bills nothing twice
    run = (await tenant.api(RUN, asOf=None))["runBilling"]
    assert run["invoices"] == []
    assert [(f["customerExternalId"], f["reason"].split(":")[0]) for f in run["failures"]] == [
        (broken, "UNKNOWN_CURRENCY")
    ]

    await execute(stack.database_url, "UPDATE customers SET currency = 'USD' WHERE id = $1", ids[1])
    assert await _bill_by_jobs(stack, tenant.organization_id, ids) == [2]
    assert [await _invoice_count(tenant.api, c) for c in customers] == [2, 2, 2]
    numbers = await scalar(
        stack.database_url,
        "SELECT array_agg(number ORDER BY number) FROM invoices WHERE organization_id = $1::uuid",
        tenant.organization_id,
    )
    assert [int(n.rsplit("-", 1)[1]) for n in numbers] == list(range(1, 7))


def test_a_worker_without_its_schedule_only_runs_queued_jobs() -> None:
    from workers.settings import worker_settings

    scheduled = worker_settings("postgresql://x@127.0.0.1/db", "redis://127.0.0.1:6379/0")
    assert sorted(c.name for c in scheduled["cron_jobs"]) == [
        "cron:finalize_drafts",
        "cron:maintain_usage_partitions",
        "cron:scan_usage_thresholds",
        "cron:schedule_billing",
    ]
    queued_only = worker_settings("postgresql://x@127.0.0.1/db", "redis://127.0.0.1:6379/0", scheduled=False)
    assert queued_only["cron_jobs"] == []
    assert {f.__name__ for f in queued_only["functions"]} >= {"bill_customers", "schedule_billing"}
