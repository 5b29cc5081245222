"""Test organizations and test clocks through GraphQL: a clock's customers live on its time, and an advance runs
everything that falls due in between, in order, as real time would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from db.session import Database
from integrations.secrets import SecretBox
from integrations.webhooks import WebhookSender
from services.webhooks import WebhookConfig, deliver_due
from tests.client import TransportQueryError
from tests.db import execute, scalar
from tests.fakes.receiver import WebhookReceiver
from tests.graph.billing_scenario_helpers import INGEST, invoices_of, make_plan, mutate, standard
from tests.graph.catalog_helpers import customer, metric, subscribe, uid
from tests.graph.test_access_matrix import CREATE_KEY
from tests.graph.test_webhooks import deliveries, endpoint, signature_matches

START = datetime(2025, 1, 1, tzinfo=UTC)  # a clock's time is its own: no date tied to today

CREATE = """mutation($i: CreateTestClockInput!) { createTestClock(input: $i) {
  testClock { id name frozenTime status } userErrors { field code message } } }"""
ADVANCE = """mutation($i: AdvanceTestClockInput!) { advanceTestClock(input: $i) {
  testClock { id name frozenTime status } userErrors { field code message } } }"""
DELETE = """mutation($i: DeleteTestClockInput!) { deleteTestClock(input: $i) {
  testClock { id } userErrors { field code message } } }"""


async def create_clock(api, at: datetime = START, name: str = "year one") -> dict:
    data = await mutate(api, CREATE, "createTestClock", i={"name": name, "frozenTime": at.isoformat()})
    return data["testClock"]


async def advance(api, clock: dict, to: datetime) -> dict:
    data = await mutate(api, ADVANCE, "advanceTestClock", i={"testClockId": clock["id"], "frozenTime": to.isoformat()})
    return data["testClock"]


def month(n: int) -> datetime:
    years, m = divmod(n, 12)
    return START.replace(year=START.year + years, month=m + 1)


async def test_organization_mode_is_shown(tenant, test_tenant):
    query = "{ viewer { organization { mode } } }"
    assert (await tenant.api(query))["viewer"]["organization"]["mode"] == "LIVE"
    assert (await test_tenant.api(query))["viewer"]["organization"]["mode"] == "TEST"


async def test_a_monthly_plan_advanced_over_a_year_gives_twelve_invoices_in_order(test_tenant, stack):
    api = test_tenant.api
    clock = await create_clock(api)
    assert clock["status"] == "READY" and clock["frozenTime"].startswith("2025-01-01T00:00:00")
    plan = uid("monthly")
    await make_plan(api, plan, "Monthly", "49.00")
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    shown = await api("query($c: String!) { customer(externalId: $c) { testClockId } }", c=who)
    assert shown["customer"]["testClockId"] == clock["id"]
    sub = await subscribe(api, who, plan, uid("sub"))  # starts at the clock's time, not today
    assert sub["currentPeriodStart"].startswith("2025-01-01")

    moved = await advance(api, clock, month(12))
    assert moved["status"] == "READY" and moved["frozenTime"].startswith("2026-01-01T00:00:00")
    invoices = await invoices_of(api, who)
    assert [(i["periodStart"][:10], i["periodEnd"][:10]) for i in invoices] == [
        (month(n).date().isoformat(), month(n + 1).date().isoformat()) for n in range(12)
    ]
    assert all(i["status"] == "OPEN" and i["totalAmount"] == "49.00" for i in invoices)
    numbers = [int(i["number"].rsplit("-", 1)[1]) for i in invoices]
    assert numbers == sorted(numbers)  # numbered in billing order
    issued = [i["issuedAt"] for i in invoices]
    assert issued == sorted(issued) and issued[0].startswith("2025-02-01")  # issued at the clock's moments

    # Again, to the same time or a moment later: nothing new.
    same = await api(ADVANCE, i={"testClockId": clock["id"], "frozenTime": month(12).isoformat()})
    assert same["advanceTestClock"]["userErrors"][0]["code"] == "TEST_CLOCK_NOT_FORWARD"
    await advance(api, clock, month(12) + timedelta(hours=1))
    assert len(await invoices_of(api, who)) == 12

    # An interrupted advance (the clock left ADVANCING with its target) resumes when asked again, idempotently.
    await execute(
        stack.database_url,
        "UPDATE test_clocks SET status = 'ADVANCING', advancing_to = $2, frozen_time = $3 WHERE id = $1::uuid",
        clock["id"],
        month(13),
        month(12) + timedelta(days=20),
    )
    resumed = await advance(api, clock, month(13))
    assert resumed["status"] == "READY"
    invoices = await invoices_of(api, who)
    assert len(invoices) == 13 and invoices[-1]["periodEnd"].startswith("2026-02-01")


async def test_real_time_billing_leaves_clock_customers_alone(test_tenant):
    api = test_tenant.api
    clock = await create_clock(api)
    plan = uid("monthly")
    await make_plan(api, plan, "Monthly", "10.00")
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"))
    # A billing run at real time (a year or more after the clock's time) bills nobody on the clock.
    run = await api("mutation { runBilling(input: {}) { invoices { id } userErrors { code } } }")
    assert run["runBilling"]["invoices"] == []
    assert await invoices_of(api, who) == []


async def test_draft_grace_period_ends_during_the_advance(test_tenant):
    api = test_tenant.api
    await api("mutation { updateOrganization(input: {invoiceGracePeriodDays: 3}) { userErrors { code } } }")
    clock = await create_clock(api)
    plan = uid("monthly")
    await make_plan(api, plan, "Monthly", "30.00")
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"))

    await advance(api, clock, month(1) + timedelta(days=1))
    [draft] = await invoices_of(api, who)
    assert draft["status"] == "DRAFT" and draft["number"] is None
    await advance(api, clock, month(1) + timedelta(days=3))  # the grace period ends exactly now
    [final] = await invoices_of(api, who)
    assert final["status"] == "OPEN" and final["number"] and final["issuedAt"].startswith("2025-02-04")

    await advance(api, clock, month(3) + timedelta(days=5))  # two more periods, each finalized in its turn
    invoices = await invoices_of(api, who)
    assert [i["status"] for i in invoices] == ["OPEN", "OPEN", "OPEN"]
    assert [i["issuedAt"][:10] for i in invoices] == ["2025-02-04", "2025-03-04", "2025-04-04"]


async def test_usage_is_timed_by_the_clock_and_billed_at_the_period_end(test_tenant):
    api = test_tenant.api
    clock = await create_clock(api, START + timedelta(days=10))
    code = uid("calls")
    await metric(api, code)
    plan = uid("usage")
    await make_plan(api, plan, "Usage", "0", [standard(code, "0.5")])
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"), startedAt=START.isoformat())

    events = [
        {"transactionId": uid("tx"), "customerExternalId": who, "metricCode": code, "properties": {"value": 10}},
        {
            "transactionId": uid("tx"),
            "customerExternalId": who,
            "metricCode": code,
            "properties": {"value": 4},
            "timestamp": (START + timedelta(days=9)).isoformat(),
        },
        {  # today's real time is far ahead of the clock: in the clock's future, so refused
            "transactionId": uid("tx"),
            "customerExternalId": who,
            "metricCode": code,
            "properties": {"value": 1},
            "timestamp": datetime.now(UTC).isoformat(),
        },
    ]
    result = (await api(INGEST, input={"events": events}))["ingestUsage"]
    assert result["accepted"] == 2
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [(2, "TIMESTAMP_IN_FUTURE")]

    usage = await api(
        "query($c: String!) { customerUsage(customerExternalId: $c) { fromDatetime toDatetime amount } }", c=who
    )
    assert usage["customerUsage"]["fromDatetime"].startswith("2025-01-01")
    assert usage["customerUsage"]["amount"] == "7.00"

    await advance(api, clock, month(1))
    [inv] = await invoices_of(api, who)
    assert inv["totalAmount"] == "7.00" and inv["periodEnd"].startswith("2025-02-01")


async def test_bad_input_is_refused_and_nothing_written(tenant, test_tenant, stack):
    # A LIVE organization refuses test clocks.
    refused = (await tenant.api(CREATE, i={"name": "x", "frozenTime": START.isoformat()}))["createTestClock"]
    assert refused["testClock"] is None and refused["userErrors"][0]["code"] == "TEST_CLOCK_IN_LIVE_ORGANIZATION"

    api = test_tenant.api
    clock = await create_clock(api)
    other = await create_clock(api, name="other")
    backwards = await api(
        ADVANCE, i={"testClockId": clock["id"], "frozenTime": (START - timedelta(days=1)).isoformat()}
    )
    assert backwards["advanceTestClock"]["userErrors"] == [
        {
            "field": ["input", "frozenTime"],
            "code": "TEST_CLOCK_NOT_FORWARD",
            "message": "a test clock only moves forward: frozenTime must be after 2025-01-01T00:00:00+00:00",
        }
    ]

    too_far = await api(ADVANCE, i={"testClockId": clock["id"], "frozenTime": "2031-01-01T00:00:00Z"})
    assert too_far["advanceTestClock"]["userErrors"][0]["code"] == "TEST_CLOCK_ADVANCE_TOO_FAR"
    for bad in ("1900-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00"):
        refused = (await api(CREATE, i={"name": "x", "frozenTime": bad}))["createTestClock"]
        assert refused["userErrors"][0]["code"] == "TEST_CLOCK_TIME_OUT_OF_RANGE", bad
    naive = (await api(CREATE, i={"name": "x", "frozenTime": "2025-01-01T00:00:00"}))["createTestClock"]
    assert naive["userErrors"][0]["code"] == "NAIVE_DATETIME"

    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    moved = await api(
        "mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { userErrors { field code } } }",
        i={"externalId": who, "testClockId": other["id"]},
    )
    assert moved["updateCustomer"]["userErrors"] == [{"field": ["input", "testClockId"], "code": "TEST_CLOCK_FIXED"}]

    # Another organization's clock: not found, whether advanced, deleted or named by a customer.
    for document, field, i in [
        (ADVANCE, "advanceTestClock", {"testClockId": clock["id"], "frozenTime": month(1).isoformat()}),
        (DELETE, "deleteTestClock", {"testClockId": clock["id"]}),
    ]:
        data = (await tenant.api(document, i=i))[field]
        assert data["testClock"] is None and data["userErrors"][0]["code"] == "NOT_FOUND"
    foreign = await tenant.api(
        "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } userErrors { code } } }",
        i={"externalId": uid("c"), "testClockId": clock["id"]},
    )
    assert foreign["createCustomer"] == {"customer": None, "userErrors": [{"code": "NOT_FOUND"}]}

    row = await scalar(
        stack.database_url, "SELECT (frozen_time, status)::text FROM test_clocks WHERE id = $1::uuid", clock["id"]
    )
    assert row == '("2025-01-01 00:00:00+00",READY)', row
    count = await scalar(
        stack.database_url,
        "SELECT count(*) FROM test_clocks WHERE organization_id = $1::uuid",
        test_tenant.organization_id,
    )
    assert count == 2  # the two made above, none of the refused ones


async def test_delete_removes_the_clock_and_its_customers_data(test_tenant, stack):
    api = test_tenant.api
    clock = await create_clock(api)
    code = uid("calls")
    await metric(api, code)
    plan = uid("monthly")
    await make_plan(api, plan, "Monthly", "5.00", [standard(code, "1")])
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"))
    ingested = await api(
        INGEST,
        input={
            "events": [
                {"transactionId": uid("tx"), "customerExternalId": who, "metricCode": code, "properties": {"value": 3}}
            ]
        },
    )
    assert ingested["ingestUsage"]["accepted"] == 1
    await advance(api, clock, month(2))
    assert len(await invoices_of(api, who)) == 2

    await mutate(api, DELETE, "deleteTestClock", i={"testClockId": clock["id"]})
    assert await invoices_of(api, who) == []
    for table in ("customers", "test_clocks", "invoices", "subscriptions", "usage_events"):
        left = await scalar(
            stack.database_url,
            f"SELECT count(*) FROM {table} WHERE organization_id = $1::uuid",
            test_tenant.organization_id,
        )
        assert left == 0, table


@pytest.mark.parametrize("role", ["VIEWER", "FINANCE"])
async def test_test_clocks_are_for_admins(test_tenant, stack, role):
    clock = await create_clock(test_tenant.api)
    key = (await test_tenant.api(CREATE_KEY, input={"name": "weak", "role": role}))["createApiKey"]["secret"]
    weak = test_tenant.api.as_(key)
    for document, field, i in [
        (CREATE, "createTestClock", {"name": "mine", "frozenTime": START.isoformat()}),
        (ADVANCE, "advanceTestClock", {"testClockId": clock["id"], "frozenTime": month(1).isoformat()}),
        (DELETE, "deleteTestClock", {"testClockId": clock["id"]}),
    ]:
        with pytest.raises(TransportQueryError) as refused:
            await weak(document, i=i)
        assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN", field
    clocks = await scalar(
        stack.database_url,
        "SELECT count(*) FROM test_clocks WHERE organization_id = $1::uuid AND frozen_time = $2",
        test_tenant.organization_id,
        START,
    )
    assert clocks == 1


async def test_the_worked_example_of_the_api_guide(test_tenant):
    """docs/api.md, "Test clocks": a clock at 2025-01-01, usage in January, an advance to the period end."""
    api = test_tenant.api
    clock = await create_clock(api, name="January")
    code, plan, who = uid("messages"), uid("pro"), uid("initech")
    await metric(api, code, "SUM", "count", name="Messages sent")
    await make_plan(api, plan, "Pro", "49", [standard(code, "0.01")])
    await customer(api, who, testClockId=clock["id"])
    sub = await subscribe(api, who, plan, uid("sub"))
    assert (sub["status"], sub["currentPeriodStart"], sub["currentPeriodEnd"]) == (
        "ACTIVE",
        "2025-01-01T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
    )
    events = [
        {"transactionId": uid("tx"), "customerExternalId": who, "metricCode": code, "properties": {"count": 1200}},
        {
            "transactionId": uid("tx"),
            "customerExternalId": who,
            "metricCode": code,
            "timestamp": "2024-12-31T23:00:00Z",
            "properties": {"count": 350},
        },
        {
            "transactionId": uid("tx"),
            "customerExternalId": who,
            "metricCode": code,
            "timestamp": "2025-01-02T00:00:00Z",
            "properties": {"count": 5},
        },
    ]
    result = (await api(INGEST, input={"events": events}))["ingestUsage"]
    assert result["accepted"] == 2
    assert [(r["index"], r["code"], r["message"]) for r in result["rejected"]] == [
        (2, "TIMESTAMP_IN_FUTURE", "the timestamp is in the future (more than 5 minutes ahead)")
    ]
    moved = await advance(api, clock, month(1))
    assert (moved["frozenTime"], moved["status"]) == ("2025-02-01T00:00:00+00:00", "READY")
    [inv] = await invoices_of(api, who)
    assert (inv["status"], inv["periodStart"], inv["periodEnd"], inv["issuedAt"]) == (
        "OPEN",
        "2025-01-01T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
    )
    assert (inv["subtotalAmount"], inv["totalAmount"]) == ("61.00", "61.00")
    assert [(line["description"], line["units"], line["amount"]) for line in inv["lines"]] == [
        ("Pro", None, "49.00"),
        ("Messages sent", "1200", "12.00"),
    ]


async def test_threshold_checks_run_at_the_workers_scan_after_the_usage(test_tenant):
    """An event a few minutes ahead of the clock's time is checked at the first 5-minute scan after it, as
    the worker's schedule would check it, not at the period end."""
    api = test_tenant.api
    clock = await create_clock(api, START + timedelta(days=3, hours=10))
    code, plan, who = uid("calls"), uid("progressive"), uid("cust")
    await metric(api, code)
    await make_plan(api, plan, "Progressive", "10.00", [standard(code, "1")], usageThresholds=["50"])
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"), startedAt=START.isoformat())
    ahead = START + timedelta(days=3, hours=10, minutes=3)  # within the 5 minutes an event may be ahead
    event = {"transactionId": uid("tx"), "customerExternalId": who, "metricCode": code, "properties": {"value": 60}}
    result = (await api(INGEST, input={"events": [{**event, "timestamp": ahead.isoformat()}]}))["ingestUsage"]
    assert result["accepted"] == 1, result

    await advance(api, clock, START + timedelta(days=4))
    [interim] = await invoices_of(api, who)
    assert (interim["kind"], interim["totalAmount"]) == ("PROGRESSIVE", "60.00")
    assert interim["issuedAt"] == (START + timedelta(days=3, hours=10, minutes=5)).isoformat()


async def test_a_threshold_reached_is_told_to_webhook_endpoints_with_its_interim_invoice(test_tenant):
    api = test_tenant.api
    clock = await create_clock(api, START + timedelta(days=3))
    code, plan, who, sub = uid("calls"), uid("progressive"), uid("cust"), uid("sub")
    await metric(api, code)
    await make_plan(api, plan, "Progressive", "10.00", [standard(code, "1")], usageThresholds=["50"])
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, sub, startedAt=START.isoformat())
    async with WebhookReceiver() as receiver:
        _, secret = await endpoint(api, receiver.url, ["usage.threshold_reached"])
        event = {"transactionId": uid("tx"), "customerExternalId": who, "metricCode": code,
                 "properties": {"value": 60}, "timestamp": (START + timedelta(days=3)).isoformat()}
        assert (await api(INGEST, input={"events": [event]}))["ingestUsage"]["accepted"] == 1
        await advance(api, clock, START + timedelta(days=4))
        [interim] = await invoices_of(api, who)
        [request] = receiver.received  # sent during the advance
        await advance(api, clock, START + timedelta(days=5))  # the same threshold in the same period: told once
        assert len(receiver.received) == 1
    assert signature_matches(secret, request)
    body = orjson.loads(request.body)
    assert body["type"] == "usage.threshold_reached"
    data = body["data"]
    assert (data["threshold"], data["usageAmount"], data["subscriptionExternalId"]) == ("50.00", "60.00", sub)
    assert data["currency"] == data["invoice"]["currency"]
    assert (data["invoice"]["id"], data["invoice"]["totalAmount"]) == (interim["id"], "60.00")


async def test_a_one_off_invoice_of_a_clock_customer_is_issued_at_the_clocks_time(test_tenant):
    api = test_tenant.api
    clock = await create_clock(api, START + timedelta(days=40))
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"], currency="USD")
    made = await api(
        "mutation($c: String!) { createOneOffInvoice(input: {customerExternalId: $c, "
        'lines: [{description: "Setup", amount: "100"}]}) { invoice { issuedAt totalAmount } userErrors { code } } }',
        c=who,
    )
    assert made["createOneOffInvoice"] == {
        "invoice": {"issuedAt": (START + timedelta(days=40)).isoformat(), "totalAmount": "100.00"},
        "userErrors": [],
    }


async def test_a_draft_finalized_by_hand_is_issued_at_the_clocks_time(test_tenant):
    api = test_tenant.api
    await api("mutation { updateOrganization(input: {invoiceGracePeriodDays: 5}) { userErrors { code } } }")
    clock = await create_clock(api)
    plan, who = uid("monthly"), uid("cust")
    await make_plan(api, plan, "Monthly", "20.00")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, plan, uid("sub"))
    await advance(api, clock, month(1) + timedelta(days=2))
    [draft] = await invoices_of(api, who)
    assert draft["status"] == "DRAFT"
    done = await api(
        "mutation($id: ID!) { finalizeInvoice(input: {id: $id}) { invoice { status issuedAt } userErrors { code } } }",
        id=draft["id"],
    )
    assert done["finalizeInvoice"] == {
        "invoice": {"status": "OPEN", "issuedAt": (month(1) + timedelta(days=2)).isoformat()},
        "userErrors": [],
    }


async def test_webhooks_raised_in_an_advance_are_sent_and_retried_by_the_clocks_time(test_tenant, stack) -> None:
    """The invoice of a period end reached by an advance is told to the organization's endpoint during the
    advance; the endpoint fails, and its retries (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, with jitter) go when
    the clock passes them, not by real time; the worker's sweep leaves them alone."""
    api = test_tenant.api
    start = datetime(2024, 3, 1, tzinfo=UTC)
    clock = await create_clock(api, start)
    monthly = uid("monthly")
    await make_plan(api, monthly, "Monthly", "10")
    who = uid("cust")
    await customer(api, who, testClockId=clock["id"])
    await subscribe(api, who, monthly, uid("sub"))
    async with WebhookReceiver(status=503) as receiver:
        hook, secret = await endpoint(api, f"{receiver.url}/hooks", ["invoice.created"])
        await advance(api, clock, datetime(2024, 4, 1, 0, 30, tzinfo=UTC))  # the billing date, then 30 minutes
        first = [d for d in await deliveries(api, hook) if d["status"] != "PENDING"]
        # attempt 1 at the billing date, then 5 s, 5 min and 30 min (±10 %) later: within the 30 minutes
        assert sorted(d["attempt"] for d in first) == [1, 2, 3], first
        assert all(d["status"] == "FAILED" and d["responseStatus"] == 503 for d in first)
        assert all(d["createdAt"].startswith("2024-04-01") for d in first)
        assert len(receiver.received) == 3 and all(signature_matches(secret, r) for r in receiver.received)
        [pending] = [d for d in await deliveries(api, hook) if d["status"] == "PENDING"]
        assert pending["attempt"] == 4 and pending["nextAttemptAt"].startswith("2024-04-01")
        # The worker's sweep, by real time (years after the clock's): it leaves the clock's attempts alone.
        db = Database(stack.database_url, pool_size=1)
        sender = WebhookSender(timeout=1.0, allow_private_targets=True)
        config = WebhookConfig(SecretBox.from_settings(None, None, stack.secret_key), allow_private_targets=True)
        try:
            swept = await deliver_due(db, sender, config, organization_id=uuid.UUID(test_tenant.organization_id))
        finally:
            await sender.aclose()
            await db.dispose()
        assert swept.sent == 0 and len(receiver.received) == 3
        receiver.status = 200
        await advance(api, clock, datetime(2024, 4, 2, tzinfo=UTC))
        rows = await deliveries(api, hook)
        assert sorted((d["attempt"], d["status"]) for d in rows) == [
            (1, "FAILED"), (2, "FAILED"), (3, "FAILED"), (4, "SUCCEEDED")
        ]
        assert len(receiver.received) == 4
        assert len({r.header("webhook-id") for r in receiver.received}) == 1  # one event, four attempts


async def test_the_organizations_clocks_are_listed_and_read_one_by_one(test_tenant, other_tenant) -> None:
    api = test_tenant.api
    first = await create_clock(api, datetime(2024, 1, 1, tzinfo=UTC), name="January")
    second = await create_clock(api, datetime(2025, 6, 1, tzinfo=UTC), name="June")
    listed = (await api("{ testClocks { totalCount nodes { id name frozenTime status } } }"))["testClocks"]
    assert listed["totalCount"] == 2
    assert [(c["id"], c["name"], c["status"]) for c in listed["nodes"]] == [
        (first["id"], "January", "READY"),
        (second["id"], "June", "READY"),
    ]
    one = "query($id: ID!) { testClock(id: $id) { id frozenTime } }"
    read = (await api(one, id=second["id"]))["testClock"]
    assert read == {"id": second["id"], "frozenTime": "2025-06-01T00:00:00+00:00"}
    assert (await api(one, id="not-an-id"))["testClock"] is None
    # another organization sees none of them
    assert (await other_tenant.api("{ testClocks { totalCount } }"))["testClocks"]["totalCount"] == 0
    assert (await other_tenant.api(one, id=first["id"]))["testClock"] is None
