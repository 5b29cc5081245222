"""Published billing vectors that need time to pass, run through a test clock as a user would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.graph.billing_scenario_helpers import CHANGE_PLAN, INGEST, check_invariants, invoices_of, make_plan
from tests.graph.catalog_helpers import customer, metric, subscribe, uid
from tests.graph.test_test_clocks import advance, create_clock

DECEMBER = datetime(2022, 12, 1, tzinfo=UTC)  # Lago's own dates


async def _ingest(api, who: str, code: str, total: int) -> None:
    events = [
        {"transactionId": uid("tx"), "customerExternalId": who, "metricCode": code, "properties": {"total": total}}
    ]
    result = (await api(INGEST, input={"events": events}))["ingestUsage"]
    assert result["accepted"] == 1, result


async def _progressive_plan(api) -> tuple[str, str]:
    code = uid("total")
    await metric(api, code, "SUM", "total")
    plan = uid("progressive")
    await make_plan(
        api,
        plan,
        "Progressive",
        "31.00",
        [{"billableMetricCode": code, "model": "STANDARD", "properties": {"amount": "0.0002"}}],
        usageThresholds=["200.00"],
    )
    return code, plan


async def test_lago_month_end_progressive_billing(test_tenant):
    """Lago's progressive billing scenario ("Progressive billing invoices", spec/scenarios: from 2022-12-01 a
    monthly plan of 31.00 in arrears, 0.0002 per unit of a SUM, one usage threshold of 200.00): 1,000,000 units on
    day 5 reach the threshold (an interim invoice of 200.00); 1,000,000 more on day 15 reach no new threshold; at
    the month's end the invoice has fees of 431.00 (31.00 + 400.00), credits the interim 200.00, totals 231.00."""
    api = test_tenant.api
    clock = await create_clock(api, DECEMBER)
    code, plan = await _progressive_plan(api)
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"))

    await advance(api, clock, DECEMBER + timedelta(days=5))
    await _ingest(api, who, code, 1_000_000)
    await advance(api, clock, DECEMBER + timedelta(days=15))  # the threshold check runs on the way
    [interim] = await invoices_of(api, who)
    assert (interim["kind"], interim["totalAmount"]) == ("PROGRESSIVE", "200.00")

    await _ingest(api, who, code, 1_000_000)
    await advance(api, clock, datetime(2023, 1, 1, tzinfo=UTC))
    invoices = await invoices_of(api, who)
    assert len(invoices) == 2, invoices
    final = next(i for i in invoices if i["kind"] == "SUBSCRIPTION")
    assert (final["subtotalAmount"], final["progressiveBillingCreditAmount"], final["totalAmount"]) == (
        "431.00",
        "200.00",
        "231.00",
    )
    check_invariants(final)


async def test_lago_upgrade_during_progressive_billing(test_tenant):
    """Lago's "upgrades the subscription before the end of the month": the same plan and threshold; 1,000,000
    units on day 15 (interim 200.00); on day 17 an upgrade to a plan of 620.00 ends the old plan's part of the
    period: 31.00 x 17/31 = 17.00 and the usage 200.00, the interim 200.00 credited (Lago: fees 217.00, credit
    200.00, total 17.00). Lago bills that part at once, on a termination invoice; here an upgrade of a plan in
    arrears bills both parts of the period at its end (docs/billing-semantics.md), so the period invoice holds
    Lago's lines and credit, and the new plan's 14 days: 620.00 x 14/31 = 280.00."""
    api = test_tenant.api
    clock = await create_clock(api, DECEMBER)
    code, plan = await _progressive_plan(api)
    bigger = uid("bigger")
    await make_plan(api, bigger, "Bigger", "620.00")
    who, sub = uid("cust"), uid("sub")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, sub)

    await advance(api, clock, DECEMBER + timedelta(days=15))
    await _ingest(api, who, code, 1_000_000)
    await advance(api, clock, DECEMBER + timedelta(days=17))
    [interim] = await invoices_of(api, who)
    assert (interim["kind"], interim["totalAmount"]) == ("PROGRESSIVE", "200.00")

    changed = (await api(CHANGE_PLAN, s=sub, p=bigger))["changeSubscriptionPlan"]
    assert changed["userErrors"] == [] and changed["subscription"]["plan"]["code"] == bigger
    assert changed["subscription"]["currentPeriodStart"].startswith("2022-12-01")  # the clock's period

    await advance(api, clock, datetime(2023, 1, 1, tzinfo=UTC))
    invoices = await invoices_of(api, who)
    [final] = [i for i in invoices if i["kind"] == "SUBSCRIPTION"]
    old_part = [line for line in final["lines"] if line["periodEnd"].startswith("2022-12-18")]
    assert sorted(line["amount"] for line in old_part) == ["17.00", "200.00"]  # Lago's 217.00 of fees
    new_part = [line for line in final["lines"] if line["periodStart"].startswith("2022-12-18")]
    assert [line["amount"] for line in new_part] == ["280.00"]
    assert (final["subtotalAmount"], final["progressiveBillingCreditAmount"], final["totalAmount"]) == (
        "497.00",
        "200.00",
        "297.00",
    )
    check_invariants(final)


async def _commitment_plan(api) -> tuple[str, dict[str, str]]:
    """A yearly plan in arrears with a 100.00 minimum commitment, as Lago's true-up vector: a 2.00 subscription
    fee, 3.00 of usage, 1.50 of a second arrears charge (Lago's "fixed charge" there) and charges of 5.00 paid in
    advance."""
    codes = {name: uid(name) for name in ("calls", "seats", "storage")}
    for code in codes.values():
        await metric(api, code, "SUM", "total")
    plan = uid("committed")
    await make_plan(
        api,
        plan,
        "Committed",
        "2.00",
        [
            {"billableMetricCode": codes["calls"], "model": "STANDARD", "properties": {"amount": "1.00"}},
            {"billableMetricCode": codes["seats"], "model": "STANDARD", "properties": {"amount": "1.50"}},
            {
                "billableMetricCode": codes["storage"],
                "model": "STANDARD",
                "payInAdvance": True,
                "properties": {"amount": "5.00"},
            },
        ],
        interval="YEARLY",
        minimumCommitment="100.00",
    )
    return plan, codes


async def test_lago_minimum_commitment_with_a_charge_paid_in_advance(test_tenant):
    """Lago's minimum-commitment true-up (Commitments::Minimum::CalculateTrueUpFeeService, a yearly plan in
    arrears, commitment 100.00; fees of the period 2.00 + 3.00 + 1.50 and a charge of 5.00 paid in advance during
    the period): the true-up is 100.00 - 6.50 - 5.00 = 88.50. The charge paid in advance counts towards the
    commitment of the period it was paid in, although it was invoiced on an invoice of its own."""
    api = test_tenant.api
    start = datetime(2024, 1, 1, tzinfo=UTC)
    clock = await create_clock(api, start)
    plan, codes = await _commitment_plan(api)
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"), billingTime="CALENDAR")

    await advance(api, clock, start + timedelta(days=40))
    await _ingest(api, who, codes["storage"], 1)  # paid in advance: an invoice of 5.00 now
    await _ingest(api, who, codes["calls"], 3)
    await advance(api, clock, start + timedelta(days=200))
    await _ingest(api, who, codes["seats"], 1)
    await advance(api, clock, datetime(2025, 1, 1, 10, tzinfo=UTC))

    invoices = await invoices_of(api, who)
    [paid_in_advance] = [i for i in invoices if [line["amount"] for line in i["lines"]] == ["5.00"]]
    assert paid_in_advance["issuedAt"].startswith("2024-02-10")
    [period] = [i for i in invoices if i["kind"] == "SUBSCRIPTION" and i["periodEnd"].startswith("2025-01-01")]
    check_invariants(period)
    assert [line["amount"] for line in period["lines"] if line["kind"] == "TRUE_UP"] == ["88.50"]
    # the charge paid in advance is shown on the period invoice and deducted: over the year the customer pays
    # 5.00 + 95.00 = the 100.00 committed
    assert period["totalAmount"] == "95.00"


async def test_lago_minimum_commitment_ignores_a_charge_paid_in_advance_in_another_period(test_tenant):
    """The same plan: a charge paid in advance in the period before does not count towards this period's
    commitment (Lago: "an in-advance charge from another period", 100.00 - 6.50 = 93.50)."""
    api = test_tenant.api
    start = datetime(2024, 1, 1, tzinfo=UTC)
    clock = await create_clock(api, start)
    plan, codes = await _commitment_plan(api)
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"), billingTime="CALENDAR")

    await advance(api, clock, start + timedelta(days=100))
    await _ingest(api, who, codes["storage"], 1)  # paid in advance, in 2024
    await advance(api, clock, datetime(2025, 1, 1, 10, tzinfo=UTC))  # 2024's period invoice
    await _ingest(api, who, codes["calls"], 3)
    await _ingest(api, who, codes["seats"], 1)
    await advance(api, clock, datetime(2026, 1, 1, 10, tzinfo=UTC))

    invoices = await invoices_of(api, who)
    [second] = [i for i in invoices if i["kind"] == "SUBSCRIPTION" and i["periodEnd"].startswith("2026-01-01")]
    check_invariants(second)
    assert [line["amount"] for line in second["lines"] if line["kind"] == "TRUE_UP"] == ["93.50"]
