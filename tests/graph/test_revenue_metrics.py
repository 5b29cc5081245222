"""revenueMetrics through the API: figures checked by hand, one organization and currency at a time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.client import TransportQueryError
from tests.graph.catalog_helpers import customer, plan, subscribe

METRICS = """query($from: Date!, $to: Date!, $g: Granularity, $c: String) {
  revenueMetrics(from: $from, to: $to, granularity: $g, currency: $c) {
    periodStart periodEnd currency mrr arr newMrr expansionMrr contractionMrr churnedMrr reactivationMrr
    activeCustomers newCustomers churnedCustomers arpu netRevenueRetention grossRevenueRetention
    invoicedAmount collectedAmount overdueAmount usageRevenue } }"""

MRR_FIELDS = ("mrr", "newMrr", "churnedMrr", "activeCustomers", "newCustomers", "arpu", "netRevenueRetention")


def row(point: dict, fields=MRR_FIELDS) -> tuple:
    return tuple(point[name] for name in fields)


async def _past_quarter_tenant(api) -> None:
    await plan(api, "monthly-100", [], amount="100")
    await plan(api, "yearly-1200", [], amount="1200", interval="YEARLY")
    await plan(api, "weekly-30", [], amount="30", interval="WEEKLY")
    await plan(api, "trial-80", [], amount="80", trialPeriodDays=14)
    await plan(api, "eur-50", [], amount="50", currency="EUR")
    starts = [
        ("a", "monthly-100", "2025-01-10T12:00:00+00:00"),
        ("b", "yearly-1200", "2025-02-03T00:00:00+00:00"),
        ("c", "weekly-30", "2025-01-02T08:00:00+00:00"),
        ("d", "trial-80", "2025-02-20T00:00:00+00:00"),  # trialing until 2025-03-06
        ("e", "eur-50", "2025-01-15T00:00:00+00:00"),
    ]
    for name, plan_code, started_at in starts:
        await customer(api, name)
        await subscribe(api, name, plan_code, f"s-{name}", startedAt=started_at)


async def test_a_past_quarter_matches_figures_computed_by_hand(tenant, other_tenant) -> None:
    await _past_quarter_tenant(tenant.api)
    data = await tenant.api(METRICS, **{"from": "2025-01-01", "to": "2025-03-31"})
    january, february, march = data["revenueMetrics"]
    assert [(p["periodStart"], p["periodEnd"], p["currency"]) for p in (january, february, march)] == [
        ("2025-01-01", "2025-01-31", "USD"),
        ("2025-02-01", "2025-02-28", "USD"),
        ("2025-03-01", "2025-03-31", "USD"),
    ]
    # a 100.00 + c 30 x 52 / 12 = 130.00; then b 1200 / 12 = 100.00; then d once its trial is over
    assert row(january) == ("230.00", "230.00", "0.00", 2, 2, "115.00", None)
    assert row(february) == ("330.00", "100.00", "0.00", 3, 1, "110.00", "100.00")
    assert row(march) == ("410.00", "80.00", "0.00", 4, 1, "102.50", "100.00")
    assert march["arr"] == "4920.00" and march["grossRevenueRetention"] == "100.00"
    for point in (january, february, march):
        assert (point["expansionMrr"], point["contractionMrr"], point["reactivationMrr"]) == ("0.00",) * 3
        assert (point["invoicedAmount"], point["collectedAmount"], point["overdueAmount"]) == ("0.00",) * 3
        assert point["usageRevenue"] == "0.00" and point["churnedCustomers"] == 0

    euros = await tenant.api(METRICS, **{"from": "2025-01-01", "to": "2025-01-31", "c": "EUR"})
    assert [row(p) for p in euros["revenueMetrics"]] == [("50.00", "50.00", "0.00", 1, 1, "50.00", None)]

    weeks = await tenant.api(METRICS, **{"from": "2025-01-01", "to": "2025-01-14", "g": "WEEK"})
    assert [(p["periodStart"], p["periodEnd"], p["mrr"]) for p in weeks["revenueMetrics"]] == [
        ("2025-01-01", "2025-01-05", "130.00"),  # c from Jan 2
        ("2025-01-06", "2025-01-12", "230.00"),  # a from Jan 10
        ("2025-01-13", "2025-01-14", "230.00"),
    ]

    theirs = await other_tenant.api(METRICS, **{"from": "2025-01-01", "to": "2025-03-31"})
    assert [(p["mrr"], p["activeCustomers"]) for p in theirs["revenueMetrics"]] == [("0.00", 0)] * 3


PAID = "mutation($id: ID!) { markInvoicePaid(input: {invoiceId: $id}) { invoice { status } userErrors { code } } }"
ONE_OFF = """mutation($c: String!) { createOneOffInvoice(input: {customerExternalId: $c,
  lines: [{description: "Setup", amount: "50"}]}) { invoice { id totalAmount } userErrors { code } } }"""
TERMINATE = """mutation($id: String!) { terminateSubscription(input: {externalId: $id}) {
  subscription { status } userErrors { code } } }"""


async def test_figures_follow_changes_made_now(tenant) -> None:
    api = tenant.api
    await plan(api, "monthly-100", [], amount="100")
    await customer(api, "x")
    await subscribe(api, "x", "monthly-100", "s-x", startedAt="2025-01-10T00:00:00+00:00")
    today = datetime.now(UTC).date()
    this_month = {"from": today.replace(day=1).isoformat(), "to": today.isoformat()}

    async def now_point() -> dict:
        points = (await api(METRICS, **this_month))["revenueMetrics"]
        assert len(points) == 1
        return points[0]

    first = await now_point()
    assert (first["mrr"], first["activeCustomers"], first["newMrr"], first["netRevenueRetention"]) == (
        "100.00",
        1,
        "0.00",
        "100.00",
    )
    assert await now_point() == first  # asked again: the same figures

    invoice = (await api(ONE_OFF, c="x"))["createOneOffInvoice"]["invoice"]
    assert invoice["totalAmount"] == "50.00"
    # Due at once (no payment terms): open and past due from now on.
    opened = await now_point()
    assert (opened["invoicedAmount"], opened["collectedAmount"], opened["overdueAmount"]) == ("50.00", "0.00", "50.00")
    assert opened["mrr"] == "100.00"  # a one-off invoice is not recurring revenue

    assert (await api(PAID, id=invoice["id"]))["markInvoicePaid"]["invoice"]["status"] == "PAID"
    paid = await now_point()
    assert (paid["invoicedAmount"], paid["collectedAmount"], paid["overdueAmount"]) == ("50.00", "50.00", "0.00")

    assert (await api(TERMINATE, id="s-x"))["terminateSubscription"]["subscription"]["status"] == "TERMINATED"
    churned = await now_point()
    assert (churned["mrr"], churned["churnedMrr"], churned["churnedCustomers"], churned["activeCustomers"]) == (
        "0.00",
        "100.00",
        1,
        0,
    )
    assert (churned["netRevenueRetention"], churned["grossRevenueRetention"], churned["arpu"]) == (
        "0.00",
        "0.00",
        "0.00",
    )


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"from": "2025-02-01", "to": "2025-01-31"}, "INVALID_DATE_RANGE"),
        ({"from": "2019-01-01", "to": "2025-01-01"}, "DATE_RANGE_TOO_LONG"),
        ({"from": "2025-01-01", "to": "2025-01-31", "c": "XXX"}, "UNKNOWN_CURRENCY"),
    ],
)
async def test_bad_ranges_and_currencies_are_clear_errors(tenant, variables, code) -> None:
    with pytest.raises(TransportQueryError) as error:
        await tenant.api(METRICS, **variables)
    assert error.value.errors[0]["extensions"]["code"] == code


async def test_a_viewer_may_not_read_revenue(tenant) -> None:
    created = await tenant.api(
        'mutation { createApiKey(input: {name: "viewer", role: VIEWER}) { secret userErrors { code } } }'
    )
    viewer = tenant.api.as_(created["createApiKey"]["secret"])
    with pytest.raises(TransportQueryError) as error:
        await viewer(METRICS, **{"from": "2025-01-01", "to": "2025-01-31"})
    assert error.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
