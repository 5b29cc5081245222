"""Billing scenarios of upgrades, terminations, commitments and in-advance periods (docs 'Proration',
'Invoice'); each was a bug found by these scenarios, and stays as its regression test.

Same style and helpers as test_billing_scenarios.py; expected figures are computed by hand from the spec, the
arithmetic next to them. Weekly ANNIVERSARY plans started 3 days ago put a plan change (which always happens
now) on day 4 of 7 whatever the date: 3 days used, 4 left counting the change day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.graph.billing_scenario_helpers import (
    CHANGE_PLAN,
    LAST_MONTH,
    THIS_MONTH,
    TWO_MONTHS_AGO,
    apply_coupon,
    before_anchor,
    check_invariants,
    coupon,
    credit_note,
    event,
    expected,
    ingest,
    invoice,
    invoices_of,
    make_plan,
    mutate,
    run_billing,
    standard,
    today_utc,
    totals,
)
from tests.graph.catalog_helpers import customer, metric, subscribe


async def _customers(api, *names: str) -> None:
    for name in names:
        await customer(api, name, timezone="UTC")


async def _weekly_in_advance(api, customers: list[str]) -> dict[str, dict]:
    """Starter (10/week) → Growth (20/week) → Enterprise (40/week), all paid in advance; each customer starts
    on Starter 3 days ago and is billed its first week. Returns each customer's first invoice."""
    await make_plan(api, "starter-wk", "Starter", "10", interval="WEEKLY", payInAdvance=True)
    await make_plan(api, "growth-wk", "Growth", "20", interval="WEEKLY", payInAdvance=True)
    await make_plan(api, "enterprise-wk", "Enterprise", "40", interval="WEEKLY", payInAdvance=True)
    start = today_utc() - timedelta(days=3)
    for cust in customers:
        await subscribe(api, cust, "starter-wk", f"{cust}-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY")
    return {i["customer"]["externalId"]: i for i in await run_billing(api, datetime.now(UTC))}


async def test_upgrade_after_a_discounted_in_advance_invoice_credits_what_was_paid(tenant) -> None:
    """docs 'Proration': an upgrade applies at once and "unused time already paid in advance is credited":
    what was paid, after the coupon (was: 4/7 of the undiscounted fee, and with 50 % or 100 % off the credit
    exceeded the invoice and the upgrade was refused with CREDIT_NOTE_TOO_LARGE)."""
    api = tenant.api
    await coupon(api, "HALF", "PERCENTAGE", percentage="50")
    await coupon(api, "FREE-WEEK", "PERCENTAGE", percentage="100")
    await coupon(api, "TEN-FOREVER", "PERCENTAGE", "FOREVER", percentage="10")
    await _customers(api, "half", "free", "forever")
    await apply_coupon(api, "half", "HALF")
    await apply_coupon(api, "free", "FREE-WEEK")
    await apply_coupon(api, "forever", "TEN-FOREVER")
    first = await _weekly_in_advance(api, ["half", "free", "forever"])
    # the first week, 10.00, with 50 % off: 5.00; with 100 % off: 0.00 (PAID at once)
    assert totals(first["half"]) == expected("10.00", "0.00", "5.00", discount="5.00")
    assert totals(first["free"]) == expected("10.00", "0.00", "0.00", discount="10.00", status="PAID")
    assert totals(first["forever"]) == expected("10.00", "0.00", "9.00", discount="1.00")

    for cust in ("forever", "half", "free"):
        changed = (await api(CHANGE_PLAN, s=f"{cust}-sub", p="growth-wk"))["changeSubscriptionPlan"]
        assert changed["userErrors"] == [], (cust, changed)
        assert changed["subscription"]["plan"]["code"] == "growth-wk"

    # what was paid for the unused 4 days: 5.00 * 4/7 = 2.857… → 2.86 (Stripe likewise credits "based on the
    # original amount previously debited", docs.stripe.com/billing/subscriptions/billing-mode/compare);
    # the open invoice's amount due: 5.00 - 2.86 = 2.14
    half = await invoice(api, first["half"]["id"])
    assert [n["amount"] for n in half["creditNotes"]] == ["2.86"]
    assert totals(half) == expected("10.00", "0.00", "5.00", discount="5.00", credit_notes="2.86", due="2.14")
    # nothing was paid for the free week: nothing to credit
    assert (await invoice(api, first["free"]["id"]))["creditNotes"] == []
    # 10 % off: 9.00 * 4/7 = 5.142… → 5.14; due 9.00 - 5.14 = 3.86
    forever = await invoice(api, first["forever"]["id"])
    assert [n["amount"] for n in forever["creditNotes"]] == ["5.14"]
    assert totals(forever) == expected("10.00", "0.00", "9.00", discount="1.00", credit_notes="5.14", due="3.86")
    for cust in ("half", "free"):
        new = [i for i in await invoices_of(api, cust) if i["id"] != first[cust]["id"]]
        # Growth from the change day: 20 * 4/7 = 11.428… → 11.43 (the ONCE coupon is used up)
        assert [totals(i) for i in new] == [expected("11.43", "0.00", "11.43")], cust
        check_invariants(new[0])
    for inv in (half, forever):
        check_invariants(inv)


async def test_upgrade_applies_at_once_even_after_a_credit_note_on_the_in_advance_invoice(tenant) -> None:
    """docs: an upgrade "applies at once", even after an 8.00 goodwill credit note on the 10.00 in-advance
    invoice (was refused with CREDIT_NOTE_TOO_LARGE). The credit is capped at what the invoice can still take;
    this test asks that the upgrade happens and notes never exceed the invoice."""
    api = tenant.api
    await _customers(api, "outage")
    first = await _weekly_in_advance(api, ["outage"])
    await credit_note(api, first["outage"]["id"], "8.00")  # an outage, credited by hand
    changed = (await api(CHANGE_PLAN, s="outage-sub", p="growth-wk"))["changeSubscriptionPlan"]
    assert changed["userErrors"] == [], changed
    assert changed["subscription"]["plan"]["code"] == "growth-wk"
    old = await invoice(api, first["outage"]["id"])
    assert sum(Decimal(n["amount"]) for n in old["creditNotes"]) <= Decimal("10.00")
    new = [i for i in await invoices_of(api, "outage") if i["id"] != old["id"]]
    assert [i["subtotalAmount"] for i in new] == ["11.43"]  # 20 * 4/7 = 11.428… → 11.43
    for inv in [old, *new]:
        check_invariants(inv)


async def test_a_second_upgrade_the_same_day_credits_the_plan_it_replaces(tenant) -> None:
    """Starter → Growth → Enterprise on the same day. docs: the unused part of the fee paid in advance for the
    plan being left is credited: on the invoice that billed Growth (the upgrade's own), not Starter's again."""
    api = tenant.api
    await _customers(api, "twice")
    first = await _weekly_in_advance(api, ["twice"])
    await mutate(api, CHANGE_PLAN, "changeSubscriptionPlan", s="twice-sub", p="growth-wk")
    changed = (await api(CHANGE_PLAN, s="twice-sub", p="enterprise-wk"))["changeSubscriptionPlan"]
    assert changed["userErrors"] == [], changed
    assert changed["subscription"]["plan"]["code"] == "enterprise-wk"

    starter, growth, enterprise = sorted(await invoices_of(api, "twice"), key=lambda i: i["number"])
    assert starter["id"] == first["twice"]["id"]
    # Starter: credited once, 10 * 4/7 = 5.714… → 5.71 (from the first change day on)
    assert [n["amount"] for n in starter["creditNotes"]] == ["5.71"]
    # Growth was billed 20 * 4/7 = 11.43 from the change day; replaced the same day, all of it is unused
    assert totals(growth)["subtotal"] == "11.43"
    assert [n["amount"] for n in growth["creditNotes"]] == ["11.43"]
    # Enterprise from the change day: 40 * 4/7 = 22.857… → 22.86
    assert totals(enterprise)["subtotal"] == "22.86"
    for inv in (starter, growth, enterprise):
        check_invariants(inv)


async def test_in_advance_invoices_do_not_repeat_an_invoice_period(tenant) -> None:
    """docs 'Invoice': one invoice per customer per billing period. A monthly plan paid in advance, started on the
    first of the month two months ago, billed up to the anchor: 3 invoices, each month's fee once (the start,
    then each month end bills the next month), and each invoice's period covers what it bills."""
    api = tenant.api
    await make_plan(api, "advance", "Advance", "40", payInAdvance=True)
    await customer(api, "adv", timezone="UTC")
    await subscribe(api, "adv", "advance", "adv-sub", startedAt=TWO_MONTHS_AGO.isoformat())
    await run_billing(api, THIS_MONTH)
    invoices = await invoices_of(api, "adv")
    assert [totals(i) for i in invoices] == [expected("40.00", "0.00", "40.00")] * 3
    for inv in invoices:
        check_invariants(inv)
        for line in inv["lines"]:  # an invoice's period covers what it bills
            assert inv["periodStart"] <= line["periodStart"] and line["periodEnd"] <= inv["periodEnd"], (
                inv["number"],
                (inv["periodStart"], inv["periodEnd"]),
                (line["periodStart"], line["periodEnd"]),
            )
    assert len({(i["periodStart"], i["periodEnd"]) for i in invoices}) == 3


async def test_termination_credits_the_unused_days_of_a_fee_paid_in_advance(tenant) -> None:
    """docs 'Proration': "Termination bills to the termination day." A weekly 14.00 plan paid in advance,
    terminated on day 4 of 7: billed through the termination day (4 days), the 3 days after it were paid and
    not used: credit 14 * 3/7 = 6.00."""
    api = tenant.api
    await make_plan(api, "weekly-adv", "Weekly", "14", interval="WEEKLY", payInAdvance=True)
    await customer(api, "leaver", timezone="UTC")
    start = today_utc() - timedelta(days=3)
    await subscribe(api, "leaver", "weekly-adv", "leaver-sub", startedAt=start.isoformat(), billingTime="ANNIVERSARY")
    (first,) = await run_billing(api, datetime.now(UTC))
    assert totals(first) == expected("14.00", "0.00", "14.00")
    await mutate(
        api,
        'mutation { terminateSubscription(input: {externalId: "leaver-sub"}) { subscription { status } '
        "userErrors { field code message } } }",
        "terminateSubscription",
    )
    await run_billing(api, datetime.now(UTC))
    first = await invoice(api, first["id"])
    assert [n["amount"] for n in first["creditNotes"]] == ["6.00"]
    # the open invoice: 14.00 - 6.00 = 8.00 due (= 14 * 4/7)
    assert totals(first) == expected("14.00", "0.00", "14.00", credit_notes="6.00", due="8.00")
    check_invariants(first)


async def test_minimum_commitment_counts_the_fee_paid_in_advance(tenant) -> None:
    """docs: a minimum commitment is "a true-up fee when fees fall short". Lago's example (getlago/lago-api#1787:
    "$50 + 3 * $10 = $80 + $20 (true-up fee) = $100"), with the $50 fee paid in advance: the period's fees are
    still 50 + 30 = 80, so the true-up is 20.00 (Lago: the commitment "applies to the total spending in the
    billing period including the subscription fee", getlago.com/docs/guide/plans/commitment), not 100 - 30 = 70
    as when the fee billed in advance on the previous invoice was left out."""
    api = tenant.api
    await metric(api, "units", "COUNT")
    await make_plan(
        api, "committed-adv", "Committed", "50", [standard("units", "10")], minimumCommitment="100", payInAdvance=True
    )
    await customer(api, "adv", timezone="UTC")
    await subscribe(api, "adv", "committed-adv", "adv-sub", startedAt=LAST_MONTH.isoformat())
    await ingest(api, [event("adv", "units", before_anchor(h)) for h in (30, 20, 10)])
    await run_billing(api, THIS_MONTH)
    advance, period_end = await invoices_of(api, "adv")
    assert totals(advance) == expected("50.00", "0.00", "50.00")  # last month's fee, in advance
    # last month's usage 3 * 10 = 30.00, its true-up 100 - (50 + 30) = 20.00, and this month's fee in advance 50.00
    assert sorted((line["kind"], line["amount"]) for line in period_end["lines"]) == [
        ("CHARGE", "30.00"),
        ("SUBSCRIPTION", "50.00"),
        ("TRUE_UP", "20.00"),
    ]
    assert totals(period_end) == expected("100.00", "0.00", "100.00")
    for inv in (advance, period_end):
        check_invariants(inv)


# --- an upgrade that changes the interval (a test clock: time has to pass) -------------------------


async def _upgraded_on_day_4(test_tenant, old: tuple[str, str], new: tuple[str, str]) -> list[dict]:
    """A customer on `old` (interval, amount) paid in advance from Thursday Dec 1, 2022 (ANNIVERSARY), 3 usage
    units on Dec 2; upgraded on Dec 4 at 10:00 to `new` paid in advance, 5 units on Dec 10; billed to Feb 2."""
    from tests.graph.test_test_clocks import advance, create_clock  # the test clock helpers

    api = test_tenant.api
    december = datetime(2022, 12, 1, tzinfo=UTC)
    clock = await create_clock(api, december)
    await metric(api, "seats", "COUNT")
    await make_plan(api, "old", "Old", old[1], [standard("seats", "1")], interval=old[0], payInAdvance=True)
    await make_plan(api, "new", "New", new[1], [standard("seats", "1")], interval=new[0], payInAdvance=True)
    await customer(api, "mover", timezone="UTC", testClockId=clock["id"])
    await subscribe(api, "mover", "old", "mover-sub", startedAt=december.isoformat(), billingTime="ANNIVERSARY")
    await advance(api, clock, december + timedelta(days=1, hours=12))
    await ingest(api, [event("mover", "seats") for _ in range(3)])
    await advance(api, clock, december + timedelta(days=3, hours=10))
    await mutate(api, CHANGE_PLAN, "changeSubscriptionPlan", s="mover-sub", p="new")
    await advance(api, clock, december + timedelta(days=9, hours=12))
    await ingest(api, [event("mover", "seats") for _ in range(5)])
    await advance(api, clock, datetime(2023, 2, 2, tzinfo=UTC))
    return await invoices_of(api, "mover")


def _lines(invoices: list[dict]) -> list[tuple[str, str, str, str]]:
    return [
        (line["description"], line["amount"], line["periodStart"][:10], line["periodEnd"][:10])
        for inv in invoices
        for line in inv["lines"]
    ]


async def test_an_upgrade_from_weekly_to_monthly_bills_the_rest_of_the_new_plans_month_once(test_tenant) -> None:
    """Lago: the upgraded subscription starts at the change, and a plan paid in advance is billed at once for the
    rest of its own current period. Weekly 10.00 -> monthly 99.00 on Dec 4: the month Dec 1 - Jan 1 from the 4th,
    99 * 28/31 = 89.42 (was: only to the end of the old week, "Scale (4/30 days)", and then the whole rest of the
    month again at the week's end: Dec 4 - 8 billed twice). The week's 4 unused days are credited
    (10 * 4/7 = 5.71); its usage (3 units) billed once, at the change; the new plan's (5 units) at its month end."""
    invoices = await _upgraded_on_day_4(test_tenant, ("WEEKLY", "10"), ("MONTHLY", "99"))
    assert sorted(_lines(invoices), key=lambda line: (line[2], line[3], line[0])) == [
        ("Seats", "3.00", "2022-12-01", "2022-12-04"),
        ("Old", "10.00", "2022-12-01", "2022-12-08"),
        ("New (28/31 days)", "89.42", "2022-12-04", "2023-01-01"),
        ("Seats", "5.00", "2022-12-04", "2023-01-01"),
        ("New", "99.00", "2023-01-01", "2023-02-01"),
        ("Seats", "0.00", "2023-01-01", "2023-02-01"),
        ("New", "99.00", "2023-02-01", "2023-03-01"),
    ]
    assert [n["amount"] for i in invoices for n in i["creditNotes"]] == ["5.71"]
    for inv in invoices:
        check_invariants(inv)


async def test_an_upgrade_from_monthly_to_weekly_bills_every_week_from_the_change(test_tenant) -> None:
    """Monthly 10.00 -> weekly 5.00 (260 a year: an upgrade) on Dec 4: the week Dec 1 - 8 from the 4th,
    5 * 4/7 = 2.86, then every week in advance (was: nothing more until the month's end, the weeks between
    never billed). The month's 28 unused days (the change day included) are credited: 10 * 28/31 = 9.03."""
    invoices = await _upgraded_on_day_4(test_tenant, ("MONTHLY", "10"), ("WEEKLY", "5"))
    lines = _lines(invoices)
    assert ("New (4/7 days)", "2.86", "2022-12-04", "2022-12-08") in lines
    weekly = sorted(line[2] for line in lines if line[0] == "New")
    assert weekly == [(datetime(2022, 12, 8) + timedelta(weeks=k)).date().isoformat() for k in range(9)]
    assert [n["amount"] for i in invoices for n in i["creditNotes"]] == ["9.03"]
    for inv in invoices:
        check_invariants(inv)
