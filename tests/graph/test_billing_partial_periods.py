"""Partial periods through the public API: Lago's published vectors (getlago/lago-api spec/), run as a user
would, with explicit dates. The rule (docs/billing-semantics.md, "Partial periods"): what the subscription covers
is measured, and divided by the *full* billing period.

Usage may be at most 35 days old, and a published vector fixes the length of its month (Lago's prorated graduated
case has 30 days, the true-up 31). Each scenario is therefore placed on the most recent dates that fit, and its
figure is computed by hand for the length N of the period it gets, the published figure being the same formula at
the published N (asserted next to it); the domain tests (tests/domain/test_domain_partial_periods.py) pin the
published figures exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

from tests.graph.billing_scenario_helpers import (
    LAST_MONTH,
    THIS_MONTH,
    before_anchor,
    check_invariants,
    event,
    ingest,
    invoices_of,
    make_plan,
    mutate,
    run_billing,
    today_utc,
)
from tests.graph.catalog_helpers import USAGE, customer, metric, subscribe

CHANGE_PLAN = """mutation Change($s: String!, $p: String!) {
  changeSubscriptionPlan(input: {externalId: $s, planCode: $p}) {
  subscription { plan { code } } userErrors { code message } } }"""
TERMINATE = """mutation Terminate($s: String!) { terminateSubscription(input: {externalId: $s}) {
  subscription { status } userErrors { field code message } } }"""

# Lago prorated_graduated_spec.rb, "three ranges and one overflow case"
THREE_RANGES = [
    {"fromValue": "0", "toValue": "5", "perUnitAmount": "10", "flatAmount": "100"},
    {"fromValue": "6", "toValue": "15", "perUnitAmount": "5", "flatAmount": "50"},
    {"fromValue": "16", "toValue": None, "perUnitAmount": "2", "flatAmount": "0"},
]


def cents(amount: D) -> str:
    return str(amount.quantize(D("0.01"), rounding=ROUND_HALF_UP))


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def one_month_before(day: datetime) -> datetime:
    """The same day of the previous month (clamped to its last day)."""
    previous = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
    last = (day.replace(day=1) - previous).days
    return previous.replace(day=min(day.day, last))


def days_of(subscription: dict) -> int:
    start = datetime.fromisoformat(subscription["currentPeriodStart"])
    return (datetime.fromisoformat(subscription["currentPeriodEnd"]) - start).days


def graduated(code: str, **extra) -> dict:
    return {
        "billableMetricCode": code,
        "model": "GRADUATED",
        "prorated": True,
        "properties": {"graduatedRanges": THREE_RANGES},
        **extra,
    }


def charge_lines(invoice: dict) -> list[dict]:
    return [line for line in invoice["lines"] if line["kind"] in ("CHARGE", "TRUE_UP")]


# (a) a charge minimum in a partial period ------------------------------------------------------------------------


async def test_a_charge_minimum_in_a_first_partial_period_is_prorated(tenant) -> None:
    """Lago create_true_up_service_spec.rb "when prorated": charges for 15 of 31 days, a 10.00 minimum, 2.00 of
    usage: true-up 10.00 x 15/31 - 2.00 = 2.84 (was 8.00, as if the whole month had been used). Here: a CALENDAR
    subscription started 15 days before the end of last month."""
    api = tenant.api
    await metric(api, "calls", "COUNT")
    await make_plan(
        api,
        "metered",
        "Metered",
        "0",
        [{"billableMetricCode": "calls", "model": "STANDARD", "properties": {"amount": "1"}, "minAmount": "10"}],
    )
    await customer(api, "late-joiner", timezone="UTC")
    start = THIS_MONTH - timedelta(days=15)
    await subscribe(
        api,
        "late-joiner",
        "metered",
        "late-sub",
        startedAt=(start + timedelta(hours=9)).isoformat(),
        billingTime="CALENDAR",
    )
    await ingest(api, [event("late-joiner", "calls", before_anchor(h)) for h in (30, 20)])
    await run_billing(api, THIS_MONTH)
    (inv,) = await invoices_of(api, "late-joiner")
    check_invariants(inv)
    n = (THIS_MONTH - LAST_MONTH).days
    assert cents(D(10) * 15 / 31 - 2) == "2.84"  # the published figure, at the published 31 days
    assert [(line["kind"], line["amount"]) for line in charge_lines(inv)] == [
        ("CHARGE", "2.00"),
        ("TRUE_UP", cents(D(10) * 15 / n - 2)),  # 10.00 x 15/N - 2.00
    ]


async def test_a_charge_minimum_of_a_terminated_subscription_covers_the_days_billed(tenant) -> None:
    """The same vector as Lago has it, a period cut short (Aug 1-15): an ANNIVERSARY subscription started 14 days
    ago and terminated today bills its 15 days (the termination day included), and so does the minimum."""
    api = tenant.api
    await metric(api, "calls", "COUNT")
    await make_plan(
        api,
        "metered",
        "Metered",
        "0",
        [{"billableMetricCode": "calls", "model": "STANDARD", "properties": {"amount": "1"}, "minAmount": "10"}],
    )
    await customer(api, "leaver", timezone="UTC")
    start = today_utc() - timedelta(days=14)
    sub = await subscribe(
        api, "leaver", "metered", "leaver-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY"
    )
    await ingest(api, [event("leaver", "calls"), event("leaver", "calls")])
    await mutate(api, TERMINATE, "terminateSubscription", s="leaver-sub")
    await run_billing(api, datetime.now(UTC))
    (inv,) = await invoices_of(api, "leaver")
    check_invariants(inv)
    assert [(line["kind"], line["amount"]) for line in charge_lines(inv)] == [
        ("CHARGE", "2.00"),
        ("TRUE_UP", cents(D(10) * 15 / days_of(sub) - 2)),  # 10.00 x 15/N - 2.00 (2.84 when N = 31)
    ]


# (b) a recurring weighted sum in a first partial period -----------------------------------------------------------


async def test_a_recurring_weighted_sum_in_a_first_partial_period_averages_over_the_calendar_month(tenant) -> None:
    """Lago weighted_sum_spec.rb: subscribed (CALENDAR) on March 5, 2,500 from that day: 2,500 x 27/31 = 2,177.42
    unit-periods at 1.00 (was 2,500: a month of storage charged for 27 days). Here: the latest start in last month
    that keeps the event within 35 days, up to the published 27 days."""
    api = tenant.api
    await metric(api, "storage", "WEIGHTED_SUM", "value", recurring=True)
    await make_plan(
        api,
        "storage",
        "Storage",
        "0",
        [{"billableMetricCode": "storage", "model": "STANDARD", "properties": {"amount": "1"}}],
    )
    await customer(api, "archive", timezone="UTC")
    elapsed = (today_utc() - THIS_MONTH).days
    k = min(27, 33 - elapsed)  # days covered of last month; the event at their start is at most 34 days old
    start = THIS_MONTH - timedelta(days=k)
    await subscribe(api, "archive", "storage", "archive-sub", startedAt=start.isoformat(), billingTime="CALENDAR")
    await ingest(api, [event("archive", "storage", start.isoformat(), value="2500")])
    await run_billing(api, THIS_MONTH)
    (inv,) = await invoices_of(api, "archive")
    check_invariants(inv)
    n = (THIS_MONTH - LAST_MONTH).days
    assert cents(D(2500) * 27 / 31) == "2177.42"  # the published figure
    ((line,),) = [charge_lines(inv)]
    assert D(line["units"]) == D(2500) * k / n  # 2,500 x k/N
    assert line["amount"] == cents(D(2500) * k / n)


# (c) prorated graduated ------------------------------------------------------------------------------------------


async def test_prorated_graduated_three_ranges_and_one_overflow_case(tenant) -> None:
    """Lago prorated_graduated_spec.rb, "three ranges and one overflow case", in a 30-day month: +2 on the 10th,
    +5 on the 16th, -6 on the 20th, +10 on the 25th, +4 on the 26th, +60 on the 30th, each at midnight; invoice
    187.00 (was 207.83: the prorated total priced through the ranges). Each range prices the unit-days inside it:
    67 in 0-5, 64 in 6-15, 60 above -> 67/N x 10 + 64/N x 5 + 60/N x 2 + flat 150 = 150 + 1,110/N. Here: the
    ANNIVERSARY period that ended today, the events placed as many days before its end as in Lago's month."""
    api = tenant.api
    await metric(api, "seats", "SUM", "amount", recurring=True)
    await make_plan(api, "ranged", "Ranged", "0", [graduated("seats")])
    await customer(api, "overflow", timezone="UTC")
    start = one_month_before(today_utc())
    sub = await subscribe(
        api, "overflow", "ranged", "overflow-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY"
    )
    end = datetime.fromisoformat(sub["currentPeriodStart"])  # the first period has ended: the second is current
    n = (end - start).days
    assert start < end <= today_utc() and n >= 28, sub
    # Lago's days 10, 16, 20, 25, 26, 30 of 30: 21, 15, 11, 6, 5, 1 days before the end (the day itself included)
    changes = [(21, "2"), (15, "5"), (11, "-6"), (6, "10"), (5, "4"), (1, "60")]
    await ingest(api, [event("overflow", "seats", (end - timedelta(days=d)).isoformat(), amount=v) for d, v in changes])
    await run_billing(api, end)
    (inv,) = await invoices_of(api, "overflow")
    check_invariants(inv)
    assert cents(150 + D(1110) / 30) == "187.00"  # the published figure, at 30 days
    ((line,),) = [charge_lines(inv)]
    # the line's units: the unit-days, 2x6 + 7x4 + 1x5 + 11 + 15x4 + 75 = 191, over N days
    assert D(line["units"]) == D(191) / n
    assert line["amount"] == cents(150 + D(1110) / n)
    # Lago's next month: the 75 units carried in for every day -> 5x10 + 10x5 + 60x2 + 150 = 370.00
    usage = (await api(USAGE, c="overflow"))["customerUsage"]
    assert [(c["units"], c["amount"]) for c in usage["charges"]] == [("75", "370.00")]


async def test_prorated_graduated_after_an_upgrade_bills_the_new_plan_from_the_change_day(tenant) -> None:
    """Lago, "when upgrade is performed": 75 units carried into October, +20 on the 17th, upgraded on the 18th; the
    new plan's charge for Oct 18-31: 95 units x 14/31 through the ranges, flat amounts in full: 150 + (5x10 + 10x5
    + 80x2) x 14/31 = 267.42. Here: an ANNIVERSARY period started 17 days ago, upgraded today (day 18)."""
    api = tenant.api
    await metric(api, "seats", "SUM", "amount", recurring=True)
    await make_plan(api, "ranged", "Ranged", "0", [graduated("seats")])
    await make_plan(api, "ranged-plus", "Ranged plus", "1", [graduated("seats")])
    await customer(api, "upgrader", timezone="UTC")
    start = today_utc() - timedelta(days=17)
    sub = await subscribe(
        api, "upgrader", "ranged", "upgrader-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY"
    )
    n = days_of(sub)
    await ingest(
        api,
        [
            event("upgrader", "seats", (start + timedelta(hours=1)).isoformat(), amount="75"),
            event("upgrader", "seats", (today_utc() - timedelta(days=1)).isoformat(), amount="20"),
        ],
    )
    await mutate(api, CHANGE_PLAN, "changeSubscriptionPlan", s="upgrader-sub", p="ranged-plus")
    usage = (await api(USAGE, c="upgrader"))["customerUsage"]
    assert cents(150 + D(260) * 14 / 31) == "267.42"  # the published figure, 14 of 31 days
    # the new plan from the change day to the period end: N - 17 days
    assert [c["amount"] for c in usage["charges"]] == [cents(150 + D(260) * (n - 17) / n)]


async def test_prorated_graduated_of_a_terminated_subscription_bills_the_termination_day(tenant) -> None:
    """Lago, "old events before first invoice and subscription is terminated": ranges 0-5 at 0, 6+ at 10; 6 units
    all month -> 10.00; +1 on the 7th -> 10 + 1 x 25/31 x 10 = 18.06; terminated on the 7th: (1 x 7 + 1 x 1)/31 x 10
    = 2.58. Here: an ANNIVERSARY period started 6 days ago (today is its 7th day), N days long."""
    api = tenant.api
    ranges = [
        {"fromValue": "0", "toValue": "5", "perUnitAmount": "0"},
        {"fromValue": "6", "toValue": None, "perUnitAmount": "10"},
    ]
    await metric(api, "seats", "SUM", "amount", recurring=True)
    charge = {
        "billableMetricCode": "seats",
        "model": "GRADUATED",
        "prorated": True,
        "properties": {"graduatedRanges": ranges},
    }
    await make_plan(api, "ranged", "Ranged", "0", [charge])
    await customer(api, "terminated", timezone="UTC")
    start = today_utc() - timedelta(days=6)
    sub = await subscribe(
        api, "terminated", "ranged", "terminated-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY"
    )
    n = days_of(sub)
    await ingest(api, [event("terminated", "seats", (start + timedelta(hours=1)).isoformat(), amount="6")])
    usage = (await api(USAGE, c="terminated"))["customerUsage"]
    assert [c["amount"] for c in usage["charges"]] == ["10.00"]  # 1 unit in 6+, every day: 10.00
    await ingest(api, [event("terminated", "seats", amount="1")])
    usage = (await api(USAGE, c="terminated"))["customerUsage"]
    assert cents(10 + D(25) / 31 * 10) == "18.06"  # the published figure
    assert [c["amount"] for c in usage["charges"]] == [cents(10 + D(n - 6) / n * 10)]
    await mutate(api, TERMINATE, "terminateSubscription", s="terminated-sub")
    await run_billing(api, datetime.now(UTC))
    (inv,) = await invoices_of(api, "terminated")
    check_invariants(inv)
    assert cents(D(8) / 31 * 10) == "2.58"  # the published figure
    assert [line["amount"] for line in charge_lines(inv)] == [cents(D(8) / n * 10)]  # (1 x 7 + 1 x 1)/N x 10


# minimum commitments in a first partial period --------------------------------------------------------------------

LAGO_COMMITMENT_CASES = [
    # Lago spec/scenarios/commitments/minimum/in_advance_spec.rb: a 1,000.00 plan paid in advance, a 10,000.00
    # commitment; the first period's true-up, billed at its end, with the next period's fee in advance.
    # CALENDAR weekly from Wednesday Feb 1, 2023: Feb 1-5, 5 of 7 days: (10,000 - 1,000) x 5/7 = 6,428.57
    ("WEEKLY", "CALENDAR", "2023-02-01T00:00:00+00:00", "2023-02-06T10:00:00+00:00", "6428.57"),
    # CALENDAR monthly from Feb 4, 2023: 25 of 28 days: 9,000 x 25/28 = 8,035.71
    ("MONTHLY", "CALENDAR", "2023-02-04T00:00:00+00:00", "2023-03-01T10:00:00+00:00", "8035.71"),
    # CALENDAR quarterly from Feb 4, 2023: Feb 4 - Mar 31, 56 of the quarter's 90 days: 9,000 x 56/90 = 5,600.00
    ("QUARTERLY", "CALENDAR", "2023-02-04T00:00:00+00:00", "2023-04-01T10:00:00+00:00", "5600.00"),
    # ANNIVERSARY: whole periods, 10,000 - 1,000 = 9,000.00
    ("WEEKLY", "ANNIVERSARY", "2023-02-01T00:00:00+00:00", "2023-02-08T10:00:00+00:00", "9000.00"),
    ("MONTHLY", "ANNIVERSARY", "2023-02-04T00:00:00+00:00", "2023-03-04T10:00:00+00:00", "9000.00"),
    ("QUARTERLY", "ANNIVERSARY", "2023-02-04T00:00:00+00:00", "2023-05-04T10:00:00+00:00", "9000.00"),
]


async def test_a_minimum_commitment_in_a_first_partial_period_is_prorated_like_the_fee(tenant) -> None:
    """Lago's in-advance commitment vectors, at Lago's own dates (no usage, so no 35-day limit): the commitment
    of a partial first period takes the fee's share of the full period."""
    api = tenant.api
    for index, (interval, billing_time, started, billed_at, true_up) in enumerate(LAGO_COMMITMENT_CASES):
        code, cust = f"committed-{index}", f"committed-{index}"
        await make_plan(
            api,
            code,
            "Committed",
            "1000",
            interval=interval,
            currency="EUR",
            payInAdvance=True,
            minimumCommitment="10000",
        )
        await customer(api, cust, timezone="UTC", currency="EUR")
        await subscribe(api, cust, code, f"{cust}-sub", startedAt=started, billingTime=billing_time)
        await run_billing(api, billed_at)
        first, at_period_end = await invoices_of(api, cust)
        for inv in (first, at_period_end):
            check_invariants(inv)
        assert [line["kind"] for line in first["lines"]] == ["SUBSCRIPTION"], (interval, billing_time)
        assert [line["amount"] for line in at_period_end["lines"] if line["kind"] == "TRUE_UP"] == [true_up], (
            interval,
            billing_time,
        )
