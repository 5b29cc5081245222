"""Published billing vectors that need time to pass, run through a test clock as a user would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.graph.billing_scenario_helpers import INGEST, check_invariants, invoices_of, make_plan
from tests.graph.catalog_helpers import customer, metric, subscribe, uid
from tests.graph.test_test_clocks import advance, create_clock

MARCH = datetime(2025, 3, 1, tzinfo=UTC)


async def _ingest(api, who: str, code: str, total: int) -> None:
    events = [
        {"transactionId": uid("tx"), "customerExternalId": who, "metricCode": code, "properties": {"total": total}}
    ]
    result = (await api(INGEST, input={"events": events}))["ingestUsage"]
    assert result["accepted"] == 1, result


async def test_lago_month_end_progressive_billing(test_tenant):
    """Lago's progressive billing scenario (spec/scenarios, "Progressive billing invoices": a monthly plan of
    31.00 in arrears, 0.0002 per unit of a SUM, one usage threshold of 10.00): 1,000,000 units on day 5 reach the
    threshold (an interim invoice of 200.00); 1,000,000 more on day 15 reach no new threshold; at the month's end
    the invoice has fees of 431.00 (31.00 + 400.00), credits the interim 200.00 and totals 231.00."""
    api = test_tenant.api
    clock = await create_clock(api, MARCH)
    code = uid("total")
    await metric(api, code, "SUM", "total")
    plan = uid("progressive")
    await make_plan(
        api,
        plan,
        "Progressive",
        "31.00",
        [{"billableMetricCode": code, "model": "STANDARD", "properties": {"amount": "0.0002"}}],
        usageThresholds=["10.00"],
    )
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"))

    await advance(api, clock, MARCH + timedelta(days=5))
    await _ingest(api, who, code, 1_000_000)
    await advance(api, clock, MARCH + timedelta(days=15))  # the threshold check runs on the way
    [interim] = await invoices_of(api, who)
    assert (interim["kind"], interim["totalAmount"]) == ("PROGRESSIVE", "200.00")

    await _ingest(api, who, code, 1_000_000)
    await advance(api, clock, datetime(2025, 4, 1, tzinfo=UTC))
    invoices = await invoices_of(api, who)
    assert len(invoices) == 2, invoices
    final = next(i for i in invoices if i["kind"] == "SUBSCRIPTION")
    assert (final["subtotalAmount"], final["progressiveBillingCreditAmount"], final["totalAmount"]) == (
        "431.00",
        "200.00",
        "231.00",
    )
    check_invariants(final)
