"""An ACH debit that settled (the invoice PAID) and is returned by the customer's bank days later (R01)."""

from __future__ import annotations

import httpx

from tests.graph.billing_scenario_helpers import mutate
from tests.graph.test_payments import COLLECT, INVOICE, charges_at_fake, invoice_of, stripe_with_webhooks, until_invoice

AUDIT = """query($t: String) { auditLogs(targetId: $t) { nodes { action before after } } }"""


async def settled_ach_invoice(tenant, stack, amount: str = "250") -> tuple[str, dict]:
    key, _ = await stripe_with_webhooks(tenant, stack, "pm_usBankAccount_success")
    opened = await invoice_of(tenant, amount)
    processing = await until_invoice(tenant, opened["id"], lambda i: i["paymentStatus"] == "PROCESSING")
    pi = processing["payments"][0]["providerPaymentId"]
    async with httpx.AsyncClient() as client:
        settled = await client.post(f"{stack.stripe_url}/_control/payment_intents/{pi}/settle", json={})
        assert settled.json()["status"] == "succeeded"
    paid = await until_invoice(tenant, opened["id"], lambda i: i["status"] == "PAID")
    assert (paid["paymentStatus"], paid["amountPaid"]) == ("SUCCEEDED", amount + ".00")
    return key, paid


async def test_an_ach_debit_returned_r01_after_the_invoice_was_paid_reopens_it(tenant, stack):
    key, paid = await settled_ach_invoice(tenant, stack)
    pi = paid["payments"][0]["providerPaymentId"]
    async with httpx.AsyncClient() as client:
        returned = await client.post(f"{stack.stripe_url}/_control/payment_intents/{pi}/return", json={"code": "R01"})
        assert returned.status_code == 200 and returned.json()["reason"] == "insufficient_funds"
    reopened = await until_invoice(tenant, paid["id"], lambda i: i["status"] != "PAID")
    assert (reopened["status"], reopened["paymentStatus"], reopened["amountPaid"], reopened["paidAt"]) == (
        "OPEN",
        "FAILED",
        "0.00",
        None,
    )
    assert [(p["status"], p["amount"]) for p in reopened["payments"]] == [("RETURNED", "250.00")]
    [attempt] = reopened["paymentAttempts"]
    assert (attempt["status"], attempt["declineCode"]) == ("SUCCEEDED", "insufficient_funds")
    entries = (await tenant.api(AUDIT, t=paid["id"]))["auditLogs"]["nodes"]
    [entry] = [e for e in entries if e["action"] == "invoice.reopened"]
    assert (entry["before"]["status"], entry["after"]["status"]) == ("PAID", "OPEN")
    assert (entry["after"]["amountPaidMinor"], entry["after"]["reason"]) == (0, "insufficient_funds")
    # Open again: it can be collected again (a new attempt, a second charge at Stripe — not the first one twice).
    again = (await tenant.api(COLLECT, id=paid["id"]))["collectInvoice"]
    assert again["userErrors"] == []
    assert [a["number"] for a in again["invoice"]["paymentAttempts"]] == [1, 2]
    assert len(await charges_at_fake(stack, key)) == 2


async def test_the_return_delivered_twice_changes_the_invoice_once(tenant, stack):
    _, paid = await settled_ach_invoice(tenant, stack, "80")
    pi = paid["payments"][0]["providerPaymentId"]
    async with httpx.AsyncClient() as client:
        await client.post(f"{stack.stripe_url}/_control/payment_intents/{pi}/return", json={"code": "R01"})
        await until_invoice(tenant, paid["id"], lambda i: i["status"] == "OPEN")
        deliveries = (await client.get(f"{stack.stripe_url}/_control/deliveries")).json()
        url = f"{stack.api_url}/webhooks/stripe/{tenant.organization_id}"
        [dispute] = [d for d in deliveries if d["event_type"] == "charge.dispute.created" and d["url"] == url]
        resent = await client.post(f"{stack.stripe_url}/_control/events/{dispute['event_id']}/resend", json={})
        assert resent.status_code == 200
        await client.post(f"{stack.stripe_url}/_control/drain")
    invoice = (await tenant.api(INVOICE, id=paid["id"]))["invoice"]
    assert (invoice["status"], invoice["paymentStatus"], invoice["amountPaid"]) == ("OPEN", "FAILED", "0.00")
    entries = (await tenant.api(AUDIT, t=paid["id"]))["auditLogs"]["nodes"]
    assert [e["action"] for e in entries].count("invoice.reopened") == 1


WALLET = """query { wallet(customerExternalId: "acme") { balance } }"""
INVOICES = """query { invoices(customerExternalId: "acme") { nodes { id } } }"""


async def test_credits_bought_with_a_returned_ach_debit_leave_the_wallet_until_paid_again(tenant, stack):
    await stripe_with_webhooks(tenant, stack, "pm_usBankAccount_success")
    api = tenant.api
    await mutate(api, 'mutation { createWallet(input: {customerExternalId: "acme"}) { wallet { id } '
                      "userErrors { field code message } } }", "createWallet")
    await mutate(api, 'mutation { topUpWallet(input: {customerExternalId: "acme", paidCredits: "100"}) '
                      "{ wallet { balance } userErrors { field code message } } }", "topUpWallet")
    [purchase] = (await api(INVOICES))["invoices"]["nodes"]
    processing = await until_invoice(tenant, purchase["id"], lambda i: i["paymentStatus"] == "PROCESSING")
    pi = processing["payments"][0]["providerPaymentId"]
    async with httpx.AsyncClient() as client:
        await client.post(f"{stack.stripe_url}/_control/payment_intents/{pi}/settle", json={})
        await until_invoice(tenant, purchase["id"], lambda i: i["status"] == "PAID")
        assert (await api(WALLET))["wallet"]["balance"] == "100.00"
        await client.post(f"{stack.stripe_url}/_control/payment_intents/{pi}/return", json={"code": "R01"})
    await until_invoice(tenant, purchase["id"], lambda i: i["status"] == "OPEN")
    assert (await api(WALLET))["wallet"]["balance"] == "0.00"  # the credits were never paid for
    taken_back = 'query { auditLogs(action: "wallet.credits_taken_back") { nodes { before after } } }'
    [taken] = (await api(taken_back))["auditLogs"]["nodes"]
    assert (taken["before"]["balanceMinor"], taken["after"]["takenMinor"]) == (10000, 10000)
    # Paid again (here by hand): the credits come back once.
    paid = await mutate(api, "mutation($id: ID!) { recordPayment(input: {invoiceId: $id, amount: \"100\", "
                             "method: WIRE}) { payment { status } userErrors { field code message } } }",
                        "recordPayment", id=purchase["id"])
    assert paid["payment"]["status"] == "SUCCEEDED"
    assert (await api(INVOICE, id=purchase["id"]))["invoice"]["status"] == "PAID"
    assert (await api(WALLET))["wallet"]["balance"] == "100.00"


async def test_a_card_dispute_leaves_the_invoice_paid_and_a_dispute_won_gives_the_payment_back(tenant, stack):
    await stripe_with_webhooks(tenant, stack, "pm_card_visa")
    opened = await invoice_of(tenant, "75")
    paid = await until_invoice(tenant, opened["id"], lambda i: i["status"] == "PAID")
    pi = paid["payments"][0]["providerPaymentId"]
    async with httpx.AsyncClient() as client:
        # The cardholder disputes the charge (for a card, the dispute needs a response: it may still be won).
        await client.post(f"{stack.stripe_url}/_control/payment_intents/{pi}/return", json={"code": "R10"})
        disputed = await until_invoice(tenant, opened["id"], lambda i: i["payments"][0]["status"] == "RETURNED")
        assert (disputed["status"], disputed["amountPaid"]) == ("PAID", "0.00")  # held, not yet lost
        closed = await client.post(f"{stack.stripe_url}/_control/payment_intents/{pi}/close_dispute",
                                   json={"status": "won"})
        assert closed.status_code == 200 and closed.json()["status"] == "won"
    won = await until_invoice(tenant, opened["id"], lambda i: i["payments"][0]["status"] == "SUCCEEDED")
    assert (won["status"], won["amountPaid"], won["paymentStatus"]) == ("PAID", "75.00", "SUCCEEDED")
    entries = (await tenant.api(AUDIT, t=opened["id"]))["auditLogs"]["nodes"]
    assert [e["action"] for e in entries].count("payment.webhook.payment_reinstated") == 1


async def test_a_dispute_sent_before_the_charges_answer_is_refused_for_now_and_applied_when_sent_again(tenant, stack):
    """Stripe may send an event before the API call that caused it has answered. A dispute of a payment not recorded
    yet is answered 409 and nothing of it is kept, so that the provider's next delivery of it is applied."""
    await stripe_with_webhooks(tenant, stack, "pm_card_createDispute", events="charge.dispute.created")
    late = {"kind": "late_answer", "seconds": 3, "path_prefix": "/v1/payment_intents", "method": "POST", "count": 1}
    async with httpx.AsyncClient() as client:
        assert (await client.post(f"{stack.stripe_url}/_control/faults", json=late)).status_code == 201
        try:
            opened = await invoice_of(tenant, "60")
            paid = await until_invoice(tenant, opened["id"], lambda i: i["status"] == "PAID")
        finally:
            await client.delete(f"{stack.stripe_url}/_control/faults")
        assert paid["payments"][0]["status"] == "SUCCEEDED"  # the charge's answer; the dispute was not applied
        deliveries = (await client.get(f"{stack.stripe_url}/_control/deliveries")).json()
        url = f"/webhooks/stripe/{tenant.organization_id}"
        [early] = [d for d in deliveries if d["url"].endswith(url) and d["event_type"] == "charge.dispute.created"]
        assert early["status"] == 409
        resent = await client.post(f"{stack.stripe_url}/_control/events/{early['event_id']}/resend", json={})
        assert resent.status_code == 200
        await client.post(f"{stack.stripe_url}/_control/drain")
        deliveries = (await client.get(f"{stack.stripe_url}/_control/deliveries")).json()
    again = [d for d in deliveries if d["event_id"] == early["event_id"]]
    assert [d["status"] for d in again] == [409, 200]
    disputed = await until_invoice(tenant, opened["id"], lambda i: i["payments"][0]["status"] == "RETURNED")
    assert (disputed["status"], disputed["amountPaid"]) == ("PAID", "0.00")  # held, as a dispute is, not lost
    entries = (await tenant.api(AUDIT, t=opened["id"]))["auditLogs"]["nodes"]
    assert [e["action"] for e in entries].count("payment.webhook.payment_returned") == 1
