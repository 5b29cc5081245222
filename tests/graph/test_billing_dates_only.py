"""A test clock's advance asks at every moment when billing next falls due, with `_due(None, …)`: the dates only,
nothing priced. They must be exactly the dates (periods and advances) that billing itself computes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from db.repositories.customers import CustomerRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from services.billing.due import _due
from services.usage.rating import BatchedRating
from tests.graph.billing_scenario_helpers import CHANGE_PLAN, make_plan, mutate, run_billing, standard
from tests.graph.catalog_helpers import customer, metric, subscribe, uid

TERMINATE = """mutation($id: String!) { terminateSubscription(input: {externalId: $id}) {
  subscription { status } userErrors { code } } }"""


async def test_the_dates_only_are_the_dates_billing_computes(tenant, operator_db) -> None:
    api = tenant.api
    calls = uid("calls")
    await metric(api, calls)
    plans = {
        "monthly": await make_plan(api, uid("m"), "Monthly", "30", [standard(calls, "0.01")]),
        "advance": await make_plan(api, uid("a"), "In advance", "12", payInAdvance=True),
        "weekly": await make_plan(api, uid("w"), "Weekly", "5", interval="WEEKLY"),
        "yearly": await make_plan(api, uid("y"), "Yearly", "1200", interval="YEARLY", payInAdvance=True),
        "trial": await make_plan(api, uid("t"), "Trial", "80", trialPeriodDays=14, minimumCommitment="100"),
        "quarter": await make_plan(api, uid("q"), "Quarterly", "90", interval="QUARTERLY"),
    }
    now = datetime.now(UTC).replace(microsecond=0)
    started = {
        "monthly": (now - timedelta(days=75), "ANNIVERSARY"),
        "advance": (now - timedelta(days=40), "CALENDAR"),
        "weekly": (now - timedelta(days=23), "CALENDAR"),
        "yearly": (now - timedelta(days=400), "ANNIVERSARY"),
        "trial": (now - timedelta(days=20), "CALENDAR"),
        "quarter": (now - timedelta(days=200), "CALENDAR"),
    }
    names = {}
    for kind, (at, billing_time) in started.items():
        names[kind] = uid(kind)
        await customer(api, names[kind])
        await subscribe(
            api,
            names[kind],
            plans[kind]["code"],
            f"s-{names[kind]}",
            startedAt=at.isoformat(),
            billingTime=billing_time,
        )
    await run_billing(api, now - timedelta(days=30))  # part billed: dates start from where billing stands
    await mutate(api, CHANGE_PLAN, "changeSubscriptionPlan", s=f"s-{names['monthly']}", p=plans["advance"]["code"])
    assert (await api(TERMINATE, id=f"s-{names['weekly']}"))["terminateSubscription"]["userErrors"] == []

    organization_id = uuid.UUID(tenant.organization_id)
    async with operator_db.read() as session:
        org = await OrganizationRepository(session).existing(organization_id)
        customers = {
            c.id: c for c in (await CustomerRepository(session, org.id).by_external_ids(names.values())).values()
        }
        ids = list(customers)
        subscriptions = await SubscriptionRepository(session, org.id).of_customers(ids)
        compared = 0
        for as_of in (now - timedelta(days=10), now, now + timedelta(days=45), now + timedelta(days=400)):
            for customer_id, found in customers.items():
                subs = subscriptions.get(customer_id, [])
                priced = await _due(BatchedRating(session, org.id), org, found, subs, as_of)
                dates = await _due(None, org, found, subs, as_of)
                assert sorted(dates) == sorted(priced)
                for moment, bill in dates.items():
                    assert (bill.periods, bill.advanced) == (priced[moment].periods, priced[moment].advanced)
                    assert bill.lines == []
                compared += len(dates)
    assert compared > 20
