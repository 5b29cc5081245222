"""Subscriptions: statuses, trials, periods, overrides, plan changes, cancel and terminate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.graph.catalog_helpers import (
    CREATE_SUBSCRIPTION,
    USAGE,
    customer,
    metric,
    plan,
    send,
    subscribe,
    uid,
)

STATE = """query($id: String!) { subscription(externalId: $id) { status plan { code } nextPlan { code } downgradeAt
  endingAt terminatedAt cancelAtPeriodEnd currentPeriodStart currentPeriodEnd } }"""
CHANGE = """mutation($id: String!, $plan: String!) { changeSubscriptionPlan(input: {externalId: $id, planCode: $plan}) {
  subscription { status plan { code } nextPlan { code } downgradeAt } userErrors { field code message } } }"""


async def test_new_subscription_is_active_and_fixes_the_customer_currency(tenant) -> None:
    await plan(tenant.api, "eu-pro", [], amount="99", currency="EUR")
    await customer(tenant.api, "c-eur", timezone="Europe/Paris")
    sub = await subscribe(tenant.api, "c-eur", "eu-pro", "s-eur")
    assert sub["status"] == "ACTIVE" and sub["billingTime"] == "CALENDAR"
    assert sub["customer"]["currency"] == "EUR"
    # calendar month in the customer's timezone: it starts on the start day (prorated first period)
    start = datetime.fromisoformat(sub["currentPeriodStart"])
    end = datetime.fromisoformat(sub["currentPeriodEnd"])
    assert start <= datetime.now(UTC) < end
    local_end = end.astimezone(ZoneInfo("Europe/Paris"))
    assert (local_end.day, local_end.hour, local_end.minute) == (1, 0, 0)


async def test_currency_mismatch_is_refused(tenant) -> None:
    await plan(tenant.api, "usd-plan", [], currency="USD")
    await customer(tenant.api, "c-gbp", currency="GBP")
    data = await tenant.api(CREATE_SUBSCRIPTION, input={"customerExternalId": "c-gbp", "planCode": "usd-plan"})
    assert data["createSubscription"]["userErrors"] == [{
        "field": ["input", "planCode"], "code": "CURRENCY_MISMATCH",
        "message": "the plan is priced in USD but the customer pays in GBP"}]


async def test_future_start_is_pending_and_trial_is_trialing(tenant) -> None:
    await plan(tenant.api, "trial-plan", [], amount="10", trialPeriodDays=14)
    await customer(tenant.api, "c-trial")
    trialing = await subscribe(tenant.api, "c-trial", "trial-plan", "s-trial")
    assert trialing["status"] == "TRIALING" and trialing["trialEndsAt"] is not None
    later = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    pending = await subscribe(tenant.api, "c-trial", "trial-plan", "s-later", startedAt=later)
    assert pending["status"] == "PENDING"
    ended = await tenant.api('mutation { terminateSubscription(input: {externalId: "s-later"}) '
                             "{ subscription { status } userErrors { code } } }")
    assert ended["terminateSubscription"]["subscription"]["status"] == "CANCELED"


async def test_upgrade_applies_now_and_downgrade_at_period_end(tenant) -> None:
    await plan(tenant.api, "basic", [], amount="10")
    await plan(tenant.api, "premium", [], amount="50")
    await plan(tenant.api, "yearly-cheap", [], amount="100", interval="YEARLY")
    await customer(tenant.api, "c-move")
    await subscribe(tenant.api, "c-move", "basic", "s-move")
    up = (await tenant.api(CHANGE, id="s-move", plan="premium"))["changeSubscriptionPlan"]
    assert up["userErrors"] == [] and up["subscription"]["plan"]["code"] == "premium"
    assert up["subscription"]["nextPlan"] is None
    # 100 a year is less than 50 a month: a downgrade, scheduled at the end of the current period
    down = (await tenant.api(CHANGE, id="s-move", plan="yearly-cheap"))["changeSubscriptionPlan"]
    assert down["userErrors"] == []
    assert down["subscription"]["plan"]["code"] == "premium"
    assert down["subscription"]["nextPlan"]["code"] == "yearly-cheap"
    state = (await tenant.api(STATE, id="s-move"))["subscription"]
    assert state["downgradeAt"] == state["currentPeriodEnd"]
    same = (await tenant.api(CHANGE, id="s-move", plan="premium"))["changeSubscriptionPlan"]
    assert same["userErrors"] == [] and same["subscription"]["nextPlan"] is None  # back: the downgrade is dropped
    again = (await tenant.api(CHANGE, id="s-move", plan="premium"))["changeSubscriptionPlan"]
    assert again["userErrors"][0]["code"] == "SAME_PLAN"


async def test_a_plan_change_refuses_a_trial_and_keeps_the_subscriptions(tenant) -> None:
    await plan(tenant.api, "trial-basic", [], amount="10", trialPeriodDays=14)
    await plan(tenant.api, "trial-premium", [], amount="50")
    await customer(tenant.api, "c-trial-move")
    await subscribe(tenant.api, "c-trial-move", "trial-basic", "s-trial-move")
    trial_ends = (await tenant.api(STATE, id="s-trial-move"))["subscription"]
    change = {"externalId": "s-trial-move", "planCode": "trial-premium", "planOverrides": {"trialPeriodDays": 7}}
    for root in ("previewSubscriptionPlanChange", "changeSubscriptionPlan"):
        answer = (await tenant.api(f"mutation($input: ChangeSubscriptionPlanInput!) {{ {root}(input: $input) "
                                   "{ userErrors { field code message } } }" if root == "changeSubscriptionPlan" else
                                   f"query($input: ChangeSubscriptionPlanInput!) {{ {root}(input: $input) "
                                   "{ userErrors { field code message } } }", input=change))[root]
        assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [
            (["input", "planOverrides", "trialPeriodDays"], "TRIAL_NOT_CHANGEABLE")
        ], answer
    assert (await tenant.api(STATE, id="s-trial-move"))["subscription"] == trial_ends  # nothing changed


async def test_cancel_ends_at_period_end_and_terminate_ends_now(tenant) -> None:
    await plan(tenant.api, "monthly", [], amount="10")
    await customer(tenant.api, "c-end")
    await subscribe(tenant.api, "c-end", "monthly", "s-cancel")
    await subscribe(tenant.api, "c-end", "monthly", "s-term")
    canceled = await tenant.api('mutation { cancelSubscription(input: {externalId: "s-cancel"}) '
                                "{ subscription { status cancelAtPeriodEnd endingAt currentPeriodEnd } } }")
    sub = canceled["cancelSubscription"]["subscription"]
    assert sub["status"] == "ACTIVE" and sub["cancelAtPeriodEnd"] and sub["endingAt"] == sub["currentPeriodEnd"]
    terminated = await tenant.api('mutation { terminateSubscription(input: {externalId: "s-term"}) '
                                  "{ subscription { status terminatedAt } } }")
    assert terminated["terminateSubscription"]["subscription"]["status"] == "TERMINATED"
    again = await tenant.api('mutation { terminateSubscription(input: {externalId: "s-term"}) '
                             "{ subscription { status } userErrors { code } } }")
    assert again["terminateSubscription"]["userErrors"][0]["code"] == "SUBSCRIPTION_ENDED"
    gone = await tenant.api('mutation { deleteCustomer(input: {externalId: "c-end"}) { userErrors { code } } }')
    assert gone["deleteCustomer"]["userErrors"][0]["code"] == "CUSTOMER_HAS_LIVE_SUBSCRIPTIONS"


async def test_enterprise_overrides_price_this_customer_only(tenant) -> None:
    m = uid("calls")
    await metric(tenant.api, m, "COUNT")
    await plan(tenant.api, "list-price", [{"billableMetricCode": m, "model": "STANDARD",
                                           "properties": {"amount": "1"}}], amount="100")
    await customer(tenant.api, "c-list")
    await customer(tenant.api, "c-deal")
    await subscribe(tenant.api, "c-list", "list-price", "s-list")
    deal = await subscribe(tenant.api, "c-deal", "list-price", "s-deal", planOverrides={
        "amount": "80", "charges": [{"billableMetricCode": m, "properties": {"amount": "0.25"}}]})
    assert deal["planOverrides"] == {"amount": "80", "charges": {m: {"amount": "0.25"}}}
    for who in ("c-list", "c-deal"):
        await send(tenant.api, who, m, [None] * 4)
    assert (await tenant.api(USAGE, c="c-list"))["customerUsage"]["amount"] == "4.00"
    assert (await tenant.api(USAGE, c="c-deal"))["customerUsage"]["amount"] == "1.00"


async def test_recurring_metric_carries_its_value(tenant) -> None:
    m = uid("seats")
    await metric(tenant.api, m, "SUM", "seats", recurring=True)
    await plan(tenant.api, "per-seat", [{"billableMetricCode": m, "model": "STANDARD",
                                         "properties": {"amount": "10"}}])
    await customer(tenant.api, "c-seats")
    started = (datetime.now(UTC) - timedelta(days=70)).isoformat()
    await subscribe(tenant.api, "c-seats", "per-seat", "s-seats", startedAt=started, billingTime="ANNIVERSARY")
    old = (datetime.now(UTC) - timedelta(days=34)).isoformat()
    data = await tenant.api("""mutation($e: [UsageEventInput!]!) { ingestUsage(input: {events: $e}) { accepted } }""",
                            e=[{"transactionId": uid("t"), "customerExternalId": "c-seats", "metricCode": m,
                                "timestamp": old, "properties": {"seats": 5}}])
    assert data["ingestUsage"]["accepted"] == 1
    await send(tenant.api, "c-seats", m, [2], field="seats")
    usage = (await tenant.api(USAGE, c="c-seats"))["customerUsage"]
    assert usage["charges"][0]["units"] == "7"  # 5 carried from an earlier period + 2 this period
    assert usage["amount"] == "70.00"


async def test_customer_usage_errors_are_explained(tenant) -> None:
    from tests.client import TransportQueryError

    await customer(tenant.api, "c-none")
    for c, code in [("c-missing", "CUSTOMER_NOT_FOUND"), ("c-none", "NO_ACTIVE_SUBSCRIPTION")]:
        try:
            await tenant.api(USAGE, c=c)
        except TransportQueryError as exc:
            assert exc.errors[0]["extensions"]["code"] == code
        else:
            raise AssertionError("expected an error")
