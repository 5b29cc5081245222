"""topCustomers and revenueByPlan through the API: a month billed on a test clock, checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.client import TransportQueryError
from tests.graph.billing_scenario_helpers import CHANGE_PLAN, INGEST, make_plan, mutate, standard
from tests.graph.catalog_helpers import customer, metric, subscribe, uid
from tests.graph.test_revenue_metrics import METRICS
from tests.graph.test_test_clocks import advance, create_clock

START = datetime(2025, 3, 1, tzinfo=UTC)  # the clock's own time: no date tied to today

TOP = """query($from: Date!, $to: Date!, $c: String, $n: Int) { topCustomers(from: $from, to: $to, currency: $c,
  limit: $n) { customerExternalId customerName currency usageRevenue invoicedAmount invoiceCount mrr } }"""
BY_PLAN = """query($from: Date!, $to: Date!, $c: String) { revenueByPlan(from: $from, to: $to, currency: $c) {
  planCode planName currency mrr activeSubscriptions subscriptionRevenue usageRevenue trueUpRevenue totalRevenue } }"""
MARCH = {"from": "2025-03-01", "to": "2025-04-01"}  # the invoices of March are finalized on April 1


async def _a_billed_month(api) -> dict[str, str]:
    clock = await create_clock(api, START, name="rankings")
    calls = uid("calls")
    await metric(api, calls)
    basic, pro = uid("basic"), uid("pro")
    await make_plan(api, basic, "Basic", "100.00", [standard(calls, "0.10")])
    await make_plan(api, pro, "Pro", "300.00", [standard(calls, "0.05")])
    names = {"heavy": uid("heavy"), "light": uid("light"), "mover": uid("mover"), "idle": uid("idle")}
    for key, who in names.items():
        await customer(api, who, testClockId=clock["id"])
        await subscribe(api, who, pro if key == "heavy" else basic, f"s-{who}")
    usage = {"heavy": 4000, "light": 100, "mover": 1000}  # pro 0.05 x 4000 = 200.00; basic 10.00; see below
    events = [
        {"transactionId": uid("tx"), "customerExternalId": names[key], "metricCode": calls, "properties": {"value": n}}
        for key, n in usage.items()
    ]
    assert (await api(INGEST, input={"events": events}))["ingestUsage"]["accepted"] == 3
    await advance(api, clock, START + timedelta(days=15, hours=12))
    await mutate(api, CHANGE_PLAN, "changeSubscriptionPlan", s=f"s-{names['mover']}", p=pro)  # an upgrade on the 16th
    await advance(api, clock, datetime(2025, 4, 1, 1, tzinfo=UTC))
    return {**names, "basic": basic, "pro": pro}


async def test_top_customers_and_revenue_by_plan_of_a_billed_month(test_tenant) -> None:
    api = test_tenant.api
    names = await _a_billed_month(api)
    top = (await api(TOP, **MARCH))["topCustomers"]
    ranked = [(c["customerExternalId"], c["usageRevenue"], c["mrr"]) for c in top]
    assert ranked[0] == (names["heavy"], "200.00", "300.00")
    assert [name for name, _, _ in ranked] == [names["heavy"], names["mover"], names["light"], names["idle"]]
    assert ranked[3][1] == "0.00" and all(c["currency"] == "USD" and c["invoiceCount"] >= 1 for c in top)
    assert top[0]["customerName"] == names["heavy"]
    assert [c["customerExternalId"] for c in (await api(TOP, **MARCH, n=2))["topCustomers"]] == ranked_names(top)[:2]

    # The usage of every customer adds up to revenueMetrics' usage revenue, and the totals to what was invoiced.
    (point,) = (await api(METRICS, **{"from": "2025-04-01", "to": "2025-04-01", "g": "MONTH"}))["revenueMetrics"]
    april = (await api(TOP, **{"from": "2025-04-01", "to": "2025-04-01"}, n=100))["topCustomers"]
    assert sum(Decimal(c["usageRevenue"]) for c in april) == Decimal(point["usageRevenue"])
    assert sum(Decimal(c["invoicedAmount"]) for c in april) == Decimal(point["invoicedAmount"])

    plans = {p["planCode"]: p for p in (await api(BY_PLAN, **MARCH))["revenueByPlan"]}
    # heavy and mover are on pro at the end of the range, light and idle on basic.
    assert (plans[names["pro"]]["mrr"], plans[names["pro"]]["activeSubscriptions"]) == ("600.00", 2)
    assert (plans[names["basic"]]["mrr"], plans[names["basic"]]["activeSubscriptions"]) == ("200.00", 2)
    assert plans[names["pro"]]["planName"] == "Pro"
    for found in plans.values():
        assert Decimal(found["totalRevenue"]) == sum(
            Decimal(found[k]) for k in ("subscriptionRevenue", "usageRevenue", "trueUpRevenue")
        )
    billed = sum(Decimal(p["totalRevenue"]) for p in plans.values())
    assert billed > 0 and Decimal(plans[names["basic"]]["subscriptionRevenue"]) > 0


def ranked_names(top: list[dict]) -> list[str]:
    return [c["customerExternalId"] for c in top]


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [
        (TOP, {"from": "2025-02-01", "to": "2025-01-31"}, "INVALID_DATE_RANGE"),
        (BY_PLAN, {"from": "2025-02-01", "to": "2025-01-31"}, "INVALID_DATE_RANGE"),
        (TOP, {"from": "2019-01-01", "to": "2025-01-01"}, "DATE_RANGE_TOO_LONG"),
        (BY_PLAN, {"from": "2019-01-01", "to": "2025-01-01"}, "DATE_RANGE_TOO_LONG"),
        (TOP, {"from": "2025-01-01", "to": "2025-01-31", "n": 0}, "INVALID_LIMIT"),
        (TOP, {"from": "2025-01-01", "to": "2025-01-31", "n": 101}, "INVALID_LIMIT"),
        (BY_PLAN, {"from": "2025-01-01", "to": "2025-01-31", "c": "XXX"}, "UNKNOWN_CURRENCY"),
    ],
)
async def test_bad_ranges_limits_and_currencies_are_clear_errors(tenant, document, variables, code) -> None:
    with pytest.raises(TransportQueryError) as error:
        await tenant.api(document, **variables)
    assert error.value.errors[0]["extensions"]["code"] == code


async def test_a_viewer_may_not_read_rankings(tenant) -> None:
    created = await tenant.api(
        'mutation { createApiKey(input: {name: "viewer", role: VIEWER}) { secret userErrors { code } } }'
    )
    viewer = tenant.api.as_(created["createApiKey"]["secret"])
    for document in (TOP, BY_PLAN):
        with pytest.raises(TransportQueryError) as error:
            await viewer(document, **{"from": "2025-01-01", "to": "2025-01-31"})
        assert error.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
