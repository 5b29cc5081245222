"""Usage alerts through GraphQL: a customer (its portal link) or the organization's staff sets a threshold on the
period's usage; the check after the usage is stored (the worker's scan, a test clock's advance) fires it once per
billing period: an email to the customer (received by a local aiosmtpd server) and a signed webhook event."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from integrations.clock import SYSTEM_CLOCK
from tests.client import TransportQueryError
from tests.db import scalar
from tests.fakes.receiver import WebhookReceiver
from tests.graph.billing_scenario_helpers import INGEST, make_plan, mutate, standard
from tests.graph.catalog_helpers import customer, metric, subscribe, uid
from tests.graph.test_dunning_emails import PUBLIC, body, ctx_for, received, smtp  # noqa: F401 (the smtp fixture)
from tests.graph.test_test_clocks import advance, create_clock
from tests.graph.test_webhooks import endpoint, until, verified
from workers.jobs.payments import send_email
from workers.jobs.progressive import check_usage_thresholds

START = datetime(2025, 1, 1, tzinfo=UTC)
EVENT = "customer.usage_alert_triggered"
ALERT_FIELDS = """usageAlert { id customerExternalId metricCode thresholdType threshold name lastTriggeredAt
  lastTriggeredValue lastTriggeredPeriodStart } userErrors { field code message }"""
CREATE = f"mutation($i: CreateUsageAlertInput!) {{ createUsageAlert(input: $i) {{ {ALERT_FIELDS} }} }}"
UPDATE = f"mutation($i: UpdateUsageAlertInput!) {{ updateUsageAlert(input: $i) {{ {ALERT_FIELDS} }} }}"
DELETE = f"mutation($i: UsageAlertIdInput!) {{ deleteUsageAlert(input: $i) {{ {ALERT_FIELDS} }} }}"
LIST = """query($c: String) { usageAlerts(customerExternalId: $c) { id thresholdType threshold metricCode name
  lastTriggeredAt lastTriggeredValue lastTriggeredPeriodStart } }"""
PORTAL_LINK = """mutation($c: String!) { createCustomerPortalSession(input: {customerExternalId: $c}) {
  url userErrors { code } } }"""


async def portal_of(api, external_id: str):
    made = (await api(PORTAL_LINK, c=external_id))["createCustomerPortalSession"]
    assert made["userErrors"] == [], made
    return api.as_(made["url"].split("#", 1)[1])


async def ingest(api, who: str, code: str, value: int, at: datetime) -> None:
    event = {"transactionId": uid("tx"), "customerExternalId": who, "metricCode": code,
             "properties": {"value": value}, "timestamp": at.isoformat()}
    result = (await api(INGEST, input={"events": [event]}))["ingestUsage"]
    assert result["accepted"] == 1, result


async def metered_customer(api, *, clock: dict | None = None, started: datetime | None = None) -> tuple[str, str]:
    """(customer, metric): a USD customer with an email, on a monthly plan that bills its calls at 1.00 each."""
    code, plan, who = uid("calls"), uid("metered"), uid("cust")
    await metric(api, code)
    await make_plan(api, plan, "Metered", "10.00", [standard(code, "1")])
    extra = {"testClockId": clock["id"]} if clock else {}
    await customer(api, who, currency="USD", email=f"ap@{who}.test", **extra)
    await subscribe(api, who, plan, uid("sub"), **({"startedAt": started.isoformat()} if started else {}))
    return who, code


async def test_an_alert_fires_once_per_period_with_an_email_and_a_webhook(test_tenant, smtp, operator_db, stack):  # noqa: F811
    api = test_tenant.api
    clock = await create_clock(api, START)
    who, code = await metered_customer(api, clock=clock, started=START)
    portal = await portal_of(api, who)
    async with WebhookReceiver() as receiver:
        hook, secret = await endpoint(api, f"{receiver.url}/hooks", [EVENT])
        # The customer sets it in its portal: 80.00 USD of usage charges, once a period.
        made = (await portal(CREATE, i={"customerExternalId": who, "thresholdType": "AMOUNT", "threshold": "80",
                                        "name": "80 % of budget"}))["createUsageAlert"]
        assert made["userErrors"] == []
        alert = made["usageAlert"]
        assert (alert["thresholdType"], alert["threshold"], alert["metricCode"], alert["lastTriggeredAt"]) == (
            "AMOUNT", "80", None, None)
        # Staff set a UNITS one for the same customer; it is not reached.
        units = await mutate(api, CREATE, "createUsageAlert",
                             i={"customerExternalId": who, "thresholdType": "UNITS", "threshold": "500",
                                "metricCode": code})

        await advance(api, clock, START + timedelta(hours=1))
        await ingest(api, who, code, 50, START + timedelta(minutes=30))
        await advance(api, clock, START + timedelta(hours=2))  # scanned at 00:35: 50.00 < 80
        assert [a["lastTriggeredAt"] for a in (await portal(LIST))["usageAlerts"]] == [None, None]

        await ingest(api, who, code, 40, START + timedelta(hours=2))
        await advance(api, clock, START + timedelta(hours=3))  # scanned at 02:05: 90.00 ≥ 80
        shown = {a["id"]: a for a in (await portal(LIST))["usageAlerts"]}
        assert shown[alert["id"]]["lastTriggeredAt"] == (START + timedelta(hours=2, minutes=5)).isoformat()
        assert shown[alert["id"]]["lastTriggeredValue"] == "90"
        assert shown[alert["id"]]["lastTriggeredPeriodStart"] == START.isoformat()
        assert shown[units["usageAlert"]["id"]]["lastTriggeredAt"] is None

        # More usage in the same period: checked again, not told again.
        await ingest(api, who, code, 30, START + timedelta(hours=3))
        await advance(api, clock, START + timedelta(hours=4))
        # The next period starts from nothing, and the alert fires again once it is reached.
        february = datetime(2025, 2, 1, tzinfo=UTC)
        await advance(api, clock, february + timedelta(hours=1))
        await ingest(api, who, code, 85, february + timedelta(minutes=30))
        await advance(api, clock, february + timedelta(hours=2))
        [last] = [a for a in (await api(LIST, c=who))["usageAlerts"] if a["id"] == alert["id"]]
        assert (last["lastTriggeredPeriodStart"], last["lastTriggeredValue"]) == (february.isoformat(), "85")

        firings = await scalar(stack.database_url, "SELECT count(*) FROM usage_alert_firings WHERE alert_id = $1::uuid",
                               alert["id"])
        assert firings == 2
        bodies = await until(lambda: _events(receiver, secret, 2))
        assert [b["data"]["value"] for b in bodies] == ["90", "85"]
        first = bodies[0]
        assert first["type"] == EVENT and first["organizationId"] == test_tenant.organization_id
        assert first["data"]["alert"] == {"id": alert["id"], "name": "80 % of budget", "customerExternalId": who,
                                          "metricCode": None, "thresholdType": "AMOUNT", "threshold": "80"}
        assert (first["data"]["currency"], first["data"]["periodStart"]) == ("USD", START.isoformat())
        assert first["data"]["customer"]["externalId"] == who
        assert hook

    # The email of the first firing, sent once.
    firing = await scalar(
        stack.database_url,
        "SELECT id::text FROM usage_alert_firings WHERE alert_id = $1::uuid ORDER BY triggered_at LIMIT 1",
        alert["id"],
    )
    ctx = ctx_for(smtp, operator_db)
    assert await send_email(ctx, test_tenant.organization_id, f"usage_alert:{firing}:0") is True
    assert await send_email(ctx, test_tenant.organization_id, f"usage_alert:{firing}:0") is False
    [message] = received(smtp)
    assert smtp.envelopes[0].rcpt_tos == [f"ap@{who}.test"]
    assert str(message["Subject"]).strip() == "Usage alert from Acme Sandbox: 80 % of budget reached"
    text, html = body(message, "plain"), body(message, "html")
    assert "Your usage charges" in text and "90.00 USD" in text and "80.00 USD" in text
    [link] = re.findall(rf"{re.escape(PUBLIC)}/portal/session#vvp_[\w-]+", text)
    assert f'href="{link}"' in html and "90.00 USD" in html


async def _events(receiver: WebhookReceiver, secret: str, n: int) -> list[dict] | None:
    bodies = [verified(secret, r) for r in receiver.received]
    found = [b for b in bodies if b["type"] == EVENT]
    return found if len(found) >= n else None


async def test_two_checks_at_once_fire_an_alert_once(tenant, operator_db, stack):
    """The worker's check (progressive billing's job) run twice at the same moment: the unique firing row lets one
    of them fire, the other finds it there (no check-then-insert)."""
    api = tenant.api
    who, code = await metered_customer(api)
    await mutate(api, CREATE, "createUsageAlert",
                 i={"customerExternalId": who, "thresholdType": "UNITS", "threshold": "10", "metricCode": code})
    await ingest(api, who, code, 12, datetime.now(UTC) - timedelta(seconds=1))
    customer_id = await scalar(stack.database_url, "SELECT id::text FROM customers WHERE external_id = $1", who)
    ctx = {"db": operator_db, "clock": SYSTEM_CLOCK}
    made = await asyncio.gather(*(check_usage_thresholds(ctx, tenant.organization_id, customer_id)
                                  for _ in range(2)))
    assert sorted(made) == [0, 1]
    assert await check_usage_thresholds(ctx, tenant.organization_id, customer_id) == 0
    [alert] = (await api(LIST, c=who))["usageAlerts"]
    assert alert["lastTriggeredValue"] == "12"
    entries = (await api("{ auditLogs(first: 20) { nodes { action } } }"))["auditLogs"]["nodes"]
    assert [e["action"] for e in entries].count("usage_alert.triggered") == 1


async def test_a_portal_link_manages_its_own_alerts_only(tenant, other_tenant):
    api = tenant.api
    mine, code = await metered_customer(api)
    theirs, _ = await metered_customer(api)
    portal = await portal_of(api, mine)
    staff_alert = await mutate(api, CREATE, "createUsageAlert",
                               i={"customerExternalId": theirs, "thresholdType": "AMOUNT", "threshold": "100"})
    for refused in (
        portal(CREATE, i={"customerExternalId": theirs, "thresholdType": "AMOUNT", "threshold": "5"}),
        portal(LIST, c=theirs),
    ):
        with pytest.raises(TransportQueryError) as error:
            await refused
        assert error.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    other_id = staff_alert["usageAlert"]["id"]
    for document, i in ((UPDATE, {"id": other_id, "threshold": "1"}), (DELETE, {"id": other_id})):
        answer = next(iter((await portal(document, i=i)).values()))
        assert answer == {"usageAlert": None,
                          "userErrors": [{"field": ["input", "id"], "code": "NOT_FOUND",
                                          "message": "no usage alert with this id"}]}
    # Another organization sees none of them.
    assert (await other_tenant.api(LIST, c=theirs))["usageAlerts"] == []
    elsewhere = (await other_tenant.api(DELETE, i={"id": other_id}))["deleteUsageAlert"]
    assert elsewhere["userErrors"][0]["code"] == "NOT_FOUND"

    made = (await portal(CREATE, i={"customerExternalId": mine, "thresholdType": "UNITS", "threshold": "1000",
                                    "metricCode": code}))["createUsageAlert"]
    assert made["userErrors"] == []
    alert_id = made["usageAlert"]["id"]
    changed = (await portal(UPDATE, i={"id": alert_id, "threshold": "1500.5", "name": "Most of the month"}))[
        "updateUsageAlert"]
    assert (changed["usageAlert"]["threshold"], changed["usageAlert"]["name"]) == ("1500.5", "Most of the month")
    assert [a["id"] for a in (await portal(LIST))["usageAlerts"]] == [alert_id]
    gone = (await portal(DELETE, i={"id": alert_id}))["deleteUsageAlert"]
    assert gone["userErrors"] == [] and gone["usageAlert"]["id"] == alert_id
    assert (await portal(LIST))["usageAlerts"] == []
    actions = [e["action"] for e in (await api("{ auditLogs(first: 10) { nodes { action } } }"))["auditLogs"]["nodes"]]
    assert {"usage_alert.created", "usage_alert.updated", "usage_alert.deleted"} <= set(actions)


@pytest.mark.parametrize(
    ("extra", "field", "code"),
    [
        ({"thresholdType": "AMOUNT", "threshold": "0"}, "threshold", "INVALID_THRESHOLD"),
        ({"thresholdType": "AMOUNT", "threshold": "-5"}, "threshold", "INVALID_THRESHOLD"),
        ({"thresholdType": "AMOUNT", "threshold": "1e30"}, "threshold", "INVALID_THRESHOLD"),
        ({"thresholdType": "AMOUNT", "threshold": "0.0000000000001"}, "threshold", "INVALID_THRESHOLD"),
        ({"thresholdType": "UNITS", "threshold": "10"}, "metricCode", "METRIC_REQUIRED"),
        ({"thresholdType": "UNITS", "threshold": "10", "metricCode": "nope"}, "metricCode", "UNKNOWN_METRIC"),
        ({"thresholdType": "AMOUNT", "threshold": "10", "name": "x" * 201}, "name", "TOO_LONG"),
    ],
)
async def test_bad_alerts_are_refused_with_a_reason(tenant, extra, field, code):
    who = uid("cust")
    await customer(tenant.api, who, currency="USD")
    answer = (await tenant.api(CREATE, i={"customerExternalId": who, **extra}))["createUsageAlert"]
    assert answer["usageAlert"] is None
    assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [(["input", field], code)]
    assert (await tenant.api(LIST, c=who))["usageAlerts"] == []


async def test_an_unknown_customer_is_a_user_error(tenant):
    answer = (await tenant.api(CREATE, i={"customerExternalId": f"nobody-{uuid.uuid4().hex[:6]}",
                                          "thresholdType": "AMOUNT", "threshold": "10"}))["createUsageAlert"]
    assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [(["input", "customerExternalId"],
                                                                      "CUSTOMER_NOT_FOUND")]
