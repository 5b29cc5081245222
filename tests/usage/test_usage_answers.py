"""`customerUsage` is answered from a kept answer only while that answer is exactly what computing it would give.

Every change it follows from makes the next answer fresh: a new event, a late event for an earlier hour, a
change of the plan, its charges or the metric, of the customer or its subscriptions, and the period (or
another subscription) beginning. Through the API (two API processes: an answer kept by one is read by the
other) and, where time must move, through the use case with the moment given.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.usage import cache, rating
from tests.client import TransportQueryError
from tests.db import execute, scalar
from tests.graph.catalog_helpers import INGEST, USAGE, customer, metric, plan, subscribe, uid

UPDATE_PLAN = """mutation($input: UpdatePlanInput!) { updatePlan(input: $input) { userErrors { code message } } }"""
UPDATE_METRIC = """mutation($input: UpdateBillableMetricInput!) { updateBillableMetric(input: $input) {
  userErrors { code message } } }"""
TERMINATE = """mutation($input: EndSubscriptionInput!) { terminateSubscription(input: $input) {
  userErrors { code message } } }"""
NAMED_USAGE = """query($c: String!) { customerUsage(customerExternalId: $c) { amount
  charges { billableMetricName units amount filters { values units amount } } } }"""


async def _setup(api, started: datetime | None = None) -> tuple[str, str]:
    m = uid("kept")
    await metric(api, m, "SUM", "value", filters=[{"key": "region", "values": ["eu", "us"]}])
    await plan(api, "p-" + m, [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}])
    c = "c-" + m
    await customer(api, c)
    started = started or datetime.now(UTC) - timedelta(days=3)
    await subscribe(api, c, "p-" + m, "s-" + m, startedAt=started.isoformat(), billingTime="ANNIVERSARY")
    return m, c


async def _send(api, m: str, c: str, value: str, at: datetime | None = None, region: str = "eu") -> None:
    event = {"transactionId": uid("kept-tx"), "customerExternalId": c, "metricCode": m,
             "properties": {"value": value, "region": region}}
    if at is not None:
        event["timestamp"] = at.isoformat()
    result = (await api(INGEST, input={"events": [event]}))["ingestUsage"]
    assert result["accepted"] == 1, result


async def _units(api, c: str) -> Decimal:
    return Decimal((await api(USAGE, c=c))["customerUsage"]["charges"][0]["units"])


async def _kept(stack, org: str, c: str) -> int:
    return await scalar(stack.database_url, "SELECT count(*) FROM usage_answers a JOIN usage_versions v USING "
                        "(organization_id, customer_external_id) WHERE a.organization_id = $1::uuid "
                        "AND a.customer_external_id = $2 AND a.usage_version = v.version", org, c)


async def test_an_answer_is_kept_and_every_new_event_makes_the_next_one_fresh(stack, tenant) -> None:
    api = tenant.api
    m, c = await _setup(api)
    await _send(api, m, c, "2")
    first = await api(USAGE, c=c)
    assert await _kept(stack, tenant.organization_id, c) == 1  # kept under the customer's current version
    for _ in range(4):  # whichever process answers, the same answer as computed
        assert await api(USAGE, c=c) == first
    await _send(api, m, c, "3")
    assert await _units(api, c) == 5
    assert await _units(api, c) == 5
    # A late event for an hour long past (rolled up already) counts as soon as it is stored.
    await _send(api, m, c, "4", at=datetime.now(UTC) - timedelta(days=2, hours=5))
    assert await _units(api, c) == 9
    await _send(api, m, c, "0.5", at=datetime.now(UTC) - timedelta(minutes=1), region="us")
    assert await _units(api, c) == Decimal("9.5")


async def test_changes_of_plan_charges_and_metric_make_the_next_answer_fresh(stack, tenant) -> None:
    api = tenant.api
    m, c = await _setup(api)
    await _send(api, m, c, "2", region="eu")
    await _send(api, m, c, "3", region="us")
    before = (await api(NAMED_USAGE, c=c))["customerUsage"]
    assert before["amount"] == "5.00" and before["charges"][0]["filters"] == []
    assert (await api(NAMED_USAGE, c=c))["customerUsage"] == before

    charge = {"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "2"}}
    assert (await api(UPDATE_PLAN, input={"code": "p-" + m, "charges": [charge]}))["updatePlan"]["userErrors"] == []
    assert (await api(NAMED_USAGE, c=c))["customerUsage"]["amount"] == "10.00"

    filtered = {**charge, "filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "10"}}]}
    assert (await api(UPDATE_PLAN, input={"code": "p-" + m, "charges": [filtered]}))["updatePlan"]["userErrors"] == []
    after = (await api(NAMED_USAGE, c=c))["customerUsage"]
    assert after["amount"] == "26.00"  # 2 x 10 for eu, 3 x 2 for the rest
    assert [f["units"] for f in after["charges"][0]["filters"]] == ["2", "3"]

    renamed = (await api(UPDATE_METRIC, input={"code": m, "name": "Renamed units"}))["updateBillableMetric"]
    assert renamed["userErrors"] == []
    assert (await api(NAMED_USAGE, c=c))["customerUsage"]["charges"][0]["billableMetricName"] == "Renamed units"


async def test_a_subscription_ended_is_no_longer_answered_from_what_was_kept(stack, tenant) -> None:
    api = tenant.api
    m, c = await _setup(api)
    await _send(api, m, c, "2")
    assert await _units(api, c) == 2
    assert (await api(TERMINATE, input={"externalId": "s-" + m}))["terminateSubscription"]["userErrors"] == []
    with pytest.raises(TransportQueryError) as raised:
        await api(USAGE, c=c)
    assert raised.value.errors[0]["extensions"]["code"] == "NO_ACTIVE_SUBSCRIPTION"


async def _at(operator_db, org: str, c: str, at: datetime) -> rating.UsageReport:
    async with operator_db.read() as session:
        return await cache.current_usage(session, uuid.UUID(org), c, None, at)


async def test_the_next_period_is_computed_fresh_and_the_kept_one_not_served_in_it(stack, tenant, operator_db) -> None:
    m, c = await _setup(tenant.api)
    await _send(tenant.api, m, c, "7")
    now = datetime.now(UTC)
    current = await _at(operator_db, tenant.organization_id, c, now)
    assert current.charges[0].units == 7
    assert await _kept(stack, tenant.organization_id, c) == 1
    later = current.to_datetime + timedelta(minutes=1)  # the period rolled over
    following = await _at(operator_db, tenant.organization_id, c, later)
    assert following.from_datetime == current.to_datetime and following.charges[0].units == 0
    again = await _at(operator_db, tenant.organization_id, c, now + timedelta(seconds=1))
    assert again.from_datetime == current.from_datetime and again.charges[0].units == 7
    # A kept answer read back is the computed one, field for field.
    assert (await _at(operator_db, tenant.organization_id, c, now + timedelta(seconds=2))).charges == current.charges


async def test_a_second_subscription_starting_later_ends_what_the_first_answer_holds_for(stack, tenant,
                                                                                        operator_db) -> None:
    m, c = await _setup(tenant.api)
    start = datetime.now(UTC) + timedelta(hours=2)
    await subscribe(tenant.api, c, "p-" + m, "s2-" + m, startedAt=start.isoformat(), billingTime="ANNIVERSARY")
    now = datetime.now(UTC)
    assert (await _at(operator_db, tenant.organization_id, c, now)).subscription.external_id == "s-" + m
    valid_until = await scalar(stack.database_url, "SELECT valid_until FROM usage_answers WHERE organization_id = "
                               "$1::uuid AND customer_external_id = $2", tenant.organization_id, c)
    assert valid_until == start.replace(microsecond=start.microsecond)
    with pytest.raises(rating.UsageUnavailable) as raised:
        await _at(operator_db, tenant.organization_id, c, start + timedelta(seconds=1))
    assert raised.value.code == "SUBSCRIPTION_REQUIRED"


async def test_an_answer_kept_by_other_code_is_computed_again(stack, tenant) -> None:
    """As after a release that changed rating: the kept answer names other code, so it is not read back."""
    api = tenant.api
    m, c = await _setup(api)
    await _send(api, m, c, "2")
    first = await api(USAGE, c=c)
    await execute(stack.database_url, "UPDATE usage_answers SET answer = '\\x0000000000000000'::bytea || "
                  "substr(answer, 9) WHERE organization_id = $1::uuid AND customer_external_id = $2",
                  tenant.organization_id, c)
    assert await api(USAGE, c=c) == first
    kept = await scalar(stack.database_url, "SELECT substr(answer, 1, 8) FROM usage_answers "
                        "WHERE organization_id = $1::uuid AND customer_external_id = $2", tenant.organization_id, c)
    assert kept == cache.CODE_VERSION  # computed again, and kept by this code


async def test_changes_of_the_customer_and_its_subscriptions_bump_its_version(stack, tenant) -> None:
    api = tenant.api
    m, c = await _setup(api)

    async def version() -> int:
        return await scalar(stack.database_url, "SELECT coalesce(max(version), 0) FROM usage_versions "
                            "WHERE organization_id = $1::uuid AND customer_external_id = $2",
                            tenant.organization_id, c) or 0

    created = await version()
    assert created > 0  # the customer, its subscription and phase were written
    update = """mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { userErrors { code } } }"""
    updated = await api(update, input={"externalId": c, "timezone": "Europe/Paris"})
    assert updated["updateCustomer"]["userErrors"] == []
    assert await version() > created
    changed = await version()
    assert (await api(TERMINATE, input={"externalId": "s-" + m}))["terminateSubscription"]["userErrors"] == []
    assert await version() > changed
