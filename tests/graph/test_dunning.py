"""Dunning through the public API: the campaign, retries on a test clock's time (never sleeping), hard declines,
the final action, recovery, and a retry job that runs twice but charges once."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.client import Api, TransportQueryError
from tests.db import scalar
from tests.graph.billing_scenario_helpers import invoices_of, make_plan, mutate
from tests.graph.catalog_helpers import customer, subscribe, uid
from tests.graph.test_access_matrix import CREATE_KEY
from tests.graph.test_payments import (
    COLLECT,
    CONFIGURE,
    SET_METHOD,
    charges_at_fake,
    invoice_of,
    settled,
    stripe_tenant,
)
from tests.graph.test_test_clocks import advance, create_clock

START = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD_END = datetime(2025, 2, 1, tzinfo=UTC)

CAMPAIGN = """{ dunningCampaign { enabled retryIntervals maxAttempts reminderEmails finalAction plannedOffsets } }"""
UPDATE = """mutation($input: UpdateDunningCampaignInput!) { updateDunningCampaign(input: $input) {
  dunningCampaign { enabled retryIntervals maxAttempts reminderEmails finalAction plannedOffsets }
  userErrors { field code message } } }"""
INVOICE = """query($id: ID!) { invoice(id: $id) { id status paymentStatus amountPaid nextPaymentAttemptAt dunningStatus
  markedUncollectibleAt
  paymentAttempts { number status declineCode hardDecline createdAt } } }"""
SUBSCRIPTION = """query($id: String!) { subscription(externalId: $id) { status } }"""
AUDIT = """query($action: String!) { auditLogs(action: $action, first: 50) { nodes { action targetId after } } }"""

DEFAULT = {
    "enabled": True,
    "retryIntervals": ["P1D", "P2D", "P2D", "P2D", "P2D", "P2D", "P3D"],
    "maxAttempts": 8,
    "reminderEmails": True,
    "finalAction": "MARK_UNCOLLECTIBLE",
    "plannedOffsets": ["P0D", "P1D", "P3D", "P5D", "P7D", "P9D", "P11D", "P14D"],
}


async def test_the_default_campaign_is_eight_attempts_within_fourteen_days(tenant):
    assert (await tenant.api(CAMPAIGN))["dunningCampaign"] == DEFAULT


async def test_a_campaign_is_updated_and_read_back(tenant):
    updated = await mutate(
        tenant.api,
        UPDATE,
        "updateDunningCampaign",
        input={"retryIntervals": ["PT12H", "P2D"], "maxAttempts": 4, "finalAction": "BOTH", "reminderEmails": False},
    )
    expected = {
        "enabled": True,
        "retryIntervals": ["PT12H", "P2D"],
        "maxAttempts": 4,
        "reminderEmails": False,
        "finalAction": "BOTH",
        "plannedOffsets": ["P0D", "PT12H", "P2DT12H", "P4DT12H"],
    }
    assert updated["dunningCampaign"] == expected
    assert (await tenant.api(CAMPAIGN))["dunningCampaign"] == expected
    # Only what is given changes.
    again = await mutate(tenant.api, UPDATE, "updateDunningCampaign", input={"enabled": False})
    assert again["dunningCampaign"] == {**expected, "enabled": False}
    [entry, *_] = (await tenant.api(AUDIT, action="dunning_campaign.updated"))["auditLogs"]["nodes"]
    assert entry["after"]["enabled"] is False


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"retryIntervals": ["P1M"]}, ["input", "retryIntervals", "0"], "INVALID_DURATION"),
        ({"retryIntervals": ["P1D", "P1Y"]}, ["input", "retryIntervals", "1"], "INVALID_DURATION"),
        ({"retryIntervals": ["tomorrow"]}, ["input", "retryIntervals", "0"], "INVALID_DURATION"),
        ({"retryIntervals": ["PT30S"]}, ["input", "retryIntervals", "0"], "INVALID_RETRY_SCHEDULE"),
        ({"maxAttempts": 0}, ["input", "maxAttempts"], "INVALID_RETRY_SCHEDULE"),
        ({"maxAttempts": 21}, ["input", "maxAttempts"], "INVALID_RETRY_SCHEDULE"),
        ({"maxAttempts": 3, "retryIntervals": []}, ["input", "retryIntervals"], "INVALID_RETRY_SCHEDULE"),
    ],
)
async def test_bad_campaigns_are_refused_and_nothing_is_written(tenant, stack, change, field, code):
    answer = (await tenant.api(UPDATE, input={"finalAction": "NONE", **change}))["updateDunningCampaign"]
    assert answer["dunningCampaign"] is None
    [error] = answer["userErrors"]
    assert (error["field"], error["code"]) == (field, code) and error["message"]
    assert (await tenant.api(CAMPAIGN))["dunningCampaign"] == DEFAULT
    stored = await scalar(
        stack.database_url, "SELECT count(*) FROM dunning_campaigns WHERE organization_id = $1", tenant.organization_id
    )
    assert stored == 0


async def test_managing_the_campaign_needs_the_role_that_manages_payments(tenant):
    created = (await tenant.api(CREATE_KEY, input={"name": "finance", "role": "FINANCE"}))["createApiKey"]
    finance = Api(tenant.api.url, created["secret"])
    assert (await finance(CAMPAIGN))["dunningCampaign"] == DEFAULT  # reading is open to the organization
    with pytest.raises(TransportQueryError) as refused:
        await finance(UPDATE, input={"maxAttempts": 3})
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await tenant.api(CAMPAIGN))["dunningCampaign"] == DEFAULT


# --- on a test clock ---------------------------------------------------------------------------------


async def clock_customer(tenant, card: str) -> tuple[dict, str, str, str]:
    """A TEST organization with Stripe, a clock at START, a customer on it paying with `card`, subscribed monthly."""
    api = tenant.api
    key = f"sk_test_{secrets.token_hex(12)}"
    configured = (await api(CONFIGURE, input={"provider": "STRIPE", "secretKey": key}))["configurePaymentProvider"]
    assert configured["userErrors"] == []
    clock = await create_clock(api, START)
    who, plan, sub = uid("cust"), uid("plan"), uid("sub")
    await make_plan(api, plan, "Monthly", "49.00")
    await customer(api, who, testClockId=clock["id"], currency="USD", email="ap@example.test")
    saved = (await api(SET_METHOD, input={"customerExternalId": who, "provider": "STRIPE",
                                          "providerPaymentMethodId": card}))["setCustomerPaymentMethod"]
    assert saved["userErrors"] == [], saved
    await subscribe(api, who, plan, sub)
    return clock, who, sub, key


def days_after(first: str, created: list[str]) -> list[float]:
    start = datetime.fromisoformat(first)
    return [(datetime.fromisoformat(c) - start) / timedelta(days=1) for c in created]


async def test_a_soft_decline_is_retried_on_the_schedule_then_the_final_action_applies(test_tenant, stack):
    api = test_tenant.api
    clock, who, sub, key = await clock_customer(test_tenant, "pm_card_chargeDeclinedInsufficientFunds")

    await advance(api, clock, PERIOD_END)
    [opened] = await invoices_of(api, who)
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    [first] = invoice["paymentAttempts"]
    assert (first["number"], first["status"], first["declineCode"]) == (1, "FAILED", "insufficient_funds")
    assert (invoice["status"], invoice["paymentStatus"], invoice["dunningStatus"]) == ("OPEN", "FAILED", "RETRYING")
    assert datetime.fromisoformat(invoice["nextPaymentAttemptAt"]) == PERIOD_END + timedelta(days=1)
    assert (await api(SUBSCRIPTION, id=sub))["subscription"]["status"] == "PAST_DUE"

    # 14 days in a few advances (an advance runs in its request: each here stays short on a busy machine).
    for days in (2, 6, 10, 12, 14):
        await advance(api, clock, PERIOD_END + timedelta(days=days))
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    attempts = invoice["paymentAttempts"]
    assert [a["number"] for a in attempts] == list(range(1, 9))
    assert all(a["status"] == "FAILED" for a in attempts)
    # Attempts are made at the clock's moments: days 0, 1, 3, 5, 7, 9, 11 and 14 after the first.
    assert days_after(PERIOD_END.isoformat(), [a["createdAt"] for a in attempts]) == [0, 1, 3, 5, 7, 9, 11, 14]
    assert (invoice["status"], invoice["dunningStatus"], invoice["nextPaymentAttemptAt"]) == (
        "UNCOLLECTIBLE",
        "EXHAUSTED",
        None,
    )
    [exhausted] = (await api(AUDIT, action="dunning.exhausted"))["auditLogs"]["nodes"]
    assert exhausted["targetId"] == opened["id"] and exhausted["after"]["finalAction"] == "MARK_UNCOLLECTIBLE"
    assert len(await charges_at_fake(stack, key)) == 8
    # Given up on at the last attempt, by the customer's clock.
    assert datetime.fromisoformat(invoice["markedUncollectibleAt"]) == PERIOD_END + timedelta(days=14)

    # Time goes on: nothing more is charged for this invoice.
    await advance(api, clock, PERIOD_END + timedelta(days=20))
    assert len((await api(INVOICE, id=opened["id"]))["invoice"]["paymentAttempts"]) == 8


async def test_a_new_card_recovers_the_invoice_at_the_next_retry(test_tenant, stack):
    api = test_tenant.api
    clock, who, sub, key = await clock_customer(test_tenant, "pm_card_chargeDeclinedInsufficientFunds")
    await advance(api, clock, PERIOD_END + timedelta(days=1, hours=1))  # attempts 1 and 2 fail
    [opened] = await invoices_of(api, who)
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    assert [a["status"] for a in invoice["paymentAttempts"]] == ["FAILED", "FAILED"]
    assert datetime.fromisoformat(invoice["nextPaymentAttemptAt"]) == PERIOD_END + timedelta(days=3)

    saved = (await api(SET_METHOD, input={"customerExternalId": who, "provider": "STRIPE",
                                          "providerPaymentMethodId": "pm_card_visa"}))["setCustomerPaymentMethod"]
    assert saved["userErrors"] == []
    await advance(api, clock, PERIOD_END + timedelta(days=3))
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    assert [a["status"] for a in invoice["paymentAttempts"]] == ["FAILED", "FAILED", "SUCCEEDED"]
    assert (invoice["status"], invoice["amountPaid"], invoice["dunningStatus"], invoice["nextPaymentAttemptAt"]) == (
        "PAID",
        "49.00",
        "RECOVERED",
        None,
    )
    assert (await api(SUBSCRIPTION, id=sub))["subscription"]["status"] == "ACTIVE"
    [recovered] = (await api(AUDIT, action="dunning.recovered"))["auditLogs"]["nodes"]
    assert recovered["targetId"] == opened["id"]

    await advance(api, clock, PERIOD_END + timedelta(days=20))  # the retries that were planned do nothing
    assert len((await api(INVOICE, id=opened["id"]))["invoice"]["paymentAttempts"]) == 3
    assert len(await charges_at_fake(stack, key)) == 3


async def test_a_hard_decline_stops_retries_and_the_final_action_waits_for_the_window(test_tenant, stack):
    api = test_tenant.api
    await mutate(api, UPDATE, "updateDunningCampaign", input={"finalAction": "BOTH"})
    clock, who, sub, key = await clock_customer(test_tenant, "pm_card_chargeDeclinedStolenCard")
    await advance(api, clock, PERIOD_END + timedelta(days=13))
    [opened] = await invoices_of(api, who)
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    [attempt] = invoice["paymentAttempts"]
    assert (attempt["declineCode"], attempt["hardDecline"]) == ("stolen_card", True)
    assert (invoice["status"], invoice["dunningStatus"], invoice["nextPaymentAttemptAt"]) == (
        "OPEN",
        "AWAITING_METHOD",
        None,
    )
    assert (await api(SUBSCRIPTION, id=sub))["subscription"]["status"] == "PAST_DUE"

    await advance(api, clock, PERIOD_END + timedelta(days=14))
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    assert (invoice["status"], invoice["dunningStatus"], len(invoice["paymentAttempts"])) == (
        "UNCOLLECTIBLE",
        "EXHAUSTED",
        1,
    )
    assert (await api(SUBSCRIPTION, id=sub))["subscription"]["status"] == "CANCELED"
    [exhausted] = (await api(AUDIT, action="dunning.exhausted"))["auditLogs"]["nodes"]
    assert exhausted["after"]["finalAction"] == "BOTH"
    assert len(await charges_at_fake(stack, key)) == 1


async def test_a_new_card_after_a_hard_decline_is_tried_at_once_and_recovers_the_invoice(test_tenant, stack):
    api = test_tenant.api
    clock, who, sub, key = await clock_customer(test_tenant, "pm_card_chargeDeclinedStolenCard")
    await advance(api, clock, PERIOD_END + timedelta(days=2))
    [opened] = await invoices_of(api, who)
    assert (await api(INVOICE, id=opened["id"]))["invoice"]["dunningStatus"] == "AWAITING_METHOD"

    saved = (await api(SET_METHOD, input={"customerExternalId": who, "provider": "STRIPE",
                                          "providerPaymentMethodId": "pm_card_visa"}))["setCustomerPaymentMethod"]
    assert saved["userErrors"] == []
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    # Planned at the clock's time, not the machine's: the next moment of the clock charges it.
    assert (invoice["dunningStatus"], invoice["nextPaymentAttemptAt"]) == (
        "RETRYING",
        (PERIOD_END + timedelta(days=2)).isoformat(),
    )
    await advance(api, clock, PERIOD_END + timedelta(days=2, minutes=1))
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    assert [a["status"] for a in invoice["paymentAttempts"]] == ["FAILED", "SUCCEEDED"]
    assert (invoice["status"], invoice["dunningStatus"]) == ("PAID", "RECOVERED")
    assert (await api(SUBSCRIPTION, id=sub))["subscription"]["status"] == "ACTIVE"
    await advance(api, clock, PERIOD_END + timedelta(days=15))  # the end of the old window changes nothing
    assert (await api(INVOICE, id=opened["id"]))["invoice"]["status"] == "PAID"
    assert len(await charges_at_fake(stack, key)) == 2


async def test_collecting_a_clock_customers_invoice_by_hand_happens_at_the_clocks_time(test_tenant, stack):
    api = test_tenant.api
    clock, who, _, _ = await clock_customer(test_tenant, "pm_card_chargeDeclinedInsufficientFunds")
    await advance(api, clock, PERIOD_END + timedelta(hours=12))
    [opened] = await invoices_of(api, who)
    answer = (await api(COLLECT, id=opened["id"]))["collectInvoice"]
    assert answer["userErrors"] == []
    invoice = (await api(INVOICE, id=opened["id"]))["invoice"]
    assert [datetime.fromisoformat(a["createdAt"]) for a in invoice["paymentAttempts"]] == [
        PERIOD_END,
        PERIOD_END + timedelta(hours=12),
    ]
    # The schedule goes on from the clock's time: the next retry is a day after the first attempt... at the
    # earliest after the one made by hand.
    assert datetime.fromisoformat(invoice["nextPaymentAttemptAt"]) >= PERIOD_END + timedelta(hours=12)


# --- real time: the worker's jobs ------------------------------------------------------------------


async def test_a_failed_attempt_plans_a_retry_that_charges_once_however_often_it_runs(tenant, stack, operator_db):
    from valueverse.settings import Settings
    from workers.jobs.payments import retry_invoice_payment

    key = await stripe_tenant(tenant, "pm_card_chargeDeclinedInsufficientFunds")
    invoice = await settled(tenant, (await invoice_of(tenant))["id"])
    shown = (await tenant.api(INVOICE, id=invoice["id"]))["invoice"]
    assert shown["dunningStatus"] == "RETRYING"
    [first] = shown["paymentAttempts"]
    planned = datetime.fromisoformat(shown["nextPaymentAttemptAt"])
    assert abs(planned - datetime.fromisoformat(first["createdAt"]) - timedelta(days=1)) < timedelta(minutes=1)

    # The worker's deferred job runs in a day; here it runs now, three times at once and once more.
    config = Settings(secret_key=stack.secret_key, stripe_api_base=stack.stripe_url).payment_config()
    ctx = {"db": operator_db, "payments": config}
    retry = [retry_invoice_payment(ctx, tenant.organization_id, invoice["id"], 2) for _ in range(3)]
    ran = await asyncio.gather(*retry)
    assert any(ran)
    assert await retry_invoice_payment(ctx, tenant.organization_id, invoice["id"], 2) is False
    # A job for an attempt that is not the next one does nothing either.
    assert await retry_invoice_payment(ctx, tenant.organization_id, invoice["id"], 4) is False
    after = (await tenant.api(INVOICE, id=invoice["id"]))["invoice"]
    assert [(a["number"], a["status"]) for a in after["paymentAttempts"]] == [(1, "FAILED"), (2, "FAILED")]
    assert len(await charges_at_fake(stack, key)) == 2
    # Attempt 3 is planned two days after attempt 2, counted from the first attempt (day 3).
    third = datetime.fromisoformat(after["nextPaymentAttemptAt"])
    assert abs(third - datetime.fromisoformat(first["createdAt"]) - timedelta(days=3)) < timedelta(minutes=1)


async def test_the_invoices_dunning_chases_are_listed_by_their_payment_status(tenant):
    """The admin portal's dunning queue: open invoices whose last collection attempt failed."""
    await stripe_tenant(tenant, "pm_card_chargeDeclinedInsufficientFunds")
    chased = await settled(tenant, (await invoice_of(tenant, "40"))["id"])
    await customer(tenant.api, "wired", currency="USD")
    paid = await invoice_of(tenant, "15", external_id="wired")
    recorded = await tenant.api(
        """mutation($id: ID!) { recordPayment(input: {invoiceId: $id, amount: "15", method: WIRE}) {
             userErrors { code } } }""",
        id=paid["id"],
    )
    assert recorded["recordPayment"]["userErrors"] == []
    listed = """query($p: InvoicePaymentStatus) { invoices(status: OPEN, paymentStatus: $p) { totalCount
      nodes { id paymentStatus dunningStatus nextPaymentAttemptAt paymentAttempts { number status } } } }"""

    failing = (await tenant.api(listed, p="FAILED"))["invoices"]
    assert failing["totalCount"] == 1
    [row] = failing["nodes"]
    assert (row["id"], row["paymentStatus"], row["dunningStatus"]) == (chased["id"], "FAILED", "RETRYING")
    assert row["nextPaymentAttemptAt"] and row["paymentAttempts"] == [{"number": 1, "status": "FAILED"}]
    assert (await tenant.api(listed, p="SUCCEEDED"))["invoices"]["totalCount"] == 0  # paid: no longer OPEN
    everything = await tenant.api("query { invoices(paymentStatus: SUCCEEDED) { nodes { id status } } }")
    assert everything["invoices"]["nodes"] == [{"id": paid["id"], "status": "PAID"}]
