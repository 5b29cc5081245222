"""Outbound webhook events of collection and dunning, received by a real receiver: invoice.payment_failed,
invoice.payment_action_required, payment.succeeded, payment.failed, payment.refunded, dunning.exhausted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.fakes.receiver import WebhookReceiver
from tests.graph.billing_scenario_helpers import invoices_of, mutate
from tests.graph.test_dunning import PERIOD_END, UPDATE, clock_customer
from tests.graph.test_payments import invoice_of, settled, stripe_tenant
from tests.graph.test_test_clocks import advance
from tests.graph.test_webhooks import endpoint, verified
from tests.graph.test_webhooks import settled as delivered

PAYMENT_EVENTS = ["invoice.payment_failed", "invoice.payment_action_required", "payment.succeeded", "payment.failed",
                  "payment.refunded", "dunning.exhausted", "invoice.uncollectible"]
REFUND = """mutation($id: ID!, $amount: Decimal!) { refundPayment(input: {paymentId: $id, amount: $amount}) {
  payment { id refundedAmount } userErrors { field code message } } }"""
PAYMENTS = """query($id: ID!) { invoice(id: $id) { payments { id } } }"""


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


def bodies(secret: str, receiver) -> list[dict]:
    return [verified(secret, r) for r in receiver.received]


async def test_a_declined_charge_is_the_invoices_payment_failed_and_the_payments_failure(tenant, receiver):
    endpoint_id, secret = await endpoint(tenant.api, receiver.url, PAYMENT_EVENTS)
    await stripe_tenant(tenant, "pm_card_chargeDeclinedInsufficientFunds")
    invoice = await settled(tenant, (await invoice_of(tenant, "50"))["id"])
    await delivered(tenant.api, endpoint_id, 2)
    events = {b["type"]: b for b in bodies(secret, receiver)}
    assert set(events) == {"invoice.payment_failed", "payment.failed"}
    failed_invoice = events["invoice.payment_failed"]["data"]
    assert (failed_invoice["id"], failed_invoice["status"], failed_invoice["amountDue"]) == (invoice["id"], "OPEN",
                                                                                               "50.00")
    attempt = events["payment.failed"]["data"]
    assert (attempt["invoiceId"], attempt["number"], attempt["status"], attempt["declineCode"], attempt["amount"]) == (
        invoice["id"], 1, "FAILED", "insufficient_funds", "50.00")
    assert attempt["hardDecline"] is False


async def test_a_paid_and_refunded_charge_is_payment_succeeded_then_payment_refunded(tenant, receiver):
    endpoint_id, secret = await endpoint(tenant.api, receiver.url, PAYMENT_EVENTS)
    await stripe_tenant(tenant, "pm_card_visa")
    invoice = await settled(tenant, (await invoice_of(tenant, "80"))["id"])
    [payment] = (await tenant.api(PAYMENTS, id=invoice["id"]))["invoice"]["payments"]
    refunded = (await tenant.api(REFUND, id=payment["id"], amount="30"))["refundPayment"]
    assert refunded["userErrors"] == [] and refunded["payment"]["refundedAmount"] == "30.00"
    await delivered(tenant.api, endpoint_id, 2)
    events = {b["type"]: b["data"] for b in bodies(secret, receiver)}
    assert set(events) == {"payment.succeeded", "payment.refunded"}
    assert (events["payment.succeeded"]["id"], events["payment.succeeded"]["amount"]) == (payment["id"], "80.00")
    assert events["payment.succeeded"]["invoiceId"] == invoice["id"]
    assert (events["payment.refunded"]["id"], events["payment.refunded"]["refundedAmount"]) == (payment["id"], "30.00")


async def test_a_card_that_needs_3d_secure_is_payment_action_required(tenant, receiver):
    endpoint_id, secret = await endpoint(tenant.api, receiver.url, PAYMENT_EVENTS)
    await stripe_tenant(tenant, "pm_card_authenticationRequired")
    invoice = await settled(tenant, (await invoice_of(tenant))["id"])
    await delivered(tenant.api, endpoint_id, 1)
    [event] = bodies(secret, receiver)
    assert (event["type"], event["data"]["id"], event["data"]["status"]) == (
        "invoice.payment_action_required", invoice["id"], "OPEN")


async def test_a_spent_schedule_is_dunning_exhausted(test_tenant, receiver):
    api = test_tenant.api
    await mutate(api, UPDATE, "updateDunningCampaign", input={"retryIntervals": ["P1D"], "maxAttempts": 2})
    endpoint_id, secret = await endpoint(api, receiver.url, ["dunning.exhausted", "invoice.uncollectible"])
    clock, who, _sub, _key = await clock_customer(test_tenant, "pm_card_chargeDeclinedInsufficientFunds")
    await advance(api, clock, PERIOD_END + timedelta(days=1))
    [opened] = await invoices_of(api, who)
    await delivered(api, endpoint_id, 2)
    events = {b["type"]: b["data"] for b in bodies(secret, receiver)}
    assert set(events) == {"dunning.exhausted", "invoice.uncollectible"}
    assert (events["dunning.exhausted"]["id"], events["dunning.exhausted"]["status"]) == (opened["id"],
                                                                                          "UNCOLLECTIBLE")
