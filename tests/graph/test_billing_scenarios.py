"""End-to-end billing scenarios through the public GraphQL API, checked to the minor unit.

Each test builds a customer month from scratch (metrics, plans, customers, subscriptions, usage,
taxes, coupons, wallets, credit notes, plan changes) and bills it with `runBilling(asOf)`. Every
expected figure is computed by hand from docs/billing-semantics.md, the arithmetic
next to it; every invoice is also checked against the invariants
total = Σ rounded lines - discounts - progressive credit + taxes and
amountDue = total - credit notes - prepaid credits (`check_invariants`).

Dates come from one anchor, the first of the current month (tests/graph/billing_scenario_helpers.py):
usage sits in the last 60 hours of last month, and a scenario that needs a 31- or 30-day month
takes the most recent ended one, so the figures hold on any day of the year.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.graph.billing_scenario_helpers import (
    CHANGE_PLAN,
    LAST_MONTH,
    THIS_MONTH,
    THREE_MONTHS_AGO,
    TWO_MONTHS_AGO,
    add_months,
    apply_coupon,
    assign_tax,
    before_anchor,
    check_invariants,
    coupon,
    credit_note,
    day,
    event,
    expected,
    grant_credits,
    ingest,
    invoice,
    invoices_of,
    lines_of,
    make_plan,
    mark_paid,
    months_between,
    mutate,
    recent_month,
    run_billing,
    standard,
    tax_rate,
    today_utc,
    totals,
    wallet_balance,
)
from tests.graph.catalog_helpers import customer, metric, subscribe

RUN_IDS = """mutation RunIds($a: DateTime) { runBilling(input: {asOf: $a}) { invoices { id }
  failures { customerExternalId reason } userErrors { code } } }"""
INVOICES_ALL = "query { invoices(first: 200) { nodes { id number kind } } }"
VAT_NOTE = "Reverse charge: VAT to be accounted for by the recipient, Article 196 of Council Directive 2006/112/EC"


# 1. Calendar billing with a mid-period start ------------------------------------------------------


async def test_calendar_first_period_is_prorated_by_days_then_full_months(tenant) -> None:
    api = tenant.api
    await tax_rate(api, "vat20", "20", organization=True)
    await make_plan(api, "pro", "Pro", "49")
    await make_plan(api, "committed", "Committed", "31", minimumCommitment="62")
    await make_plan(api, "weekly", "Weekly", "10", interval="WEEKLY")
    m31_start, m31_end = recent_month(31)
    m30_start, m30_end = recent_month(30)
    monday = today_utc() - timedelta(days=today_utc().weekday())
    await customer(api, "committed", timezone="UTC")
    await subscribe(
        api,
        "committed",
        "committed",
        "committed-sub",
        startedAt=(m31_start + timedelta(days=14)).isoformat(),
        billingTime="CALENDAR",
    )
    await customer(api, "wednesday", timezone="UTC")  # calendar weeks start on Monday
    await subscribe(
        api,
        "wednesday",
        "weekly",
        "wednesday-sub",
        startedAt=(monday - timedelta(days=12)).isoformat(),
        billingTime="CALENDAR",
    )
    await customer(api, "jan15", timezone="UTC")
    await customer(api, "sep24", timezone="UTC")
    # billing-semantics example: "a monthly plan started on Jan 15 bills 17/31"; started at 14:00, it
    # owns its start day in full.
    await subscribe(
        api,
        "jan15",
        "pro",
        "jan15-pro",
        startedAt=(m31_start + timedelta(days=14, hours=14)).isoformat(),
        billingTime="CALENDAR",
    )
    # docs/billing-semantics.md example: "a 49 USD monthly CALENDAR plan started on Sep 24 bills Pro (7/30 days)"
    await subscribe(
        api,
        "sep24",
        "pro",
        "sep24-pro",
        startedAt=(m30_start + timedelta(days=23, hours=9)).isoformat(),
        billingTime="CALENDAR",
    )

    made = await run_billing(api, monday) + await run_billing(api, THIS_MONTH)  # calendar weeks end on Mondays

    for cust, start, end, first in (
        # 49 * 17/31 = 26.8709… → 26.87; VAT 20 % * 26.87 = 5.374 → 5.37; total 26.87 + 5.37 = 32.24
        ("jan15", m31_start + timedelta(days=14), m31_end, ("Pro (17/31 days)", "26.87", "5.37", "32.24")),
        # 49 * 7/30 = 11.4333… → 11.43; VAT 20 % * 11.43 = 2.286 → 2.29; total 13.72 (docs/api.md §5)
        ("sep24", m30_start + timedelta(days=23), m30_end, ("Pro (7/30 days)", "11.43", "2.29", "13.72")),
    ):
        invoices = await invoices_of(api, cust)
        for inv in invoices:
            check_invariants(inv)
        # one invoice for the partial month, then one per full calendar month up to the anchor
        assert len(invoices) == 1 + months_between(end, THIS_MONTH)
        head, *rest = invoices
        assert (head["periodStart"], head["periodEnd"]) == (day(start), day(end))
        assert [(line["kind"], line["description"], line["amount"], line["taxAmount"]) for line in head["lines"]] == [
            ("SUBSCRIPTION", first[0], first[1], first[2])
        ]
        assert totals(head) == expected(first[1], first[2], first[3])
        for k, inv in enumerate(rest):
            assert (inv["periodStart"], inv["periodEnd"]) == (day(add_months(end, k)), day(add_months(end, k + 1)))
            assert [line["description"] for line in inv["lines"]] == ["Pro"]
            # a full month: 49.00; VAT 20 % * 49.00 = 9.80; total 58.80
            assert totals(inv) == expected("49.00", "9.80", "58.80")
    everyone = ("jan15", "sep24", "committed", "wednesday")
    assert sorted(i["id"] for i in made) == sorted([i["id"] for c in everyone for i in await invoices_of(api, c)])

    committed = await invoices_of(api, "committed")
    assert len(committed) == 1 + months_between(m31_end, THIS_MONTH)
    # the partial month: fee 31 * 17/31 = 17.00; the commitment is prorated too: 62 * 17/31 = 34.00, so a
    # true-up of 34.00 - 17.00 = 17.00; VAT 20 %: 3.40 + 3.40 = 6.80; total 40.80
    assert sorted((ln["kind"], ln["description"], ln["amount"], ln["taxAmount"]) for ln in committed[0]["lines"]) == [
        ("SUBSCRIPTION", "Committed (17/31 days)", "17.00", "3.40"),
        ("TRUE_UP", "Committed - minimum commitment", "17.00", "3.40"),
    ]
    assert totals(committed[0]) == expected("34.00", "6.80", "40.80")
    # full months: 31.00 + true-up 62 - 31 = 31.00; VAT 12.40; total 74.40
    assert [totals(i) for i in committed[1:]] == [expected("62.00", "12.40", "74.40")] * (len(committed) - 1)
    for inv in committed:
        check_invariants(inv)

    weekly = await invoices_of(api, "wednesday")
    assert [(i["periodStart"], i["periodEnd"]) for i in weekly] == [
        (day(monday - timedelta(days=12)), day(monday - timedelta(days=7))),
        (day(monday - timedelta(days=7)), day(monday)),
    ]
    # started on a Wednesday: Wednesday to Sunday, 5 of 7 days: 10 * 5/7 = 7.142… → 7.14; VAT 1.428 → 1.43; 8.57
    assert [line["description"] for line in weekly[0]["lines"]] == ["Weekly (5/7 days)"]
    assert totals(weekly[0]) == expected("7.14", "1.43", "8.57")
    assert totals(weekly[1]) == expected("10.00", "2.00", "12.00")  # a whole week: 10.00 + VAT 2.00
    for inv in weekly:
        check_invariants(inv)
    assert await run_billing(api, THIS_MONTH) == []  # idempotent
    assert await run_billing(api, monday) == []


async def test_anniversary_periods_clamp_to_short_month_ends(tenant) -> None:
    """billing-semantics 'Billing periods': a Jan 31 start gives Feb 28 (29), Mar 31, Apr 30…, each computed from
    the anchor, never drifting."""
    api = tenant.api
    await make_plan(api, "pro", "Pro", "30")
    end = THREE_MONTHS_AGO
    while (end - add_months(end, -1)).days != 31:  # a 31-day month that ended at least three months ago
        end = add_months(end, -1)
    start = end - timedelta(days=1)  # its 31st
    await customer(api, "month-end", timezone="UTC")
    await subscribe(api, "month-end", "pro", "month-end-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY")
    await run_billing(api, THIS_MONTH)
    invoices = await invoices_of(api, "month-end")
    # by hand: the k-th period ends on day min(31, days in the month) of the k-th month after the start month
    ends, month = [], add_months(end, -1)
    while True:
        month = add_months(month, 1)
        last_day = (add_months(month, 1) - month).days
        boundary = month.replace(day=min(31, last_day))
        if boundary > THIS_MONTH:
            break
        ends.append(boundary)
    assert len(ends) >= 2
    assert [i["periodEnd"] for i in invoices] == [day(e) for e in ends]
    assert [i["periodStart"] for i in invoices] == [day(start)] + [day(e) for e in ends[:-1]]
    for inv in invoices:
        check_invariants(inv)
        assert totals(inv) == expected("30.00", "0.00", "30.00")  # whole periods, never prorated


async def test_periods_and_proration_follow_the_customer_time_zone(tenant) -> None:
    """Proration counts calendar days in the customer's time zone (docs 'Proration'); periods run between local
    midnights, whatever daylight saving time does to their length in hours (billing-semantics 'Billing periods')."""
    api = tenant.api
    tokyo, new_york = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York")
    await metric(api, "calls", "COUNT")
    await make_plan(api, "pro", "Pro", "49")
    await make_plan(api, "metered", "Metered", "10", [standard("calls", "1.00")])
    m31_start, m31_end = recent_month(31)
    jst_start = datetime(m31_start.year, m31_start.month, 15, 1, 0, tzinfo=tokyo)  # the 14th, 16:00 UTC
    jst_end = datetime(m31_end.year, m31_end.month, 1, tzinfo=tokyo)
    # the latest March that New York has finished by the anchor; DST starts on its second Sunday
    year = THIS_MONTH.year if THIS_MONTH.month >= 5 else THIS_MONTH.year - 1
    ny_start = datetime(year, 3, 5, 23, 0, tzinfo=new_york)  # the 6th, 04:00 UTC
    ny_end = datetime(year, 4, 1, tzinfo=new_york)
    for cust, tz in (("tokyo", "Asia/Tokyo"), ("tokyo-usage", "Asia/Tokyo"), ("new-york", "America/New_York")):
        await customer(api, cust, timezone=tz)
    await subscribe(api, "tokyo", "pro", "tokyo-sub", startedAt=jst_start.isoformat())
    await subscribe(api, "new-york", "pro", "new-york-sub", startedAt=ny_start.isoformat())
    jst_last_month = datetime(LAST_MONTH.year, LAST_MONTH.month, 1, tzinfo=tokyo)
    await subscribe(api, "tokyo-usage", "metered", "tokyo-usage-sub", startedAt=jst_last_month.isoformat())
    # 23:00 and 04:00 on the last day in Tokyo: last month; 01:00 and 08:00 on the 1st in Tokyo: this month
    await ingest(api, [event("tokyo-usage", "calls", before_anchor(h)) for h in (10, 29, 8, 1)])

    # New York's March ends at 04:00 UTC on April 1 (EDT)
    ny = [i for i in await run_billing(api, ny_end) if i["customer"]["externalId"] == "new-york"]
    assert len(ny) == 1
    # local days March 5-31: 27 of 31 (in UTC the start would be the 6th: 26/31). 49 * 27/31 = 42.677… → 42.68
    # (hours would give 49 * 647/743 = 42.67: the period is one hour short of 27 days)
    assert [(line["description"], line["amount"]) for line in ny[0]["lines"]] == [("Pro (27/31 days)", "42.68")]
    assert totals(ny[0]) == expected("42.68", "0.00", "42.68")
    assert datetime.fromisoformat(ny[0]["periodStart"]) == datetime(year, 3, 5, tzinfo=new_york)
    assert datetime.fromisoformat(ny[0]["periodEnd"]) == ny_end

    await run_billing(api, THIS_MONTH)
    first, *later = await invoices_of(api, "tokyo")
    # local days 15-31 in Tokyo: 17/31 (in UTC it would be 18/31 = 28.45): 49 * 17/31 = 26.870… → 26.87
    assert [(line["description"], line["amount"]) for line in first["lines"]] == [("Pro (17/31 days)", "26.87")]
    assert datetime.fromisoformat(first["periodStart"]) == datetime(m31_start.year, m31_start.month, 15, tzinfo=tokyo)
    assert datetime.fromisoformat(first["periodEnd"]) == jst_end
    # Tokyo's months end at 15:00 UTC the day before: every month end up to the anchor is billed
    assert [totals(i) for i in later] == [expected("49.00", "0.00", "49.00")] * months_between(m31_end, THIS_MONTH)
    (usage,) = await invoices_of(api, "tokyo-usage")
    # the Tokyo month of last month: fee 10.00 + 2 calls * 1.00 = 12.00
    assert datetime.fromisoformat(usage["periodEnd"]) == datetime(THIS_MONTH.year, THIS_MONTH.month, 1, tzinfo=tokyo)
    assert sorted(lines_of(usage)) == [
        ("CHARGE", "calls", "2", "2.00", "0.00", "0.00"),
        ("SUBSCRIPTION", None, None, "10.00", "0.00", "0.00"),
    ]
    assert totals(usage) == expected("12.00", "0.00", "12.00")
    for inv in [*ny, first, *later, usage]:
        check_invariants(inv)


async def test_subscriptions_of_a_customer_with_the_same_period_end_share_one_invoice(tenant) -> None:
    api = tenant.api
    await metric(api, "calls", "COUNT")
    await metric(api, "storage", "SUM", "gb")
    await make_plan(api, "api", "API", "25", [standard("calls", "1.00")])
    await make_plan(api, "vault", "Vault", "15", [standard("storage", "0.5")])
    await make_plan(api, "support-wk", "Support", "7", interval="WEEKLY")
    await customer(api, "multi", timezone="UTC")
    await subscribe(api, "multi", "api", "multi-api", startedAt=LAST_MONTH.isoformat())
    await subscribe(api, "multi", "vault", "multi-vault", startedAt=LAST_MONTH.isoformat())
    # weekly from 17 days before the anchor: its periods end 10 and 3 days before it, never on a month end
    weekly_start = THIS_MONTH - timedelta(days=17)
    await subscribe(
        api, "multi", "support-wk", "multi-support", startedAt=weekly_start.isoformat(), billingTime="ANNIVERSARY"
    )
    storage = event("multi", "storage", before_anchor(20), gb=4)
    storage["subscriptionExternalId"] = "multi-vault"
    # calls name no subscription: they count for the one plan that charges them
    await ingest(api, [*[event("multi", "calls", before_anchor(h)) for h in (30, 20, 10)], storage])

    made = await run_billing(api, THIS_MONTH)
    invoices = await invoices_of(api, "multi")
    assert len(made) == len(invoices) == 3
    for inv in invoices:
        check_invariants(inv)
    week1, week2, month = invoices
    assert [(i["periodStart"], i["periodEnd"]) for i in (week1, week2)] == [
        (day(weekly_start), day(weekly_start + timedelta(days=7))),
        (day(weekly_start + timedelta(days=7)), day(weekly_start + timedelta(days=14))),
    ]
    assert totals(week1) == totals(week2) == expected("7.00", "0.00", "7.00")
    # one invoice for both monthly subscriptions: 25.00 + 3 calls * 1.00 + 15.00 + 4 GB * 0.5 = 45.00
    assert sorted(
        (line["subscriptionExternalId"], line["kind"], line["units"], line["amount"]) for line in month["lines"]
    ) == [
        ("multi-api", "CHARGE", "3", "3.00"),
        ("multi-api", "SUBSCRIPTION", None, "25.00"),
        ("multi-vault", "CHARGE", "4", "2.00"),
        ("multi-vault", "SUBSCRIPTION", None, "15.00"),
    ]
    assert totals(month) == expected("45.00", "0.00", "45.00")
    assert (month["periodStart"], month["periodEnd"]) == (day(LAST_MONTH), day(THIS_MONTH))


async def test_recurring_seats_and_weighted_storage_carry_into_the_next_period(tenant) -> None:
    """Two weekly periods, both within the last 14 days: a recurring SUM (seats) and a recurring WEIGHTED_SUM
    (GB averaged over the period, as Lago's weighted sum: "0 GB, then +10 at mid-period → 5")."""
    api = tenant.api
    await metric(api, "seats", "SUM", "delta", recurring=True)
    await metric(api, "gb", "WEIGHTED_SUM", "delta", recurring=True)
    await make_plan(api, "team-wk", "Team", "5", [standard("seats", "10"), standard("gb", "1.00")], interval="WEEKLY")
    await customer(api, "seats-co", timezone="UTC")
    start = today_utc() - timedelta(days=14)
    await subscribe(api, "seats-co", "team-wk", "seats-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY")

    def at(days: float) -> str:
        return (start + timedelta(days=days)).isoformat()

    await ingest(
        api,
        [
            event("seats-co", "seats", at(1), delta=3),
            event("seats-co", "seats", at(8), delta=2),
            event("seats-co", "seats", at(10), delta=-1),
            event("seats-co", "gb", at(3.5), delta=10),  # mid-week 1
            event("seats-co", "gb", at(7 + 5.25), delta=-4),  # 5.25 days into week 2
        ],
    )

    await run_billing(api, today_utc())
    week1, week2 = await invoices_of(api, "seats-co")
    # week 1: 3 seats * 10 = 30.00; GB 10 * 3.5/7 = 5 → 5.00; 5 + 30 + 5 = 40.00
    assert sorted(lines_of(week1)) == [
        ("CHARGE", "gb", "5", "5.00", "0.00", "0.00"),
        ("CHARGE", "seats", "3", "30.00", "0.00", "0.00"),
        ("SUBSCRIPTION", None, None, "5.00", "0.00", "0.00"),
    ]
    assert totals(week1) == expected("40.00", "0.00", "40.00")
    # week 2: seats carried 3, + 2 - 1 = 4 * 10 = 40.00; GB carried at 10 for 5.25 days then 6 for 1.75:
    # (10 * 5.25 + 6 * 1.75) / 7 = 63 / 7 = 9 → 9.00; 5 + 40 + 9 = 54.00
    assert sorted(lines_of(week2)) == [
        ("CHARGE", "gb", "9", "9.00", "0.00", "0.00"),
        ("CHARGE", "seats", "4", "40.00", "0.00", "0.00"),
        ("SUBSCRIPTION", None, None, "5.00", "0.00", "0.00"),
    ]
    assert totals(week2) == expected("54.00", "0.00", "54.00")
    for inv in (week1, week2):
        check_invariants(inv)


# 2. Upgrades ----------------------------------------------------------------------------------------


async def test_upgrade_mid_period_on_a_pay_in_advance_plan_credits_unused_time(tenant) -> None:
    """Stripe's proration example ("upgrades from a 10 USD monthly plan to a 20 USD option halfway through the
    billing period … billed an additional 5 USD: -5 unused time, +10 remaining time",
    https://docs.stripe.com/billing/subscriptions/prorations), adapted to whole days: weekly plans, so that the
    change always falls on day 4 of 7 (3 days used, 4 left counting the change day) whatever the date."""
    api = tenant.api
    await make_plan(api, "starter-wk", "Starter", "10", interval="WEEKLY", payInAdvance=True)
    await make_plan(api, "growth-wk", "Growth", "20", interval="WEEKLY", payInAdvance=True)
    await make_plan(api, "basic-wk", "Basic", "35", interval="WEEKLY", payInAdvance=True)
    await make_plan(api, "plus-wk", "Plus", "70", interval="WEEKLY", payInAdvance=True)
    await tax_rate(api, "vat20", "20")
    await customer(api, "stripe-like", timezone="UTC")
    await customer(api, "taxed", timezone="UTC")
    await assign_tax(api, "vat20", customer="taxed")
    change_day = today_utc()
    start = change_day - timedelta(days=3)
    for cust, plan_code in (("stripe-like", "starter-wk"), ("taxed", "basic-wk")):
        await subscribe(
            api,
            cust,
            plan_code,
            f"{cust}-sub",
            startedAt=(start + timedelta(hours=10)).isoformat(),
            billingTime="ANNIVERSARY",
        )

    first = {i["customer"]["externalId"]: i for i in await run_billing(api, datetime.now(UTC))}
    # the week [start, start + 7d) is billed in advance, in full
    assert lines_of(first["stripe-like"]) == [("SUBSCRIPTION", None, None, "10.00", "0.00", "0.00")]
    assert totals(first["stripe-like"]) == expected("10.00", "0.00", "10.00")
    # 35.00; VAT 20 % = 7.00; total 42.00
    assert totals(first["taxed"]) == expected("35.00", "7.00", "42.00")
    await mark_paid(api, first["stripe-like"]["id"])  # the Stripe customer has paid its week

    for cust, new_plan in (("stripe-like", "growth-wk"), ("taxed", "plus-wk")):
        changed = await mutate(api, CHANGE_PLAN, "changeSubscriptionPlan", s=f"{cust}-sub", p=new_plan)
        state = changed["subscription"]
        assert state["plan"]["code"] == new_plan and state["nextPlan"] is None  # an upgrade applies at once
        assert state["currentPeriodEnd"] == day(start + timedelta(days=7))

    # Stripe-like customer: unused time on the old plan, change day included: 10 * 4/7 = 5.714… → 5.71, credited
    # on the (paid) invoice that billed it; the whole note becomes credit for the next invoice.
    old = await invoice(api, first["stripe-like"]["id"])
    assert [(n["kind"], n["amount"]) for n in old["creditNotes"]] == [("CREDIT", "5.71")]
    assert totals(old) == expected("10.00", "0.00", "10.00", status="PAID")
    # the new plan from the change day to the period end: 20 * 4/7 = 11.428… → 11.43; the credit note's 5.71 is
    # taken off: amount due 11.43 - 5.71 = 5.72 (Stripe: -5 + 10 = +5 on a half period)
    new = [i for i in await invoices_of(api, "stripe-like") if i["id"] != old["id"]]
    assert len(new) == 1
    assert [(line["kind"], line["description"], line["amount"]) for line in new[0]["lines"]] == [
        ("SUBSCRIPTION", "Growth (4/7 days)", "11.43")
    ]
    assert new[0]["lines"][0]["periodEnd"] == day(start + timedelta(days=7))
    assert totals(new[0]) == expected("11.43", "0.00", "11.43", credit_notes="5.71", due="5.72")
    old = await invoice(api, old["id"])
    assert old["creditNotes"][0]["remainingCredit"] == "0.00"

    # Taxed customer (open invoice): the unused part with its tax: 35 * 4/7 = 20.00, VAT 4.00 → note of 24.00,
    # which lowers the open invoice's amount due: 42.00 - 24.00 = 18.00 (= 3/7 of the week, taxed: 15.00 + 3.00)
    old_t = await invoice(api, first["taxed"]["id"])
    assert [(n["kind"], n["amount"]) for n in old_t["creditNotes"]] == [("CREDIT", "24.00")]
    assert totals(old_t) == expected("35.00", "7.00", "42.00", credit_notes="24.00", due="18.00")
    new_t = [i for i in await invoices_of(api, "taxed") if i["id"] != old_t["id"]]
    # 70 * 4/7 = 40.00; VAT 20 % = 8.00; total 48.00
    assert [(line["description"], line["amount"], line["taxAmount"]) for line in new_t[0]["lines"]] == [
        ("Plus (4/7 days)", "40.00", "8.00")
    ]
    assert totals(new_t[0]) == expected("40.00", "8.00", "48.00")

    for inv in [old, old_t, *new, *new_t]:
        check_invariants(inv)
    assert await run_billing(api, datetime.now(UTC)) == []  # the next billing date is the period end, ahead


async def test_upgrade_then_termination_bills_each_phase_by_days_with_its_own_usage(tenant) -> None:
    """Pay in arrears: the old plan to the day before the change day, the new one from it through the termination
    day (docs 'Proration'), each phase's charges over its own window (billing-semantics 'Lines')."""
    api = tenant.api
    await metric(api, "calls", "COUNT")
    await make_plan(api, "ops-wk", "Ops", "7", [standard("calls", "1.00")], interval="WEEKLY")
    await make_plan(api, "ops-plus-wk", "Ops Plus", "14", [standard("calls", "0.50")], interval="WEEKLY")
    await customer(api, "ops", timezone="UTC")
    change_day = today_utc()
    start = change_day - timedelta(days=3)
    await subscribe(api, "ops", "ops-wk", "ops-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY")
    await ingest(api, [event("ops", "calls", (start + timedelta(days=1, hours=h)).isoformat()) for h in (3, 9)])
    await mutate(api, CHANGE_PLAN, "changeSubscriptionPlan", s="ops-sub", p="ops-plus-wk")
    await ingest(api, [event("ops", "calls") for _ in range(3)])  # received now: after the change
    ended = await mutate(
        api,
        'mutation { terminateSubscription(input: {externalId: "ops-sub"}) { subscription { status } '
        "userErrors { field code message } } }",
        "terminateSubscription",
    )
    assert ended["subscription"]["status"] == "TERMINATED"

    made = await run_billing(api, datetime.now(UTC))
    assert len(made) == 1
    inv = made[0]
    check_invariants(inv)
    assert sorted((line["description"], line["units"], line["amount"]) for line in inv["lines"]) == sorted(
        [
            ("Ops (3/7 days)", None, "3.00"),  # 7 * 3/7 = 3.00: the three days before the change day
            ("Calls", "2", "2.00"),  # 2 calls * 1.00 on the old plan
            ("Ops Plus (1/7 days)", None, "2.00"),  # 14 * 1/7 = 2.00: the change day, which is the termination day
            ("Calls", "3", "1.50"),  # 3 calls * 0.50 on the new plan
        ]
    )
    # 3.00 + 2.00 + 2.00 + 1.50 = 8.50, no tax
    assert totals(inv) == expected("8.50", "0.00", "8.50")
    assert await run_billing(api, datetime.now(UTC)) == []


# 3. Trials ------------------------------------------------------------------------------------------


async def test_trial_days_are_not_billed(tenant) -> None:
    api = tenant.api
    await metric(api, "calls", "COUNT")
    await make_plan(api, "team", "Team", "45", trialPeriodDays=10)
    await make_plan(api, "long-trial", "Long trial", "30", [standard("calls", "0.5")], trialPeriodDays=70)
    await make_plan(api, "team-adv", "Team", "45", trialPeriodDays=10, payInAdvance=True)
    m31_start, m31_end = recent_month(31)
    for cust, started in (("day1", m31_start), ("day15", m31_start + timedelta(days=14))):
        await customer(api, cust, timezone="UTC")
        sub = await subscribe(api, cust, "team", f"{cust}-sub", startedAt=started.isoformat(), billingTime="CALENDAR")
        assert sub["trialEndsAt"] == day(started + timedelta(days=10))  # local midnight after the 10th trial day
    await customer(api, "advance", timezone="UTC")
    await subscribe(api, "advance", "team-adv", "advance-sub", startedAt=m31_start.isoformat(), billingTime="CALENDAR")
    # a trial longer than two whole months (70 days ≥ 31 + 31): those months bill only usage
    await customer(api, "trialing", timezone="UTC")
    sub = await subscribe(api, "trialing", "long-trial", "trialing-sub", startedAt=TWO_MONTHS_AGO.isoformat())
    assert sub["trialEndsAt"] == day(TWO_MONTHS_AGO + timedelta(days=70))
    await coupon(api, "HELLO10", "PERCENTAGE", percentage="10")
    await apply_coupon(api, "trialing", "HELLO10")
    await ingest(api, [event("trialing", "calls", before_anchor(h)) for h in (50, 30, 20, 2)])

    await run_billing(api, THIS_MONTH)

    day1 = await invoices_of(api, "day1")
    # trial on days 1-10, billed days 11-31: 45 * 21/31 = 30.4838… → 30.48
    assert [(line["description"], line["amount"]) for line in day1[0]["lines"]] == [("Team (21/31 days)", "30.48")]
    assert totals(day1[0]) == expected("30.48", "0.00", "30.48")
    day15 = await invoices_of(api, "day15")
    # started on the 15th, trial on days 15-24, billed days 25-31: 45 * 7/31 = 10.1612… → 10.16
    assert [(line["description"], line["amount"]) for line in day15[0]["lines"]] == [("Team (7/31 days)", "10.16")]
    assert totals(day15[0]) == expected("10.16", "0.00", "10.16")
    for inv in day1[1:] + day15[1:]:
        assert totals(inv) == expected("45.00", "0.00", "45.00")  # after the trial: the whole fee
    assert len(day1) == len(day15) == 1 + months_between(m31_end, THIS_MONTH)

    advance = await invoices_of(api, "advance")
    # in advance, at the start: the first month without its 10 trial days: 45 * 21/31 = 30.48; then each month
    # end bills the next month in advance, in full
    assert [(line["description"], line["amount"]) for line in advance[0]["lines"]] == [("Team (21/31 days)", "30.48")]
    assert [totals(i) for i in advance] == [expected("30.48", "0.00", "30.48")] + [
        expected("45.00", "0.00", "45.00")
    ] * (1 + months_between(m31_end, THIS_MONTH))

    first, second = await invoices_of(api, "trialing")
    # all trial: no subscription line; the charge shows at 0 units; 0 due, PAID at once; the coupon is not used
    assert lines_of(first) == [("CHARGE", "calls", "0", "0.00", "0.00", "0.00")]
    assert totals(first) == expected("0.00", "0.00", "0.00", status="PAID")
    # 4 calls * 0.5 = 2.00; the ONCE coupon takes 10 % * 2.00 = 0.20 here; total 1.80
    assert lines_of(second) == [("CHARGE", "calls", "4", "2.00", "0.20", "0.00")]
    assert totals(second) == expected("2.00", "0.00", "1.80", discount="0.20")
    for inv in day1 + day15 + advance + [first, second]:
        check_invariants(inv)


# 4. Taxes ---------------------------------------------------------------------------------------------


async def test_taxes_most_specific_level_wins_exemption_and_eu_reverse_charge(tenant) -> None:
    api = tenant.api
    await mutate(
        api,
        'mutation { updateOrganization(input: {country: "FR", legalName: "Acme SAS", '
        'taxIdentificationNumber: "FR40303265045"}) { organization { country } userErrors { field code message } } }',
        "updateOrganization",
    )
    await tax_rate(api, "vat20", "20", organization=True)
    for code, rate in (("cust10", "10"), ("plan55", "5.5"), ("chg21", "2.1"), ("state5", "5"), ("county5", "5")):
        await tax_rate(api, code, rate)
    await metric(api, "calls", "COUNT")
    await metric(api, "storage", "SUM", "gb")
    await make_plan(api, "basic", "Basic", "29.99", [standard("calls", "0.015")])
    await make_plan(api, "taxed", "Taxed", "29.99", [standard("calls", "0.015"), standard("storage", "0.8")])
    await make_plan(api, "mini", "Mini", "1.10")
    await assign_tax(api, "plan55", plan="taxed")
    await assign_tax(api, "chg21", plan="taxed", metric="storage")
    people = {
        "org-default": ("basic", {"country": "US"}),
        "customer-rate": ("basic", {"country": "US"}),
        "plan-and-charge": ("taxed", {"country": "US"}),
        "exempt": ("taxed", {"country": "US", "taxExempt": True}),
        "two-rates": ("mini", {"country": "US"}),
        "de-business": ("basic", {"country": "DE", "taxIdentificationNumber": "DE 136 695 976"}),
        "de-consumer": ("basic", {"country": "DE"}),
        "fr-business": ("basic", {"country": "FR", "taxIdentificationNumber": "FR44732829320"}),
        "de-no-prefix": ("basic", {"country": "DE", "taxIdentificationNumber": "136695976"}),
        "gr-business": ("basic", {"country": "GR", "taxIdentificationNumber": "EL094259216"}),
        "ch-business": ("basic", {"country": "CH", "taxIdentificationNumber": "CHE-116.281.710 MWST"}),
    }
    for cust, (plan_code, fields) in people.items():
        await customer(api, cust, timezone="UTC", **fields)
        await subscribe(api, cust, plan_code, f"{cust}-sub", startedAt=LAST_MONTH.isoformat())
    bad = await api(
        'mutation { updateCustomer(input: {externalId: "de-consumer", taxIdentificationNumber: "DE136695977"}) '
        "{ userErrors { code } } }"
    )
    assert bad["updateCustomer"]["userErrors"] == [{"code": "INVALID_VAT_NUMBER"}]  # checked on save
    await assign_tax(api, "cust10", customer="customer-rate")
    await assign_tax(api, "cust10", customer="customer-rate")  # assigned twice: counts once
    await assign_tax(api, "cust10", customer="de-business")  # reverse charge still wins: no tax at all
    await assign_tax(api, "cust10", customer="plan-and-charge")  # the plan's and charge's rates are more specific
    await assign_tax(api, "state5", customer="two-rates")
    await assign_tax(api, "county5", customer="two-rates")
    events = []
    for cust, (plan_code, _) in people.items():
        if plan_code != "mini":
            events += [event(cust, "calls", before_anchor(h)) for h in (40, 35, 30, 25, 20, 10, 5)]
        if plan_code == "taxed":
            events += [
                event(cust, "storage", before_anchor(12), gb="10.5"),
                event(cust, "storage", before_anchor(6), gb=2.25),
            ]
    await ingest(api, events)

    invoices = {i["customer"]["externalId"]: i for i in await run_billing(api, THIS_MONTH)}
    assert set(invoices) == set(people)
    for inv in invoices.values():
        check_invariants(inv)

    def taxes(cust: str) -> list[tuple]:
        return sorted(
            (
                line["billableMetricCode"] or "fee",
                line["amount"],
                line["taxAmount"],
                sorted(r["code"] for r in line["taxRates"]),
            )
            for line in invoices[cust]["lines"]
        )

    # 7 calls * 0.015 = 0.105 → 0.11 (half away from zero); subtotal 29.99 + 0.11 = 30.10
    # organization default 20 %: 29.99 → 5.998 → 6.00; 0.11 → 0.022 → 0.02; tax 6.02; total 36.12
    # a consumer, a business in the seller's country, a business outside the EU: VAT as usual
    for cust in ("org-default", "de-consumer", "fr-business", "ch-business"):
        assert taxes(cust) == [("calls", "0.11", "0.02", ["vat20"]), ("fee", "29.99", "6.00", ["vat20"])], cust
        assert totals(invoices[cust]) == expected("30.10", "6.02", "36.12"), cust
        assert invoices[cust]["reverseCharge"] is False
    # customer level 10 % beats the organization: 2.999 → 3.00; 0.011 → 0.01; tax 3.01; total 33.11
    assert taxes("customer-rate") == [("calls", "0.11", "0.01", ["cust10"]), ("fee", "29.99", "3.00", ["cust10"])]
    assert totals(invoices["customer-rate"]) == expected("30.10", "3.01", "33.11")
    # plan level 5.5 % beats the customer's 10 % for the fee and the calls charge; the storage charge has its own
    # 2.1 %. storage 10.5 + 2.25 = 12.75 GB * 0.8 = 10.20; subtotal 29.99 + 0.11 + 10.20 = 40.30
    # fee 29.99 * 5.5 % = 1.64945 → 1.65; calls 0.11 * 5.5 % = 0.00605 → 0.01; storage 10.20 * 2.1 % = 0.2142 → 0.21
    # tax 1.65 + 0.01 + 0.21 = 1.87; total 42.17
    assert taxes("plan-and-charge") == [
        ("calls", "0.11", "0.01", ["plan55"]),
        ("fee", "29.99", "1.65", ["plan55"]),
        ("storage", "10.20", "0.21", ["chg21"]),
    ]
    assert totals(invoices["plan-and-charge"]) == expected("40.30", "1.87", "42.17")
    # tax-exempt: the same lines, no tax, no rate listed
    assert taxes("exempt") == [
        ("calls", "0.11", "0.00", []),
        ("fee", "29.99", "0.00", []),
        ("storage", "10.20", "0.00", []),
    ]
    assert totals(invoices["exempt"]) == expected("40.30", "0.00", "40.30")
    # two rates of one level add up and the line is rounded once: 1.10 * (5 + 5) % = 0.11 (not 0.06 + 0.06)
    assert taxes("two-rates") == [("fee", "1.10", "0.11", ["county5", "state5"])]
    assert totals(invoices["two-rates"]) == expected("1.10", "0.11", "1.21")
    # FR seller, DE business customer with a valid VAT number: reverse charge, 0 tax, and the note
    # (with or without the country prefix; Greece's prefix is EL)
    for cust in ("de-business", "de-no-prefix", "gr-business"):
        rc = invoices[cust]
        assert taxes(cust) == [("calls", "0.11", "0.00", []), ("fee", "29.99", "0.00", [])], cust
        assert totals(rc) == expected("30.10", "0.00", "30.10"), cust
        assert rc["reverseCharge"] is True and VAT_NOTE in rc["notes"], cust
    saved = await api('query { customer(externalId: "de-business") { taxIdentificationNumber } }')
    assert saved["customer"]["taxIdentificationNumber"] == "DE136695976"  # stored compact


async def test_no_reverse_charge_when_the_seller_is_outside_the_eu(other_tenant) -> None:
    api = other_tenant.api
    await mutate(
        api,
        'mutation { updateOrganization(input: {country: "US"}) { userErrors { field code message } } }',
        "updateOrganization",
    )
    await tax_rate(api, "sales10", "10", organization=True)
    await make_plan(api, "basic", "Basic", "29.99")
    await customer(api, "de-business", timezone="UTC", country="DE", taxIdentificationNumber="DE136695976")
    await subscribe(api, "de-business", "basic", "de-business-sub", startedAt=LAST_MONTH.isoformat())
    (inv,) = await run_billing(api, THIS_MONTH)
    check_invariants(inv)
    # 29.99 * 10 % = 2.999 → 3.00; total 32.99
    assert totals(inv) == expected("29.99", "3.00", "32.99")
    assert inv["reverseCharge"] is False and VAT_NOTE not in inv["notes"]


# 5. Coupons -------------------------------------------------------------------------------------------


async def test_coupons_fixed_and_percentage_once_repeating_forever_over_three_months(tenant) -> None:
    api = tenant.api
    await tax_rate(api, "vat20", "20", organization=True)
    await tax_rate(api, "low10", "10")
    await metric(api, "calls", "COUNT")
    await make_plan(api, "pro", "Pro", "49")
    await make_plan(api, "pro-usage", "Pro usage", "20", [standard("calls", "1.00")])
    await assign_tax(api, "low10", plan="pro-usage", metric="calls")
    await coupon(api, "FIVE-ONCE", "FIXED", amount="5", currency="USD")
    await coupon(api, "TEN-PCT-2", "PERCENTAGE", "REPEATING", percentage="10", durationPeriods=2)
    await coupon(api, "TEN-FOREVER", "FIXED", "FOREVER", amount="10", currency="USD")
    await coupon(api, "TWENTY-PCT-FOREVER", "PERCENTAGE", "FOREVER", percentage="20")
    await coupon(api, "HUNDRED-ONCE", "FIXED", amount="100", currency="USD")
    await coupon(api, "EIGHTH-FOREVER", "PERCENTAGE", "FOREVER", percentage="12.5")
    await coupon(api, "ONE-ONCE", "FIXED", amount="1", currency="USD")
    given = {
        "fixed-once": ["FIVE-ONCE"],
        "pct-repeating": ["TEN-PCT-2"],
        "stacked": ["TEN-FOREVER", "TWENTY-PCT-FOREVER"],  # in this order
        "too-big": ["HUNDRED-ONCE"],
        "rounding": ["EIGHTH-FOREVER"],
    }
    for cust, codes in given.items():
        await customer(api, cust, timezone="UTC")
        await subscribe(api, cust, "pro", f"{cust}-sub", startedAt=THREE_MONTHS_AGO.isoformat())
        for code in codes:
            await apply_coupon(api, cust, code)
    await customer(api, "spread", timezone="UTC")
    await subscribe(api, "spread", "pro-usage", "spread-sub", startedAt=LAST_MONTH.isoformat())
    await apply_coupon(api, "spread", "ONE-ONCE")
    await ingest(api, [event("spread", "calls", before_anchor(5 * h)) for h in range(1, 11)])

    await run_billing(api, THIS_MONTH)

    full = expected("49.00", "9.80", "58.80")  # no discount: 49.00 + 20 % VAT 9.80
    want = {
        # FIXED 5 once: 49.00 - 5.00 = 44.00; VAT 8.80; 52.80 — then full price
        "fixed-once": [expected("49.00", "8.80", "52.80", discount="5.00"), full, full],
        # 10 % for 2 periods: 4.90 off → 44.10; VAT 8.82; 52.92 — twice, then full price
        "pct-repeating": [expected("49.00", "8.82", "52.92", discount="4.90")] * 2 + [full],
        # 10 off, then 20 % of what is left: 10.00 + 20 % * 39.00 = 17.80 off → 31.20; VAT 6.24; 37.44, every month
        "stacked": [expected("49.00", "6.24", "37.44", discount="17.80")] * 3,
        # FIXED 100 once on 49.00 takes 49.00, the rest is lost: 0 due, PAID — then full price
        "too-big": [expected("49.00", "0.00", "0.00", discount="49.00", status="PAID"), full, full],
        # 12.5 % * 49.00 = 6.125 → 6.13 off → 42.87; VAT 8.574 → 8.57; 51.44, every month
        "rounding": [expected("49.00", "8.57", "51.44", discount="6.13")] * 3,
    }
    for cust, expectation in want.items():
        invoices = await invoices_of(api, cust)
        assert [totals(i) for i in invoices] == expectation, cust
        assert [i["periodStart"] for i in invoices] == [day(add_months(THREE_MONTHS_AGO, k)) for k in range(3)]
        for inv in invoices:
            check_invariants(inv)

    (spread,) = await invoices_of(api, "spread")
    check_invariants(spread)
    # FIXED 1.00 spread pro rata over 20.00 and 10.00: 100 cents * 2/3 = 66.67, * 1/3 = 33.33 → 66 + 33 = 99,
    # the last cent to the largest remainder → 0.67 and 0.33. Tax per line on its discounted amount:
    # fee (organization 20 %): 19.33 * 20 % = 3.866 → 3.87; calls (charge 10 %): 9.67 * 10 % = 0.967 → 0.97
    assert sorted(lines_of(spread)) == [
        ("CHARGE", "calls", "10", "10.00", "0.33", "0.97"),
        ("SUBSCRIPTION", None, None, "20.00", "0.67", "3.87"),
    ]
    # 30.00 - 1.00 + 4.84 = 33.84
    assert totals(spread) == expected("30.00", "4.84", "33.84", discount="1.00")


# 6. Wallets and credit notes ----------------------------------------------------------------------------


async def test_wallet_after_tax_never_below_zero_and_credit_notes_carried_to_the_next_invoice(tenant) -> None:
    api = tenant.api
    await tax_rate(api, "vat20", "20", organization=True)
    await metric(api, "calls", "COUNT")
    await make_plan(api, "metered", "Metered", "30", [standard("calls", "1.00")])
    for cust, granted in (("wallet-and-note", "50"), ("note-excess", "5"), ("big-wallet", "100")):
        await customer(api, cust, timezone="UTC")
        await subscribe(api, cust, "metered", f"{cust}-sub", startedAt=TWO_MONTHS_AGO.isoformat())
        assert await grant_credits(api, cust, granted) == f"{granted}.00"

    await run_billing(api, LAST_MONTH)  # the first month only

    # fee 30.00 + 0 calls; VAT 20 % = 6.00; total 36.00
    (a1,) = await invoices_of(api, "wallet-and-note")
    # the wallet (50.00) pays after tax: 36.00; 0 due → PAID; 50.00 - 36.00 = 14.00 left
    assert totals(a1) == expected("30.00", "6.00", "36.00", credits="36.00", due="0.00", status="PAID")
    assert await wallet_balance(api, "wallet-and-note") == "14.00"
    note = await credit_note(api, a1["id"], "10.00")  # on a paid invoice: all of it is credit for the next one
    assert (note["number"], note["amount"], note["remainingCredit"]) == (a1["number"] + "-CN1", "10.00", "10.00")

    (b1,) = await invoices_of(api, "note-excess")
    # the wallet has only 5.00: 36.00 - 5.00 = 31.00 due, never below zero
    assert totals(b1) == expected("30.00", "6.00", "36.00", credits="5.00", due="31.00")
    assert await wallet_balance(api, "note-excess") == "0.00"
    # a credit note of the whole total on the open invoice: it takes the 31.00 due (→ PAID), the 5.00 excess
    # is credit for the next invoices
    note_b = await credit_note(api, b1["id"], "36.00")
    assert note_b["remainingCredit"] == "5.00"
    b1 = await invoice(api, b1["id"])
    assert totals(b1) == expected(
        "30.00", "6.00", "36.00", credit_notes="31.00", credits="5.00", due="0.00", status="PAID"
    )
    assert await grant_credits(api, "note-excess", "20", create=False) == "20.00"

    (c1,) = await invoices_of(api, "big-wallet")
    assert totals(c1) == expected("30.00", "6.00", "36.00", credits="36.00", due="0.00", status="PAID")

    await ingest(api, [event("wallet-and-note", "calls", before_anchor(h)) for h in (48, 36, 24, 12, 1)])
    await run_billing(api, THIS_MONTH)

    a1, a2 = await invoices_of(api, "wallet-and-note")
    # fee 30.00 + 5 calls * 1.00 = 35.00; VAT 7.00; total 42.00; the credit note's 10.00 first, then the wallet's
    # 14.00: due 42.00 - 10.00 - 14.00 = 18.00
    assert sorted(lines_of(a2)) == [
        ("CHARGE", "calls", "5", "5.00", "0.00", "1.00"),
        ("SUBSCRIPTION", None, None, "30.00", "0.00", "6.00"),
    ]
    assert totals(a2) == expected("35.00", "7.00", "42.00", credit_notes="10.00", credits="14.00", due="18.00")
    assert await wallet_balance(api, "wallet-and-note") == "0.00"
    assert a1["creditNotes"][0]["remainingCredit"] == "0.00"

    _, b2 = await invoices_of(api, "note-excess")
    # 36.00 - 5.00 (rest of the credit note) - 20.00 (wallet) = 11.00
    assert totals(b2) == expected("30.00", "6.00", "36.00", credit_notes="5.00", credits="20.00", due="11.00")
    assert await wallet_balance(api, "note-excess") == "0.00"

    _, c2 = await invoices_of(api, "big-wallet")
    # 100.00 - 36.00 - 36.00 = 28.00 left: credits never exceed what is due
    assert totals(c2) == expected("30.00", "6.00", "36.00", credits="36.00", due="0.00", status="PAID")
    assert await wallet_balance(api, "big-wallet") == "28.00"
    for inv in (a1, a2, b1, b2, c1, c2):
        check_invariants(inv)


async def test_paid_credits_are_invoiced_without_tax_and_usable_once_paid(tenant) -> None:
    api = tenant.api
    await tax_rate(api, "vat20", "20", organization=True)
    await make_plan(api, "metered", "Metered", "30")
    await customer(api, "buyer", timezone="UTC")
    await subscribe(api, "buyer", "metered", "buyer-sub", startedAt=TWO_MONTHS_AGO.isoformat())
    await grant_credits(api, "buyer", "0.01")  # opens the wallet; a granted cent is available at once
    bought = await mutate(
        api,
        'mutation { topUpWallet(input: {customerExternalId: "buyer", paidCredits: "25"}) { wallet { balance } '
        "userErrors { field code message } } }",
        "topUpWallet",
    )
    assert bought["wallet"]["balance"] == "0.01"  # paid credits wait for their invoice to be paid
    (purchase,) = await invoices_of(api, "buyer")
    check_invariants(purchase)
    # one ONE_OFF line "Prepaid credits", never taxed: 25.00, numbered and OPEN at once
    assert purchase["kind"] == "CREDIT_PURCHASE" and purchase["number"]
    assert [(line["kind"], line["amount"], line["taxAmount"]) for line in purchase["lines"]] == [
        ("ONE_OFF", "25.00", "0.00")
    ]
    assert totals(purchase) == expected("25.00", "0.00", "25.00")
    await mark_paid(api, purchase["id"])
    assert await wallet_balance(api, "buyer") == "25.01"

    await run_billing(api, THIS_MONTH)
    first, second = [i for i in await invoices_of(api, "buyer") if i["kind"] == "SUBSCRIPTION"]
    # 30.00 + VAT 6.00 = 36.00: the wallet's 25.01 after tax, due 10.99; then nothing left: 36.00 due
    assert totals(first) == expected("30.00", "6.00", "36.00", credits="25.01", due="10.99")
    assert totals(second) == expected("30.00", "6.00", "36.00")
    assert await wallet_balance(api, "buyer") == "0.00"
    for inv in (first, second):
        check_invariants(inv)


async def test_grace_period_drafts_take_coupons_and_credits_at_finalization(tenant) -> None:
    """billing-semantics 'Grace period': drafts have fees and taxes but no number; coupons, credit notes and
    prepaid credits are applied (and consumed) only at finalization; one-off invoices are numbered at once and
    take none of them."""
    api = tenant.api
    await mutate(
        api,
        "mutation { updateOrganization(input: {invoiceGracePeriodDays: 3}) { organization { invoiceGracePeriodDays }"
        " userErrors { field code message } } }",
        "updateOrganization",
    )
    await tax_rate(api, "vat20", "20", organization=True)
    await make_plan(api, "pro", "Pro", "49")
    await coupon(api, "NINE-OFF", "FIXED", amount="9", currency="USD")
    await customer(api, "late-payer", timezone="UTC")
    await subscribe(api, "late-payer", "pro", "late-payer-sub", startedAt=LAST_MONTH.isoformat())
    await apply_coupon(api, "late-payer", "NINE-OFF")
    await grant_credits(api, "late-payer", "10")

    (draft,) = await run_billing(api, THIS_MONTH)
    check_invariants(draft)
    # 49.00 + VAT 9.80 = 58.80, before any coupon or credit
    assert (draft["status"], draft["number"]) == ("DRAFT", None)
    assert totals(draft) == expected("49.00", "9.80", "58.80", status="DRAFT")
    assert await wallet_balance(api, "late-payer") == "10.00"

    one_off = await mutate(
        api,
        'mutation { createOneOffInvoice(input: {customerExternalId: "late-payer", lines: [{description: "Onboarding",'
        ' amount: "50", units: "2"}]}) { invoice { id } userErrors { field code message } } }',
        "createOneOffInvoice",
    )
    one_off = await invoice(api, one_off["invoice"]["id"])
    check_invariants(one_off)
    # 2 * 50 = 100.00 + VAT 20.00 = 120.00; no coupon, no wallet; the first number of the organization
    assert totals(one_off) == expected("100.00", "20.00", "120.00")
    assert one_off["number"].endswith("-0001")

    final = await mutate(
        api,
        "mutation($id: ID!) { finalizeInvoice(input: {id: $id}) { invoice { id } userErrors { field code message } } }",
        "finalizeInvoice",
        id=draft["id"],
    )
    final = await invoice(api, final["invoice"]["id"])
    check_invariants(final)
    # at finalization: 49.00 - 9.00 = 40.00; VAT 8.00; total 48.00; wallet 10.00 after tax; due 38.00
    assert totals(final) == expected("49.00", "8.00", "48.00", discount="9.00", credits="10.00", due="38.00")
    assert final["number"].endswith("-0002")
    assert await wallet_balance(api, "late-payer") == "0.00"
    assert await run_billing(api, THIS_MONTH) == []


# 7. Charge models on one invoice --------------------------------------------------------------------------


async def test_graduated_volume_package_percentage_charges_on_one_invoice(tenant) -> None:
    api = tenant.api
    await tax_rate(api, "vat20", "20", organization=True)
    for code, field in (
        ("requests", "count"),
        ("calls", "count"),
        ("sms", "count"),
        ("payments", "amount"),
        ("transfers", "amount"),
        ("payouts", "amount"),
    ):
        await metric(api, code, "SUM", field)

    def ranges(*rows: tuple) -> list[dict]:
        return [{"fromValue": f, "toValue": t, "perUnitAmount": p, "flatAmount": flat} for f, t, p, flat in rows]

    charges = [
        # Lago "Graduated": $1 per unit for the first 100 units, $0.50 for the next 100, $0.10 above
        # (https://getlago.com/docs/guide/plans/charges/charge-models/graduated)
        {
            "billableMetricCode": "requests",
            "model": "GRADUATED",
            "properties": {
                "graduatedRanges": ranges(("0", "100", "1", "0"), ("101", "200", "0.5", "0"), ("201", None, "0.1", "0"))
            },
        },
        # Lago "Volume": 4 tiers with a $10 fixed fee each (…/charge-models/volume)
        {
            "billableMetricCode": "calls",
            "model": "VOLUME",
            "properties": {
                "volumeRanges": ranges(
                    ("0", "10000", "0.001", "10"),
                    ("10001", "50000", "0.0008", "10"),
                    ("50001", "100000", "0.0006", "10"),
                    ("100001", None, "0.0004", "10"),
                )
            },
        },
        # Lago "Package": $5 per 100 units, the first 100 free (…/charge-models/package)
        {
            "billableMetricCode": "sms",
            "model": "PACKAGE",
            "minAmount": "15",
            "properties": {"amount": "5", "packageSize": "100", "freeUnits": "100"},
        },
        # Lago's Stripe template: card payments 2.9 % + $0.30 per transaction
        # (https://getlago.com/docs/templates/per-transaction/stripe)
        {"billableMetricCode": "payments", "model": "PERCENTAGE", "properties": {"rate": "2.9", "fixedAmount": "0.30"}},
        # docs/billing-semantics.md "Percentage" example: 1.3 % + 0.10, the first 2 events free, at least 1.00 each
        {
            "billableMetricCode": "transfers",
            "model": "PERCENTAGE",
            "properties": {
                "rate": "1.3",
                "fixedAmount": "0.10",
                "freeUnitsPerEvents": 2,
                "perTransactionMinAmount": "1",
            },
        },
        # Lago "Graduated percentage": 1 % + $200 up to 1,000; 2 % + $300 up to 10,000; 3 % + $400 above
        # (…/charge-models/graduated-percentage)
        {
            "billableMetricCode": "payouts",
            "model": "GRADUATED_PERCENTAGE",
            "properties": {
                "graduatedPercentageRanges": [
                    {"fromValue": "0", "toValue": "1000", "rate": "1", "flatAmount": "200"},
                    {"fromValue": "1001", "toValue": "10000", "rate": "2", "flatAmount": "300"},
                    {"fromValue": "10001", "toValue": None, "rate": "3", "flatAmount": "400"},
                ]
            },
        },
    ]
    await make_plan(api, "platform", "Platform", "99", charges)
    await customer(api, "api-co", timezone="UTC")
    await subscribe(api, "api-co", "platform", "api-co-sub", startedAt=LAST_MONTH.isoformat())
    await customer(api, "idle-co", timezone="UTC")  # no usage at all
    await subscribe(api, "idle-co", "platform", "idle-co-sub", startedAt=LAST_MONTH.isoformat())
    replayed = event("api-co", "payments", before_anchor(8), amount="250.00")
    await ingest(
        api,
        [
            event("api-co", "requests", before_anchor(50), count=120),
            event("api-co", "requests", before_anchor(30), count=80),
            event("api-co", "requests", (THIS_MONTH - timedelta(seconds=1)).isoformat(), count=50),
            event("api-co", "requests", THIS_MONTH.isoformat(), count=1000),  # the next period starts at midnight
            event("api-co", "requests", None, count=1000),  # received now: this month, not billed yet
            event("api-co", "calls", before_anchor(40), count=40000),
            event("api-co", "calls", before_anchor(4), count=25000),
            event("api-co", "sms", before_anchor(20), count=150),
            event("api-co", "sms", before_anchor(3), count=51),
            event("api-co", "payments", before_anchor(9), amount="100.00"),
            replayed,
            event("api-co", "payments", before_anchor(7), amount="19.99"),
            *[
                event("api-co", "transfers", before_anchor(56 - k), amount=v)
                for k, v in enumerate((100, 200, 50, 1000))
            ],
            event("api-co", "payouts", before_anchor(45), amount=500),
            event("api-co", "payouts", before_anchor(25), amount=550),
            event("api-co", "payouts", before_anchor(1), amount=4000),
        ],
    )
    await ingest(api, [replayed], duplicates=1)  # a replay is counted once

    invoices = {i["customer"]["externalId"]: i for i in await run_billing(api, THIS_MONTH)}
    inv, idle = invoices["api-co"], invoices["idle-co"]
    check_invariants(inv)
    check_invariants(idle)
    assert sorted(
        (line["billableMetricCode"] or "fee", line["units"] or "", line["amount"], line["taxAmount"])
        for line in inv["lines"]
    ) == sorted(
        [
            ("fee", "", "99.00", "19.80"),  # VAT 20 %: 19.80
            # 120 + 80 + 50 = 250: 100 * 1 + 100 * 0.5 + 50 * 0.1 = 155.00; VAT 31.00
            ("requests", "250", "155.00", "31.00"),
            # 40,000 + 25,000 = 65,000 in tier 3: 65,000 * 0.0006 + 10 = 49.00 (Lago: "$49"); VAT 9.80
            ("calls", "65000", "49.00", "9.80"),
            # 150 + 51 = 201: ceil((201 - 100) ÷ 100) = 2 packages * 5 = 10.00 (Lago: "$10"); VAT 2.00
            ("sms", "201", "10.00", "2.00"),
            ("sms", "", "5.00", "1.00"),  # the charge minimum: 15 - 10.00 = 5.00 (TRUE_UP); VAT 1.00
            # 100.00 + 250.00 + 19.99 = 369.99: 2.9 % * 369.99 = 10.72971 + 3 * 0.30 = 11.62971 → 11.63;
            # VAT 2.326 → 2.33
            ("payments", "369.99", "11.63", "2.33"),
            # in time order: 100 and 200 free; 50 → 1.3 % * 50 + 0.10 = 0.75, raised to 1.00;
            # 1000 → 13.00 + 0.10 = 13.10;
            # 1.00 + 13.10 = 14.10; VAT 2.82. Units: the period's sum 100 + 200 + 50 + 1000 = 1350
            ("transfers", "1350", "14.10", "2.82"),
            # 500 + 550 + 4,000 = 5,050: 1 % * 1,000 + 200 + 2 % * 4,050 + 300 = 10 + 200 + 81 + 300 = 591.00
            # (Lago's three transactions: 205 + 306 + 80 = 591); VAT 118.20
            ("payouts", "5050", "591.00", "118.20"),
        ]
    )
    # subtotal 99 + 155 + 49 + 10 + 5 + 11.63 + 14.10 + 591 = 934.73
    # tax 19.80 + 31.00 + 9.80 + 2.00 + 1.00 + 2.33 + 2.82 + 118.20 = 186.95; total 934.73 + 186.95 = 1121.68
    assert totals(inv) == expected("934.73", "186.95", "1121.68")
    assert [line["kind"] for line in inv["lines"] if line["billableMetricCode"] == "sms"].count("TRUE_UP") == 1

    # no usage: every charge still has its line; the first range's flat amount is due at zero units
    # (graduated: 0; volume: 10; graduated percentage: 200), and the sms minimum tops 0 up to 15
    assert sorted(
        (line["billableMetricCode"] or "fee", line["kind"], line["units"] or "", line["amount"])
        for line in idle["lines"]
    ) == sorted(
        [
            ("fee", "SUBSCRIPTION", "", "99.00"),
            ("requests", "CHARGE", "0", "0.00"),
            ("calls", "CHARGE", "0", "10.00"),
            ("sms", "CHARGE", "0", "0.00"),
            ("sms", "TRUE_UP", "", "15.00"),
            ("payments", "CHARGE", "0", "0.00"),
            ("transfers", "CHARGE", "0", "0.00"),
            ("payouts", "CHARGE", "0", "200.00"),
        ]
    )
    # 99 + 10 + 15 + 200 = 324.00; VAT 19.80 + 2.00 + 3.00 + 40.00 = 64.80; total 388.80
    assert totals(idle) == expected("324.00", "64.80", "388.80")


async def test_minimum_commitment_tops_the_period_up(tenant) -> None:
    """Lago's minimum-commitment scenario (getlago/lago-api#1787): "$50 + 3 * $10 = $80 + $20 (true-up fee) =
    $100" for a $100 commitment; and no true-up once the fees reach it."""
    api = tenant.api
    await metric(api, "units", "COUNT")
    await make_plan(api, "committed", "Committed", "50", [standard("units", "10")], minimumCommitment="100")
    for cust in ("short", "over"):
        await customer(api, cust, timezone="UTC")
        await subscribe(api, cust, "committed", f"{cust}-sub", startedAt=LAST_MONTH.isoformat())
    await ingest(
        api,
        [event("short", "units", before_anchor(h)) for h in (30, 20, 10)]
        + [event("over", "units", before_anchor(h)) for h in range(1, 7)],
    )
    invoices = {i["customer"]["externalId"]: i for i in await run_billing(api, THIS_MONTH)}
    short, over = invoices["short"], invoices["over"]
    assert sorted((line["kind"], line["units"] or "", line["amount"]) for line in short["lines"]) == [
        ("CHARGE", "3", "30.00"),  # 3 * 10
        ("SUBSCRIPTION", "", "50.00"),
        ("TRUE_UP", "", "20.00"),  # 100 - (50 + 30)
    ]
    assert totals(short) == expected("100.00", "0.00", "100.00")
    # 50 + 6 * 10 = 110 ≥ 100: no true-up line
    assert sorted((line["kind"], line["amount"]) for line in over["lines"]) == [
        ("CHARGE", "60.00"),
        ("SUBSCRIPTION", "50.00"),
    ]
    assert totals(over) == expected("110.00", "0.00", "110.00")
    for inv in (short, over):
        check_invariants(inv)


# 8. Minor units ------------------------------------------------------------------------------------------


async def test_minor_units_of_jpy_and_kwd(tenant) -> None:
    api = tenant.api
    await metric(api, "jcalls", "SUM", "n")
    await metric(api, "kcalls", "SUM", "n")
    await make_plan(api, "jp", "JP", "4980", [standard("jcalls", "0.5")], currency="JPY")
    await make_plan(api, "kw", "KW", "12.345", [standard("kcalls", "0.0015")], currency="KWD")
    await tax_rate(api, "jct10", "10")
    await tax_rate(api, "kw5", "5")
    await coupon(api, "JP3", "PERCENTAGE", "FOREVER", percentage="3")
    await customer(api, "tokyo", timezone="UTC", currency="JPY", country="JP")
    await customer(api, "kuwait", timezone="UTC", currency="KWD", country="KW")
    await subscribe(api, "tokyo", "jp", "tokyo-sub", startedAt=LAST_MONTH.isoformat())
    await subscribe(api, "kuwait", "kw", "kuwait-sub", startedAt=LAST_MONTH.isoformat())
    await assign_tax(api, "jct10", customer="tokyo")
    await assign_tax(api, "kw5", customer="kuwait")
    await apply_coupon(api, "tokyo", "JP3")
    assert await grant_credits(api, "kuwait", "2.5") == "2.500"
    await ingest(
        api,
        [event("tokyo", "jcalls", before_anchor(h), n=1) for h in (30, 20, 10)]
        + [event("kuwait", "kcalls", before_anchor(15), n=1001)],
    )

    invoices = {i["customer"]["externalId"]: i for i in await run_billing(api, THIS_MONTH)}
    jp, kw = invoices["tokyo"], invoices["kuwait"]
    for inv in (jp, kw):
        check_invariants(inv)
    assert (jp["currency"], kw["currency"]) == ("JPY", "KWD")
    # JPY, 0 decimals: 3 * 0.5 = 1.5 → 2 (billing-semantics "Money and rounding"); subtotal 4980 + 2 = 4982
    # coupon 3 % * 4982 = 149.46 → 149, spread pro rata in yen: 149 * 4980/4982 = 148.94 and 149 * 2/4982 = 0.06
    # → 148 + 0 = 148, the last yen to the largest remainder → 149 and 0
    # tax 10 %: (4980 - 149) * 10 % = 483.1 → 483; 2 * 10 % = 0.2 → 0; total 4982 - 149 + 483 = 5316
    assert sorted(lines_of(jp)) == [
        ("CHARGE", "jcalls", "3", "2", "0", "0"),
        ("SUBSCRIPTION", None, None, "4980", "149", "483"),
    ]
    assert totals(jp) == expected("4982", "483", "5316", discount="149", zero="0")
    # KWD, 3 decimals: 1001 * 0.0015 = 1.5015 → 1.502; subtotal 12.345 + 1.502 = 13.847
    # tax 5 %: 12.345 → 0.61725 → 0.617; 1.502 → 0.0751 → 0.075; tax 0.692; total 14.539
    # wallet 2.500 after tax: due 14.539 - 2.500 = 12.039
    assert sorted(lines_of(kw)) == [
        ("CHARGE", "kcalls", "1001", "1.502", "0.000", "0.075"),
        ("SUBSCRIPTION", None, None, "12.345", "0.000", "0.617"),
    ]
    assert totals(kw) == expected("13.847", "0.692", "14.539", credits="2.500", due="12.039", zero="0.000")
    assert await wallet_balance(api, "kuwait") == "0.000"


# 9. Replayed and concurrent billing runs -----------------------------------------------------------------


async def test_concurrent_and_replayed_runs_make_one_invoice_per_period_numbered_gaplessly(tenant) -> None:
    api = tenant.api
    await make_plan(api, "arrears", "Arrears", "25")
    await make_plan(api, "advance", "Advance", "40", payInAdvance=True)
    await make_plan(api, "weekly", "Weekly", "7", interval="WEEKLY")
    plans = {
        "arr-1": "arrears",
        "arr-2": "arrears",
        "arr-3": "arrears",
        "adv-1": "advance",
        "adv-2": "advance",
        "wk-1": "weekly",
    }
    for cust, plan_code in plans.items():
        await customer(api, cust, timezone="UTC")
        await subscribe(
            api,
            cust,
            plan_code,
            f"{cust}-sub",
            startedAt=TWO_MONTHS_AGO.isoformat(),
            billingTime="ANNIVERSARY" if plan_code == "weekly" else "CALENDAR",
        )

    def weeks_ended(by: datetime) -> int:  # ANNIVERSARY weekly periods from the start, 7 days each
        return (by - TWO_MONTHS_AGO).days // 7

    def billing_dates(plan_code: str, by: datetime) -> int:
        months = months_between(TWO_MONTHS_AGO, by) if by.day == 1 and by.hour == 0 else None
        if plan_code == "arrears":
            return months  # each month end
        if plan_code == "advance":
            return months + 1  # the start, then each month end (which bills the next month in advance)
        return weeks_ended(by)

    created = []
    # six runs at once for last month's end: each billing date is invoiced once, whoever gets there first
    for result in await asyncio.gather(*[api(RUN_IDS, a=LAST_MONTH.isoformat()) for _ in range(6)]):
        assert result["runBilling"]["failures"] == [] and result["runBilling"]["userErrors"] == []
        created += [i["id"] for i in result["runBilling"]["invoices"]]
    counts = {c: len(await invoices_of(api, c)) for c in plans}
    # arrears: 1 (end of the first month); advance: 2 (the start and the first month end); weekly: 4 (28-31 days)
    assert counts == {c: billing_dates(p, LAST_MONTH) for c, p in plans.items()}
    assert counts == {"arr-1": 1, "arr-2": 1, "arr-3": 1, "adv-1": 2, "adv-2": 2, "wk-1": 4}

    # later: replays of the old date mixed with runs for this month's start, and one-off invoices (numbered from
    # the same sequence), all at once
    as_of = [LAST_MONTH, THIS_MONTH] * 3
    one_off = (
        "mutation($c: String!) { createOneOffInvoice(input: {customerExternalId: $c, "
        'lines: [{description: "Setup", amount: "100"}]}) { invoice { id } userErrors { code } } }'
    )
    results = await asyncio.gather(
        *[api(RUN_IDS, a=a.isoformat()) for a in as_of], *[api(one_off, c=c) for c in ("arr-1", "adv-1", "wk-1")]
    )
    for result in results[: len(as_of)]:
        assert result["runBilling"]["failures"] == [] and result["runBilling"]["userErrors"] == []
        created += [i["id"] for i in result["runBilling"]["invoices"]]
    one_offs = [r["createOneOffInvoice"]["invoice"]["id"] for r in results[len(as_of) :]]
    assert await run_billing(api, THIS_MONTH) == []  # and once more: nothing left to bill
    assert await run_billing(api, LAST_MONTH) == []

    # arrears 2, advance 3, weekly 8 (59-62 days since the start: 8 whole weeks)
    expected_counts = {"arr-1": 2, "arr-2": 2, "arr-3": 2, "adv-1": 3, "adv-2": 3, "wk-1": 8}
    assert {c: billing_dates(p, THIS_MONTH) for c, p in plans.items()} == expected_counts
    everything = []
    for cust, plan_code in plans.items():
        invoices = [i for i in await invoices_of(api, cust) if i["kind"] == "SUBSCRIPTION"]
        everything += invoices
        assert len(invoices) == expected_counts[cust], cust
        # never one service period billed twice (each invoice here has one fee line)
        billed = Counter((ln["periodStart"], ln["periodEnd"]) for i in invoices for ln in i["lines"])
        assert len(billed) == len(invoices) and max(billed.values()) == 1, (cust, billed)
        if plan_code != "advance":  # in advance: see test_billing_scenarios_pending.py
            assert len({(i["periodStart"], i["periodEnd"]) for i in invoices}) == len(invoices), cust
        fee = {"arrears": "25.00", "advance": "40.00", "weekly": "7.00"}[plan_code]
        for inv in invoices:
            check_invariants(inv)
            assert totals(inv) == expected(fee, "0.00", fee)  # every period billed in full, once
        in_billing_order = sorted(invoices, key=lambda i: min(ln["periodStart"] for ln in i["lines"]))
        numbers = [int(i["number"].rsplit("-", 1)[1]) for i in in_billing_order]
        assert numbers == sorted(numbers), cust  # numbered in billing-date order

    # every invoice was returned by exactly one run
    assert len(created) == len(set(created)) == len(everything)
    assert set(created) == {i["id"] for i in everything}
    assert len(everything) == sum(expected_counts.values()) == 20
    organization = (await api(INVOICES_ALL))["invoices"]["nodes"]
    assert {i["id"] for i in organization} == set(created) | set(one_offs)
    prefix = (await api("query { organization { invoicePrefix } }"))["organization"]["invoicePrefix"]
    months = {f"{datetime.now(UTC):%Y%m}", f"{datetime.now(UTC) - timedelta(minutes=5):%Y%m}"}  # finalization month
    numbers = sorted(i["number"] for i in organization)
    for number in numbers:
        head, month, seq = number.rsplit("-", 2)
        assert head == prefix and month in months and len(seq) == 4, number
    # gapless and sequential across the organization: 0001 … 0023 (20 billed, 3 one-off)
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 24))
