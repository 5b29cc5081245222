"""Progressive billing: interim invoices when usage reaches a threshold, deducted on the period invoice."""

from __future__ import annotations

from datetime import UTC, datetime

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job, JobStatus

from tests.graph.catalog_helpers import customer, metric, plan, send, subscribe, uid
from tests.graph.test_billing import RUN, _check_invariants
from workers.settings import QUEUE_NAME

INVOICES = (
    """query($c: String) { invoices(customerExternalId: $c) { nodes { kind status subtotalAmount totalAmount } } }"""
)


async def _check(stack, organization_id: str, customer_id: str) -> int:
    redis = await create_pool(RedisSettings.from_dsn(stack.redis_url))
    try:
        job = await redis.enqueue_job("check_usage_thresholds", organization_id, customer_id, _queue_name=QUEUE_NAME)
        return await job.result(timeout=30)
    finally:
        await redis.aclose()


async def test_thresholds_bill_usage_to_date_and_the_period_invoice_deducts_it(stack, tenant) -> None:
    api = tenant.api
    m = uid("api")
    await metric(api, m, "COUNT")
    await plan(
        api,
        "progressive",
        [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}],
        usageThresholds=["10", "20"],
    )
    cust = uid("cust")
    created = await customer(api, cust)
    await subscribe(api, cust, "progressive", uid("sub"))
    await send(api, cust, m, [None] * 15)
    assert await _check(stack, tenant.organization_id, created["id"]) == 1
    await send(api, cust, m, [None] * 10)
    assert await _check(stack, tenant.organization_id, created["id"]) == 1
    assert await _check(stack, tenant.organization_id, created["id"]) == 0  # nothing new reached
    interims = (await api(INVOICES, c=cust))["invoices"]["nodes"]
    assert sorted((i["kind"], i["totalAmount"]) for i in interims) == [
        ("PROGRESSIVE", "10.00"),
        ("PROGRESSIVE", "15.00"),
    ]
    await api(
        "mutation($s: String!) { terminateSubscription(input: {externalId: $s}) { userErrors { code } } }",
        s=(await api("query($c: String!) { customer(externalId: $c) { subscriptions { externalId } } }", c=cust))[
            "customer"
        ]["subscriptions"][0]["externalId"],
    )
    now = datetime.now(UTC).isoformat()
    final = [
        i for i in (await api(RUN, asOf=now))["runBilling"]["invoices"] if i["customer"]["externalId"] == cust
    ]
    assert len(final) == 1
    assert (final[0]["subtotalAmount"], final[0]["progressiveBillingCreditAmount"], final[0]["totalAmount"]) == (
        "25.00",
        "25.00",
        "0.00",
    )
    _check_invariants(final[0])


async def test_pay_in_advance_charges_are_billed_as_usage_arrives(stack, tenant) -> None:
    api = tenant.api
    m = uid("seat_adds")
    await metric(api, m, "COUNT")
    await plan(api, "advance", [{"billableMetricCode": m, "model": "STANDARD", "payInAdvance": True,
                                 "properties": {"amount": "3"}}])
    cust = uid("cust")
    created = await customer(api, cust)
    await subscribe(api, cust, "advance", uid("sub"))
    await send(api, cust, m, [None] * 2)
    assert await _check(stack, tenant.organization_id, created["id"]) == 1
    await send(api, cust, m, [None])
    assert await _check(stack, tenant.organization_id, created["id"]) == 1
    assert await _check(stack, tenant.organization_id, created["id"]) == 0
    interims = (await api(INVOICES, c=cust))["invoices"]["nodes"]
    assert sorted(i["totalAmount"] for i in interims) == ["3.00", "6.00"]


async def test_a_plan_update_does_not_bill_a_kept_pay_in_advance_charge_again(stack, tenant) -> None:
    api = tenant.api
    m = uid("seat_adds")
    await metric(api, m, "COUNT")
    code = uid("advance")
    charge = {"billableMetricCode": m, "model": "STANDARD", "payInAdvance": True, "properties": {"amount": "3"}}
    await plan(api, code, [charge])
    cust = uid("cust")
    created = await customer(api, cust)
    await subscribe(api, cust, code, uid("sub"))
    await send(api, cust, m, [None] * 2)
    assert await _check(stack, tenant.organization_id, created["id"]) == 1
    updated = await api(
        "mutation($i: UpdatePlanInput!) { updatePlan(input: $i) { userErrors { code } } }",
        i={"code": code, "charges": [{**charge, "invoiceDisplayName": "Seats added"}]},
    )
    assert updated["updatePlan"]["userErrors"] == []
    assert await _check(stack, tenant.organization_id, created["id"]) == 0  # the same charge: already billed
    await send(api, cust, m, [None])
    assert await _check(stack, tenant.organization_id, created["id"]) == 1
    interims = (await api(INVOICES, c=cust))["invoices"]["nodes"]
    assert sorted(i["totalAmount"] for i in interims) == ["3.00", "6.00"]


async def test_the_scan_checks_only_customers_whose_plan_can_bill_in_between_or_who_set_an_alert(stack, tenant) -> None:
    api = tenant.api
    m = uid("api")
    await metric(api, m, "COUNT")
    standard = [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}]
    await plan(api, "with-thresholds", standard, usageThresholds=["10"])
    await plan(api, "in-advance-charge", [{**standard[0], "payInAdvance": True}])
    await plan(api, "plain", standard)
    ids = {}
    for code in ("with-thresholds", "in-advance-charge", "plain"):
        cust = uid("cust")
        ids[code] = (await customer(api, cust))["id"]
        await subscribe(api, cust, code, uid("sub"))
    alerted = uid("cust")
    ids["plain, with a usage alert"] = (await customer(api, alerted))["id"]
    await subscribe(api, alerted, "plain", uid("sub"))
    made = await api(
        "mutation($i: CreateUsageAlertInput!) { createUsageAlert(input: $i) { userErrors { code } } }",
        i={"customerExternalId": alerted, "thresholdType": "AMOUNT", "threshold": "100"},
    )
    assert made["createUsageAlert"]["userErrors"] == []
    redis = await create_pool(RedisSettings.from_dsn(stack.redis_url))
    try:
        before = datetime.now(UTC).replace(second=0, microsecond=0)
        scan = await redis.enqueue_job("scan_usage_thresholds", _queue_name=QUEUE_NAME)
        await scan.result(timeout=30)
        after = datetime.now(UTC).replace(second=0, microsecond=0)

        async def checked(customer_id: str) -> bool:
            for slot in {before, after}:
                job = Job(f"check_usage_thresholds:{customer_id}:{slot:%Y%m%d%H%M}", redis, _queue_name=QUEUE_NAME)
                if await job.status() is not JobStatus.not_found:
                    return True
            return False

        assert {code: await checked(i) for code, i in ids.items()} == {
            "with-thresholds": True,
            "in-advance-charge": True,
            "plain": False,
            "plain, with a usage alert": True,
        }
    finally:
        await redis.aclose()
