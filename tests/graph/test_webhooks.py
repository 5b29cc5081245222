"""Outbound webhooks through the API, the real worker and a real receiver; retries by moving a clock."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from standardwebhooks import Webhook

from db.session import Database
from integrations.clock import ManualClock
from integrations.secrets import SecretBox
from integrations.webhooks import WebhookSender
from services import customers as customer_service
from services.actors import system_actor
from services.webhooks import RETRY_DELAYS, WebhookConfig, deliver_due
from tests.db import scalar
from tests.fakes.receiver import Received, WebhookReceiver
from tests.graph.catalog_helpers import customer, plan, subscribe, uid
from tests.stack import start_api

CREATE = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  endpoint { id url eventTypes description enabled disabledReason } secret userErrors { field code message } } }"""
UPDATE = """mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) {
  endpoint { id url eventTypes enabled disabledReason failingSince } secret userErrors { field code } } }"""
DELETE = """mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) {
  endpoint { id } userErrors { field code } } }"""
ENDPOINTS = """{ webhookEndpoints { totalCount nodes { id url eventTypes enabled disabledReason } } }"""
DELIVERIES = """query($e: ID, $t: String) { webhookDeliveries(endpointId: $e, eventType: $t, first: 100) { totalCount
  nodes { id endpointId eventId eventType attempt status responseStatus responseBodyExcerpt error nextAttemptAt
  attemptedAt manual createdAt } } }"""
REDELIVER = """mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) {
  delivery { id eventId attempt status manual } userErrors { field code message } } }"""
UPDATE_CUSTOMER = """mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { userErrors { code } } }"""
ONE_OFF = """mutation($c: String!) { createOneOffInvoice(input: {customerExternalId: $c,
  lines: [{description: "Setup", amount: "100"}]}) { invoice { id status } userErrors { code message } } }"""
PAID = "mutation($id: ID!) { markInvoicePaid(input: {invoiceId: $id}) { invoice { status } userErrors { code } } }"
VOID = "mutation($id: ID!) { voidInvoice(input: {id: $id}) { invoice { status } userErrors { code } } }"
CREDIT_NOTE = """mutation($id: ID!) { createCreditNote(input: {invoiceId: $id, kind: CREDIT, amount: "10",
  reason: "goodwill"}) { creditNote { number } userErrors { code message } } }"""


async def until(check: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """The first truthy answer of `check`, asked again as the worker works (never a wait for time to pass)."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        await asyncio.sleep(0.05)


async def endpoint(api, url: str, event_types: list[str], **extra) -> tuple[str, str]:
    data = (await api(CREATE, i={"url": url, "eventTypes": event_types, **extra}))["createWebhookEndpoint"]
    assert data["userErrors"] == [], data
    return data["endpoint"]["id"], data["secret"]


async def deliveries(api, endpoint_id: str, event_type: str | None = None) -> list[dict]:
    data = await api(DELIVERIES, e=endpoint_id, t=event_type)
    return data["webhookDeliveries"]["nodes"]


async def settled(api, endpoint_id: str, count: int = 1) -> list[dict]:
    """The endpoint's attempts once `count` of them are neither PENDING nor SENDING."""

    async def check() -> list[dict] | None:
        rows = await deliveries(api, endpoint_id)
        done = [d for d in rows if d["status"] not in ("PENDING", "SENDING")]
        return rows if len(done) >= count else None

    return await until(check)


def verified(secret: str, request: Received) -> dict:
    """What a receiver does: verify the Standard Webhooks signature with the library, then read the body."""
    return Webhook(secret).verify(request.body, request.headers)


def signature_matches(secret: str, request: Received) -> bool:
    """The signature checked with the library at the message's own timestamp (the clock of these attempts was
    moved days ahead, which `verify` would refuse as a stale timestamp, rightly)."""
    at = datetime.fromtimestamp(int(request.header("webhook-timestamp") or 0), UTC)
    expected = Webhook(secret).sign(msg_id=request.header("webhook-id") or "", timestamp=at, data=request.body.decode())
    return expected in (request.header("webhook-signature") or "").split(" ")


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


@pytest.fixture
async def sweeper(stack) -> AsyncIterator[tuple[ManualClock, Callable[[str], Awaitable[Any]]]]:
    """A clock of the test's own and `deliver(org)`: the worker's sweep, in this process, by that clock."""
    clock = ManualClock(datetime.now(UTC))
    db = Database(stack.database_url, pool_size=2, clock=clock)
    config = WebhookConfig(SecretBox.from_settings(None, None, stack.secret_key), allow_private_targets=True,
                           timeout_seconds=1.0)
    sender = WebhookSender(timeout=1.0, allow_private_targets=True)

    async def deliver(organization_id: str):
        return await deliver_due(db, sender, config, organization_id=uuid.UUID(organization_id))

    try:
        yield clock, deliver
    finally:
        await sender.aclose()
        await db.dispose()


async def test_the_secret_is_shown_once_and_each_event_arrives_signed(tenant, receiver, stack) -> None:
    api = tenant.api
    endpoint_id, secret = await endpoint(
        api, f"{receiver.url}/hooks", ["customer.created", "customer.updated"], description="CRM sync"
    )
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    listed = (await api(ENDPOINTS))["webhookEndpoints"]
    assert listed["totalCount"] == 1
    assert listed["nodes"] == [{"id": endpoint_id, "url": f"{receiver.url}/hooks", "enabled": True,
                                "eventTypes": ["customer.created", "customer.updated"], "disabledReason": None}]
    # Never again: no field shows it, and it is not stored as it is.
    updated = (await api(UPDATE, i={"id": endpoint_id, "description": "CRM"}))["updateWebhookEndpoint"]
    assert updated["secret"] is None and updated["userErrors"] == []
    sealed = str(await scalar(stack.database_url, "SELECT secret_sealed FROM webhook_endpoints WHERE id = $1::uuid",
                              endpoint_id))
    assert secret not in sealed and secret.removeprefix("whsec_") not in sealed

    ext = uid("hooked")
    await customer(api, ext, email="ap@example.com", currency="EUR")
    first = await receiver.wait_for(lambda r: r.path == "/hooks", within=15)
    body = verified(secret, first)
    assert set(body) == {"id", "type", "createdAt", "organizationId", "data"}
    assert body["type"] == "customer.created" and body["organizationId"] == tenant.organization_id
    assert body["id"] == first.header("webhook-id") and body["id"].startswith("evt_")
    assert body["data"]["externalId"] == ext and body["data"]["email"] == "ap@example.com"
    assert body["data"]["currency"] == "EUR" and body["data"]["createdAt"]

    assert (await api(UPDATE_CUSTOMER, i={"externalId": ext, "name": "Renamed"}))["updateCustomer"]["userErrors"] == []
    second = await receiver.wait_for(lambda r: r.header("webhook-id") != first.header("webhook-id"), within=15)
    assert verified(secret, second)["type"] == "customer.updated"
    assert verified(secret, second)["data"]["name"] == "Renamed"

    log = await settled(api, endpoint_id, 2)
    assert {(d["eventType"], d["attempt"], d["status"], d["responseStatus"], d["responseBodyExcerpt"])
            for d in log} == {
        ("customer.created", 1, "SUCCEEDED", 200, "ok"),
        ("customer.updated", 1, "SUCCEEDED", 200, "ok"),
    }
    assert all(d["nextAttemptAt"] is None and d["manual"] is False for d in log)
    only = await deliveries(api, endpoint_id, "customer.updated")
    assert [d["eventType"] for d in only] == ["customer.updated"]


async def test_invoice_and_credit_note_events_carry_the_object_as_the_api_shows_it(tenant, receiver) -> None:
    api = tenant.api
    kinds = ["invoice.created", "invoice.finalized", "invoice.paid", "invoice.voided", "credit_note.created"]
    endpoint_id, secret = await endpoint(api, receiver.url, kinds)
    ext = uid("billed")
    await customer(api, ext, currency="USD", timezone="UTC")
    first = (await api(ONE_OFF, c=ext))["createOneOffInvoice"]
    assert first["userErrors"] == []
    invoice_id = first["invoice"]["id"]
    assert (await api(CREDIT_NOTE, id=invoice_id))["createCreditNote"]["userErrors"] == []
    assert (await api(PAID, id=invoice_id))["markInvoicePaid"]["invoice"]["status"] == "PAID"
    second = (await api(ONE_OFF, c=ext))["createOneOffInvoice"]["invoice"]["id"]
    assert (await api(VOID, id=second))["voidInvoice"]["invoice"]["status"] == "VOID"

    await settled(api, endpoint_id, 7)
    bodies = [verified(secret, r) for r in receiver.received]
    seen = sorted((b["type"], b["data"].get("status"), b["data"]["id"]) for b in bodies)
    assert seen == sorted([
        ("invoice.created", "DRAFT", invoice_id), ("invoice.finalized", "OPEN", invoice_id),
        ("credit_note.created", None, next(b["data"]["id"] for b in bodies if b["type"] == "credit_note.created")),
        ("invoice.paid", "PAID", invoice_id),
        ("invoice.created", "DRAFT", second), ("invoice.finalized", "OPEN", second), ("invoice.voided", "VOID", second),
    ])
    finalized = next(b for b in bodies if b["type"] == "invoice.finalized" and b["data"]["id"] == invoice_id)
    data = finalized["data"]
    assert data["number"] and data["currency"] == "USD" and data["customer"]["externalId"] == ext
    assert data["lines"][0]["description"] == "Setup" and data["lines"][0]["amount"] == "100.00"
    assert data["totalAmount"] == data["amountDue"]
    note = next(b for b in bodies if b["type"] == "credit_note.created")["data"]
    assert note["amount"] == "10.00" and note["invoiceId"] == invoice_id and note["reason"] == "goodwill"
    assert len({b["id"] for b in bodies}) == len(bodies)  # one event id per event


async def test_a_rolled_back_change_sends_nothing(tenant, receiver, stack) -> None:
    api = tenant.api
    endpoint_id, _ = await endpoint(api, receiver.url, ["customer.created"])
    org = uuid.UUID(tenant.organization_id)
    actor = system_actor(org)
    db = Database(stack.database_url, pool_size=2)
    try:
        with pytest.raises(RuntimeError, match="changed my mind"):
            async with db.unit_of_work() as uow:
                await customer_service.create_customer(uow, actor, "rolled-back", customer_service.CustomerFields())
                raise RuntimeError("changed my mind")
        # The same use case committed: its event goes out (so the one above would have, had it committed).
        async with db.unit_of_work() as uow:
            await customer_service.create_customer(uow, actor, "kept", customer_service.CustomerFields())
    finally:
        await db.dispose()
    kept = await receiver.wait_for(within=15)
    assert orjson.loads(kept.body)["data"]["externalId"] == "kept"
    await settled(api, endpoint_id, 1)
    assert [orjson.loads(r.body)["data"]["externalId"] for r in receiver.received] == ["kept"]
    events = await scalar(stack.database_url, "SELECT count(*) FROM webhook_events WHERE organization_id = $1::uuid",
                          tenant.organization_id)
    assert events == 1
    assert len(await deliveries(api, endpoint_id)) == 1


async def test_a_failing_receiver_is_retried_on_the_schedule_then_left(tenant, stack, sweeper) -> None:
    clock, deliver = sweeper
    async with WebhookReceiver(status=500, reply=b"database is down") as receiver:
        endpoint_id, secret = await endpoint(tenant.api, receiver.url, ["customer.created"])
        await customer(tenant.api, uid("retried"))
        first = await receiver.wait_for(within=15)
        log = await settled(tenant.api, endpoint_id, 1)
        attempt1 = next(d for d in log if d["attempt"] == 1)
        assert (attempt1["status"], attempt1["responseStatus"]) == ("FAILED", 500)
        assert attempt1["responseBodyExcerpt"] == "database is down"
        previous = datetime.fromisoformat(attempt1["attemptedAt"])
        for attempt, delay in enumerate(RETRY_DELAYS, start=2):
            pending = next(d for d in await deliveries(tenant.api, endpoint_id) if d["attempt"] == attempt)
            due = datetime.fromisoformat(pending["nextAttemptAt"])
            assert pending["status"] == "PENDING"
            assert delay * 0.9 <= due - previous <= delay * 1.1, (attempt, due - previous)  # the schedule, jittered
            clock.set(due - timedelta(milliseconds=1))
            assert (await deliver(tenant.organization_id)).sent == 0  # not yet
            clock.set(due)
            swept = await deliver(tenant.organization_id)
            assert (swept.sent, swept.failed) == (1, 1)
            assert len(receiver.received) == attempt
            previous = due
        assert all(r.header("webhook-id") == first.header("webhook-id") for r in receiver.received)
        assert all(signature_matches(secret, r) for r in receiver.received)
        clock.advance(days=2)
        assert (await deliver(tenant.organization_id)).sent == 0  # the schedule is spent
        log = await deliveries(tenant.api, endpoint_id)
        assert sorted(d["attempt"] for d in log) == list(range(1, len(RETRY_DELAYS) + 2))
        assert all(d["status"] == "FAILED" for d in log)
        assert next(d for d in log if d["attempt"] == len(RETRY_DELAYS) + 1)["nextAttemptAt"] is None
        # Eight failures over about a day: not five days yet, so it stays enabled.
        assert (await tenant.api(ENDPOINTS))["webhookEndpoints"]["nodes"][0]["enabled"] is True

        # Five days after the first failure, the next failure disables it and the organization is told.
        clock.set(datetime.fromisoformat(attempt1["attemptedAt"]) + timedelta(days=5, minutes=1))
        await customer(tenant.api, uid("still-failing"))  # attempt 1 by the worker, now: less than 5 days
        await receiver.wait_for(lambda r: r.header("webhook-id") != first.header("webhook-id"), within=15)
        await until(lambda: _pending_retry(tenant.api, endpoint_id))
        clock.advance(minutes=1)
        swept = await deliver(tenant.organization_id)
        assert swept.disabled == [uuid.UUID(endpoint_id)]
    node = (await tenant.api(ENDPOINTS))["webhookEndpoints"]["nodes"][0]
    assert node["enabled"] is False and "5 days" in node["disabledReason"]
    assert await _audit_count(stack, tenant.organization_id, "webhook_endpoint.disabled") == 1


async def _pending_retry(api, endpoint_id: str) -> bool:
    return any(d["status"] == "PENDING" for d in await deliveries(api, endpoint_id))


async def _audit_count(stack, organization_id: str, action: str) -> int:
    return int(str(await scalar(
        stack.database_url,
        "SELECT count(*) FROM audit_entries WHERE organization_id = $1::uuid AND action = $2", organization_id, action,
    )))


async def test_410_disables_the_endpoint_and_enabling_it_again_starts_afresh(tenant, stack) -> None:
    api = tenant.api
    async with WebhookReceiver(status=410, reply=b"gone") as receiver:
        endpoint_id, _ = await endpoint(api, receiver.url, ["customer.created"])
        await customer(api, uid("gone"))
        await receiver.wait_for(within=15)
        log = await settled(api, endpoint_id, 1)
        assert [(d["status"], d["responseStatus"], d["nextAttemptAt"]) for d in log] == [("FAILED", 410, None)]
        node = (await api(ENDPOINTS))["webhookEndpoints"]["nodes"][0]
        assert node["enabled"] is False and "410" in node["disabledReason"]
        assert await _audit_count(stack, tenant.organization_id, "webhook_endpoint.disabled") == 1
        # A disabled endpoint is sent nothing, and cannot be redelivered to.
        await customer(api, uid("not-sent"))
        assert len(await deliveries(api, endpoint_id)) == 1
        refused = (await api(REDELIVER, id=log[0]["id"]))["redeliverWebhook"]
        assert refused["delivery"] is None and refused["userErrors"][0]["code"] == "WEBHOOK_ENDPOINT_DISABLED"
        again = (await api(UPDATE, i={"id": endpoint_id, "enabled": True}))["updateWebhookEndpoint"]["endpoint"]
        assert (again["enabled"], again["disabledReason"], again["failingSince"]) == (True, None, None)
    assert len(receiver.received) == 1


async def test_a_hanging_receiver_times_out_and_the_next_delivery_still_goes(tenant, receiver) -> None:
    api = tenant.api
    async with WebhookReceiver(delay=60) as hanging:
        slow_id, _ = await endpoint(api, hanging.url, ["customer.created"])
        fast_id, _ = await endpoint(api, receiver.url, ["customer.created"])
        started = time.monotonic()
        for n in range(3):
            await customer(api, uid(f"hang-{n}"))
        await until(lambda: _count(receiver, 3), within=20)
        slow = [d for d in await settled(api, slow_id, 3) if d["attempt"] == 1]
        assert len(slow) == 3
        assert time.monotonic() - started < 20  # three 60 s hangs did not hold anything for a minute
        assert all(d["status"] == "FAILED" and d["responseStatus"] is None for d in slow)
        assert all("no answer within 3 s" in d["error"] for d in slow)
        assert all(d["nextAttemptAt"] for d in slow)  # each retried later, like any failure
        fast = await settled(api, fast_id, 3)
        assert [d["status"] for d in fast] == ["SUCCEEDED"] * 3


async def _count(receiver: WebhookReceiver, n: int) -> bool:
    return len(receiver.received) >= n


async def test_redeliver_sends_the_same_event_again(tenant, other_tenant, receiver) -> None:
    api = tenant.api
    endpoint_id, secret = await endpoint(api, receiver.url, ["customer.created"])
    await customer(api, uid("again"))
    original = (await settled(api, endpoint_id, 1))[0]
    foreign = (await other_tenant.api(REDELIVER, id=original["id"]))["redeliverWebhook"]
    assert foreign["delivery"] is None and foreign["userErrors"][0]["code"] == "NOT_FOUND"
    again = (await api(REDELIVER, id=original["id"]))["redeliverWebhook"]
    assert again["userErrors"] == []
    assert (again["delivery"]["eventId"], again["delivery"]["attempt"], again["delivery"]["manual"]) == (
        original["eventId"], 2, True)
    await receiver.wait_for(lambda r: len(receiver.received) >= 2, within=15)
    first, second = receiver.received[:2]
    assert verified(secret, first) == verified(secret, second)
    assert second.header("webhook-id") == original["eventId"]
    log = await settled(api, endpoint_id, 2)
    assert sorted((d["attempt"], d["status"], d["manual"]) for d in log) == [(1, "SUCCEEDED", False),
                                                                           (2, "SUCCEEDED", True)]
    bad = (await api(REDELIVER, id="not-an-id"))["redeliverWebhook"]
    assert bad["userErrors"] == [{"field": ["input", "deliveryId"], "code": "INVALID_ID", "message": "not a valid id"}]


async def test_another_organizations_endpoints_and_deliveries_are_invisible(tenant, other_tenant, receiver) -> None:
    endpoint_id, _ = await endpoint(tenant.api, receiver.url, ["customer.created"])
    await customer(tenant.api, uid("mine"))
    await settled(tenant.api, endpoint_id, 1)
    other = other_tenant.api
    assert (await other(ENDPOINTS))["webhookEndpoints"] == {"totalCount": 0, "nodes": []}
    assert await deliveries(other, endpoint_id) == []
    assert (await other(DELIVERIES))["webhookDeliveries"]["totalCount"] == 0
    for mutation, variables, name in ((UPDATE, {"i": {"id": endpoint_id, "enabled": False}}, "updateWebhookEndpoint"),
                                      (DELETE, {"id": endpoint_id}, "deleteWebhookEndpoint")):
        answer = (await other(mutation, **variables))[name]
        assert answer["endpoint"] is None and answer["userErrors"] == [{"field": ["input", "id"], "code": "NOT_FOUND"}]
    await customer(other, uid("theirs"))  # the other organization's change is not sent to our endpoint
    assert len(await deliveries(tenant.api, endpoint_id)) == 1
    gone = (await tenant.api(DELETE, id=endpoint_id))["deleteWebhookEndpoint"]
    assert gone == {"endpoint": {"id": endpoint_id}, "userErrors": []}
    assert (await tenant.api(ENDPOINTS))["webhookEndpoints"]["totalCount"] == 0


async def test_bad_endpoints_are_refused_with_a_reason(tenant) -> None:
    api = tenant.api
    cases = [
        ({"url": "ftp://example.com/hook", "eventTypes": ["invoice.paid"]}, ["input", "url"], "INVALID_WEBHOOK_URL"),
        ({"url": "https://example.com/hook", "eventTypes": ["invoice.exploded"]}, ["input", "eventTypes"],
         "INVALID_EVENT_TYPE"),
        ({"url": "https://example.com/hook", "eventTypes": []}, ["input", "eventTypes"], "NO_EVENT_TYPES"),
        ({"url": "https://example.com/" + "a" * 2100, "eventTypes": ["invoice.paid"]}, ["input", "url"],
         "INVALID_WEBHOOK_URL"),
    ]
    for given, field, code in cases:
        data = (await api(CREATE, i=given))["createWebhookEndpoint"]
        assert data["endpoint"] is None and data["secret"] is None
        assert [(e["field"], e["code"]) for e in data["userErrors"]] == [(field, code)], given
    assert (await api(ENDPOINTS))["webhookEndpoints"]["totalCount"] == 0


async def test_private_targets_are_refused_unless_the_setting_allows_them(stack, tenant) -> None:
    api_process = start_api(stack, "api-no-private-webhooks", WEBHOOK_ALLOW_PRIVATE_TARGETS="false",
                            WEB_CONCURRENCY="1")
    try:
        strict = tenant.api.__class__(f"{api_process.url}/graphql", tenant.api_key)
        for url in ("http://127.0.0.1:8080/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook",
                    "https://[::1]/hook", "https://localhost/hook", "http://example.com/hook"):
            data = (await strict(CREATE, i={"url": url, "eventTypes": ["invoice.paid"]}))["createWebhookEndpoint"]
            assert data["endpoint"] is None, url
            assert [e["code"] for e in data["userErrors"]] == ["INVALID_WEBHOOK_URL"], url
        allowed = (await strict(CREATE, i={"url": "https://hooks.example.com/in", "eventTypes": ["invoice.paid"]}))
        assert allowed["createWebhookEndpoint"]["userErrors"] == []
    finally:
        api_process.stop()
    # With the setting (the test stack's), a local receiver is a valid target.
    ok = (await tenant.api(CREATE, i={"url": "http://127.0.0.1:8080/hook", "eventTypes": ["invoice.paid"]}))
    assert ok["createWebhookEndpoint"]["userErrors"] == []


async def test_the_secret_is_sealed_for_its_own_row(stack, tenant, receiver) -> None:
    """A sealed secret copied onto another endpoint's row does not open there (the row id is bound in)."""
    a, _ = await endpoint(tenant.api, receiver.url, ["customer.created"])
    b, _ = await endpoint(tenant.api, receiver.url, ["customer.created"])
    box = SecretBox.from_settings(None, None, stack.secret_key)
    conn = await asyncpg.connect(stack.database_url)
    try:
        sealed_a = await conn.fetchval("SELECT secret_sealed FROM webhook_endpoints WHERE id = $1::uuid", a)
    finally:
        await conn.close()
    assert box.open(sealed_a, context=f"webhook_endpoint:{a}").startswith("whsec_")
    with pytest.raises(ValueError):
        box.open(sealed_a, context=f"webhook_endpoint:{b}")


async def test_subscription_events_carry_the_subscription_with_its_plan_and_customer(tenant, receiver) -> None:
    api = tenant.api
    kinds = ["subscription.created", "subscription.updated", "subscription.terminated"]
    endpoint_id, secret = await endpoint(api, receiver.url, kinds)
    code, ext, sub = uid("hooked-plan"), uid("subscriber"), uid("sub")
    await plan(api, code, [], amount="30")
    await customer(api, ext, timezone="UTC")
    await subscribe(api, ext, code, sub)
    renamed = await api('mutation($s: String!) { updateSubscription(input: {externalId: $s, name: "Team"}) '
                        "{ userErrors { code } } }", s=sub)
    assert renamed["updateSubscription"]["userErrors"] == []
    ended = await api("mutation($s: String!) { terminateSubscription(input: {externalId: $s}) "
                      "{ subscription { status } userErrors { code } } }", s=sub)
    assert ended["terminateSubscription"]["userErrors"] == []
    await settled(api, endpoint_id, 3)
    bodies = {b["type"]: b for b in (verified(secret, r) for r in receiver.received)}
    assert set(bodies) == set(kinds)
    created = bodies["subscription.created"]["data"]
    assert created["externalId"] == sub and created["plan"]["code"] == code
    assert created["customer"]["externalId"] == ext and created["status"] == "ACTIVE"
    assert bodies["subscription.updated"]["data"]["name"] == "Team"
    terminated = bodies["subscription.terminated"]["data"]
    assert terminated["status"] == "TERMINATED" and terminated["terminatedAt"]
