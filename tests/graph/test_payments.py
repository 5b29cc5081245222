"""Collection through the public API: the real Stripe SDK in the API and the worker, talking to the fake Stripe."""

from __future__ import annotations

import asyncio
import secrets
import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.graph.catalog_helpers import customer

CONFIGURE = """mutation($input: ConfigurePaymentProviderInput!) { configurePaymentProvider(input: $input) {
  provider mode last4 userErrors { field code message } } }"""
SET_METHOD = """mutation($input: SetCustomerPaymentMethodInput!) { setCustomerPaymentMethod(input: $input) {
  customer { externalId paymentMethods { provider providerPaymentMethodId kind brand last4 expiresAt isDefault }
             defaultPaymentMethod { providerPaymentMethodId } }
  userErrors { field code message } } }"""
ONE_OFF = """mutation($c: String!, $amount: Decimal!) { createOneOffInvoice(input: {customerExternalId: $c,
  lines: [{description: "Setup", amount: $amount}]}) { invoice { id status amountDue paymentStatus paymentReference }
  userErrors { code } } }"""
INVOICE = """query($id: ID!) { invoice(id: $id) { id status amountDue amountPaid paidAt paymentStatus paymentReference
  payments { provider method status amount refundedAmount currency providerPaymentId }
  paymentAttempts { number status amount declineCode hardDecline retryable failureMessage providerPaymentId } } }"""
COLLECT = """mutation($id: ID!) { collectInvoice(input: {id: $id}) {
  invoice { id status paymentStatus amountPaid paymentAttempts { number status } } userErrors { field code } } }"""


async def stripe_tenant(tenant, card: str, external_id: str = "acme") -> str:
    """The tenant's Stripe test key (its own account at the fake), a USD customer with `card` as default."""
    key = f"sk_test_{secrets.token_hex(12)}"
    configured = (await tenant.api(CONFIGURE, input={"provider": "STRIPE", "secretKey": key}))[
        "configurePaymentProvider"
    ]
    assert configured == {"provider": "STRIPE", "mode": "TEST", "last4": key[-4:], "userErrors": []}
    await customer(tenant.api, external_id, currency="USD", email="ap@acme.test")
    saved = (
        await tenant.api(
            SET_METHOD,
            input={"customerExternalId": external_id, "provider": "STRIPE", "providerPaymentMethodId": card},
        )
    )["setCustomerPaymentMethod"]
    assert saved["userErrors"] == [], saved
    return key


async def invoice_of(tenant, amount: str = "50", external_id: str = "acme") -> dict:
    created = (await tenant.api(ONE_OFF, c=external_id, amount=amount))["createOneOffInvoice"]
    assert created["userErrors"] == [], created
    return created["invoice"]


async def settled(tenant, invoice_id: str, within: float = 30.0) -> dict:
    """The invoice once the worker answered its first collection attempt."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        invoice = (await tenant.api(INVOICE, id=invoice_id))["invoice"]
        attempts = invoice["paymentAttempts"]
        if attempts and all(a["status"] != "PENDING" for a in attempts):
            # Read again: the invoice row above may have been read just before the attempt's commit, its
            # attempts (a second query) just after it.
            return (await tenant.api(INVOICE, id=invoice_id))["invoice"]
        assert asyncio.get_running_loop().time() < deadline, f"no answered attempt in {within} s: {invoice}"
        await asyncio.sleep(0.2)


async def charges_at_fake(stack, key: str) -> list[dict]:
    """Payment intents the fake Stripe executed for this key (not replays of a saved answer, not injected faults)."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{stack.stripe_url}/_control/requests", params={"path_prefix": "/v1/payment_intents"}
        )
    return [
        r
        for r in answer.json()
        if r["method"] == "POST"
        and r["account"] == key[-4:]
        and not r["replayed"]
        and r["fault"] is None
        and r["status"] in (200, 402)
    ]


async def test_a_visa_card_pays_the_invoice_when_it_is_finalized(tenant, stack):
    key = await stripe_tenant(tenant, "pm_card_visa")
    methods = await tenant.api("{ customers { nodes { paymentMethods { brand last4 kind isDefault } } } }")
    assert methods["customers"]["nodes"][0]["paymentMethods"] == [
        {"brand": "visa", "last4": "4242", "kind": "card", "isDefault": True}
    ]
    opened = await invoice_of(tenant, "50")
    assert opened["status"] == "OPEN" and opened["paymentReference"].startswith("RF")
    invoice = await settled(tenant, opened["id"])
    assert (invoice["status"], invoice["paymentStatus"], invoice["amountPaid"]) == ("PAID", "SUCCEEDED", "50.00")
    assert invoice["paidAt"] is not None
    [payment] = invoice["payments"]
    assert (payment["provider"], payment["method"], payment["status"], payment["amount"], payment["currency"]) == (
        "STRIPE",
        "card",
        "SUCCEEDED",
        "50.00",
        "USD",
    )
    [attempt] = invoice["paymentAttempts"]
    assert (attempt["number"], attempt["status"], attempt["providerPaymentId"]) == (
        1,
        "SUCCEEDED",
        payment["providerPaymentId"],
    )
    [charge] = await charges_at_fake(stack, key)
    assert charge["params"]["amount"] == "5000" and charge["params"]["off_session"] == "true"
    # Collected again: nothing is left to charge, nothing is charged.
    again = (await tenant.api(COLLECT, id=opened["id"]))["collectInvoice"]
    assert again["userErrors"] == [{"field": ["input", "id"], "code": "INVOICE_NOT_PAYABLE"}]
    assert len(await charges_at_fake(stack, key)) == 1


@pytest.mark.parametrize(
    ("card", "code", "hard"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", False),
        ("pm_card_chargeDeclinedStolenCard", "stolen_card", True),
    ],
)
async def test_a_declined_card_fails_the_attempt_with_its_code(tenant, card, code, hard):
    await stripe_tenant(tenant, card)
    invoice = await settled(tenant, (await invoice_of(tenant))["id"])
    assert (invoice["status"], invoice["paymentStatus"], invoice["amountPaid"], invoice["payments"]) == (
        "OPEN",
        "FAILED",
        "0.00",
        [],
    )
    [attempt] = invoice["paymentAttempts"]
    assert (attempt["status"], attempt["declineCode"], attempt["hardDecline"], attempt["retryable"]) == (
        "FAILED",
        code,
        hard,
        False,
    )
    assert attempt["failureMessage"]


async def test_a_card_that_needs_3d_secure_requires_action(tenant):
    await stripe_tenant(tenant, "pm_card_authenticationRequired")
    invoice = await settled(tenant, (await invoice_of(tenant))["id"])
    assert (invoice["status"], invoice["paymentStatus"]) == ("OPEN", "REQUIRES_ACTION")
    assert [(a["status"], a["declineCode"]) for a in invoice["paymentAttempts"]] == [
        ("REQUIRES_ACTION", "authentication_required")
    ]


async def test_collecting_at_once_with_the_worker_charges_once(tenant, stack):
    key = await stripe_tenant(tenant, "pm_card_visa")
    opened = await invoice_of(tenant, "20")
    answers = await asyncio.gather(*[tenant.api(COLLECT, id=opened["id"]) for _ in range(3)])
    invoice = await settled(tenant, opened["id"])
    assert (invoice["status"], invoice["paymentStatus"], invoice["amountPaid"]) == ("PAID", "SUCCEEDED", "20.00")
    assert len(invoice["payments"]) == 1
    assert len(await charges_at_fake(stack, key)) == 1
    for answer in answers:
        errors = answer["collectInvoice"]["userErrors"]
        assert errors in ([], [{"field": ["input", "id"], "code": "INVOICE_NOT_PAYABLE"}])


async def test_an_unreachable_stripe_fails_the_attempt_retryably_and_never_pays(tenant, stack):
    key = await stripe_tenant(tenant, "pm_card_visa")
    async with httpx.AsyncClient() as client:
        fault = {"kind": "error", "status": 500, "path_prefix": "/v1/payment_intents", "method": "POST", "count": 6}
        assert (await client.post(f"{stack.stripe_url}/_control/faults", json=fault)).status_code == 201
        try:
            opened = await invoice_of(tenant, "30")
            invoice = await settled(tenant, opened["id"])
        finally:
            await client.delete(f"{stack.stripe_url}/_control/faults")
    assert (invoice["status"], invoice["paymentStatus"], invoice["amountPaid"], invoice["payments"]) == (
        "OPEN",
        "FAILED",
        "0.00",
        [],
    )
    [attempt] = invoice["paymentAttempts"]
    assert (attempt["status"], attempt["retryable"], attempt["declineCode"]) == ("FAILED", True, None)
    assert await charges_at_fake(stack, key) == []
    # Stripe is back: the same attempt (same idempotency key) is sent again and pays, once.
    retried = (await tenant.api(COLLECT, id=opened["id"]))["collectInvoice"]
    assert retried["userErrors"] == []
    assert (retried["invoice"]["status"], retried["invoice"]["paymentStatus"]) == ("PAID", "SUCCEEDED")
    assert [(a["number"], a["status"]) for a in retried["invoice"]["paymentAttempts"]] == [(1, "SUCCEEDED")]
    assert len(await charges_at_fake(stack, key)) == 1


async def test_provider_secrets_are_never_returned_and_bad_keys_are_refused(tenant, operator_db):
    bad = (await tenant.api(CONFIGURE, input={"provider": "STRIPE", "secretKey": "pk_test_123"}))[
        "configurePaymentProvider"
    ]
    assert bad["provider"] is None
    assert [(e["field"], e["code"]) for e in bad["userErrors"]] == [(["input", "secretKey"], "INVALID_PROVIDER_KEY")]
    key = f"sk_test_{secrets.token_hex(12)}"
    await tenant.api(CONFIGURE, input={"provider": "STRIPE", "secretKey": key, "webhookSecret": "whsec_abc"})
    async with operator_db.read() as session:
        stored = (await session.execute(text("SELECT credentials FROM payment_provider_configs"))).scalars().all()
    assert stored and all(key not in s and "whsec_abc" not in s for s in stored)


async def test_collecting_without_a_payment_method_is_a_user_error(tenant):
    await customer(tenant.api, "nomethod", currency="USD")
    opened = await invoice_of(tenant, "10", external_id="nomethod")
    answer = (await tenant.api(COLLECT, id=opened["id"]))["collectInvoice"]
    assert (answer["invoice"], answer["userErrors"]) == (
        None,
        [{"field": ["input", "id"], "code": "NO_PAYMENT_METHOD"}],
    )
    unknown = (
        await tenant.api(
            SET_METHOD,
            input={"customerExternalId": "nomethod", "provider": "STRIPE", "providerPaymentMethodId": "pm_card_visa"},
        )
    )["setCustomerPaymentMethod"]
    assert [e["code"] for e in unknown["userErrors"]] == ["PROVIDER_NOT_CONFIGURED"]


RECORD = """mutation($input: RecordPaymentInput!) { recordPayment(input: $input) {
  payment { id provider method status amount refundedAmount currency reference } userErrors { field code } } }"""
REFUND = """mutation($input: RefundPaymentInput!) { refundPayment(input: $input) {
  payment { id amount refundedAmount } userErrors { field code } } }"""
VOID = "mutation($id: ID!) { voidInvoice(input: {id: $id}) { invoice { status } userErrors { code } } }"
WALLET = "query($c: String!) { wallet(customerExternalId: $c) { currency balance } }"
PAYMENTS = """query($id: ID, $c: String) { payments(invoiceId: $id, customerExternalId: $c) {
  totalCount nodes { method amount reference } } }"""


async def test_wire_payments_partial_then_over_pay_and_the_excess_becomes_credit(tenant):
    await customer(tenant.api, "wire", currency="USD")
    opened = await invoice_of(tenant, "100", external_id="wire")
    first = (await tenant.api(RECORD, input={"invoiceId": opened["id"], "amount": "40", "reference": "BANK-1"}))[
        "recordPayment"
    ]
    assert first["userErrors"] == []
    assert (first["payment"]["provider"], first["payment"]["method"], first["payment"]["amount"]) == (
        "WIRE",
        "WIRE",
        "40.00",
    )
    partly = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    assert (partly["status"], partly["paymentStatus"], partly["amountPaid"]) == ("OPEN", "PENDING", "40.00")
    rest = {"invoiceId": opened["id"], "amount": "70", "method": "CHECK", "currency": "USD"}
    assert (await tenant.api(RECORD, input=rest))["recordPayment"]["userErrors"] == []
    paid = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    assert (paid["status"], paid["paymentStatus"], paid["amountPaid"]) == ("PAID", "SUCCEEDED", "100.00")
    assert [p["amount"] for p in paid["payments"]] == ["40.00", "70.00"]
    assert (await tenant.api(WALLET, c="wire"))["wallet"] == {"currency": "USD", "balance": "10.00"}
    listed = (await tenant.api(PAYMENTS, id=opened["id"]))["payments"]
    assert listed["totalCount"] == 2 and {n["method"] for n in listed["nodes"]} == {"WIRE", "CHECK"}


async def test_bad_payments_and_refunds_are_user_errors_and_write_nothing(tenant):
    await customer(tenant.api, "bad", currency="USD")
    opened = await invoice_of(tenant, "100", external_id="bad")
    wrong = await tenant.api(RECORD, input={"invoiceId": opened["id"], "amount": "10", "currency": "EUR"})
    assert wrong["recordPayment"]["userErrors"] == [
        {"field": ["input", "currency"], "code": "PAYMENT_CURRENCY_MISMATCH"}
    ]
    too_fine = (await tenant.api(RECORD, input={"invoiceId": opened["id"], "amount": "10.001"}))["recordPayment"]
    assert [e["code"] for e in too_fine["userErrors"]] == ["INVALID_PAYMENT_AMOUNT"]
    paid = (await tenant.api(RECORD, input={"invoiceId": opened["id"], "amount": "30"}))["recordPayment"]["payment"]
    above = (await tenant.api(REFUND, input={"paymentId": paid["id"], "amount": "30.01"}))["refundPayment"]
    assert above["userErrors"] == [{"field": ["input", "amount"], "code": "REFUND_EXCEEDS_PAID"}]
    zero = (await tenant.api(REFUND, input={"paymentId": paid["id"], "amount": "0"}))["refundPayment"]
    assert [e["code"] for e in zero["userErrors"]] == ["INVALID_PAYMENT_AMOUNT"]
    invoice = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    assert invoice["amountPaid"] == "30.00" and [p["refundedAmount"] for p in invoice["payments"]] == ["0.00"]
    refunded = (await tenant.api(REFUND, input={"paymentId": paid["id"], "amount": "30"}))["refundPayment"]
    assert refunded["userErrors"] == [] and refunded["payment"]["refundedAmount"] == "30.00"
    assert (await tenant.api(INVOICE, id=opened["id"]))["invoice"]["amountPaid"] == "0.00"

    voided = await invoice_of(tenant, "20", external_id="bad")
    assert (await tenant.api(VOID, id=voided["id"]))["voidInvoice"]["invoice"]["status"] == "VOID"
    on_void = (await tenant.api(RECORD, input={"invoiceId": voided["id"], "amount": "20"}))["recordPayment"]
    assert on_void["userErrors"] == [{"field": ["input", "invoiceId"], "code": "INVOICE_NOT_PAYABLE"}]
    assert (await tenant.api(INVOICE, id=voided["id"]))["invoice"]["payments"] == []


async def test_a_stripe_payment_is_refunded_at_stripe_within_what_was_paid(tenant, stack):
    key = await stripe_tenant(tenant, "pm_card_visa")
    invoice = await settled(tenant, (await invoice_of(tenant, "50"))["id"])
    payment_id = (await tenant.api(PAYMENTS, c="acme"))["payments"]
    [payment] = (await tenant.api("{ payments { nodes { id provider amount } } }"))["payments"]["nodes"]
    assert payment_id["totalCount"] == 1 and payment["provider"] == "STRIPE" and invoice["status"] == "PAID"
    partial = await tenant.api(REFUND, input={"paymentId": payment["id"], "amount": "20", "reason": "goodwill"})
    assert partial["refundPayment"]["userErrors"] == []
    assert partial["refundPayment"]["payment"]["refundedAmount"] == "20.00"
    above = (await tenant.api(REFUND, input={"paymentId": payment["id"], "amount": "30.01"}))["refundPayment"]
    assert [e["code"] for e in above["userErrors"]] == ["REFUND_EXCEEDS_PAID"]
    after = (await tenant.api(INVOICE, id=invoice["id"]))["invoice"]
    assert (after["status"], after["amountPaid"]) == ("PAID", "30.00")
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{stack.stripe_url}/_control/requests", params={"path_prefix": "/v1/refunds"})
    refunds = [r for r in answer.json() if r["account"] == key[-4:] and r["method"] == "POST"]
    assert [(r["status"], r["params"]["amount"]) for r in refunds] == [(200, "2000")]


async def stripe_with_webhooks(tenant, stack, method: str, external_id: str = "acme",
                               events: str = "*") -> tuple[str, str]:
    """A Stripe account whose events (`events`: one type, or all) the fake signs and sends to
    POST /webhooks/stripe/{organizationId}."""
    key = f"sk_test_{secrets.token_hex(12)}"
    url = f"{stack.api_url}/webhooks/stripe/{tenant.organization_id}"
    async with httpx.AsyncClient() as client:
        created = await client.post(
            f"{stack.stripe_url}/v1/webhook_endpoints",
            data={"url": url, "enabled_events[]": events},
            headers={"Authorization": f"Bearer {key}"},
        )
    secret = created.json()["secret"]
    configured = await tenant.api(CONFIGURE, input={"provider": "STRIPE", "secretKey": key, "webhookSecret": secret})
    assert configured["configurePaymentProvider"]["userErrors"] == []
    await customer(tenant.api, external_id, currency="USD", email="ap@acme.test")
    saved = await tenant.api(
        SET_METHOD, input={"customerExternalId": external_id, "provider": "STRIPE", "providerPaymentMethodId": method}
    )
    assert saved["setCustomerPaymentMethod"]["userErrors"] == []
    return key, secret


async def until_invoice(tenant, invoice_id: str, done, within: float = 30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        invoice = (await tenant.api(INVOICE, id=invoice_id))["invoice"]
        if done(invoice):
            return invoice
        assert asyncio.get_running_loop().time() < deadline, invoice
        await asyncio.sleep(0.2)


async def test_an_ach_debit_processes_then_settles_by_webhook(tenant, stack):
    key, _ = await stripe_with_webhooks(tenant, stack, "pm_usBankAccount_success")
    opened = await invoice_of(tenant, "250")
    processing = await until_invoice(tenant, opened["id"], lambda i: i["paymentStatus"] == "PROCESSING")
    assert processing["status"] == "OPEN" and processing["amountPaid"] == "0.00"
    [payment] = processing["payments"]
    assert (payment["method"], payment["status"]) == ("us_bank_account", "PROCESSING")
    again = (await tenant.api(COLLECT, id=opened["id"]))["collectInvoice"]
    assert again["userErrors"] == [{"field": ["input", "id"], "code": "PAYMENT_PROCESSING"}]
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{stack.stripe_url}/_control/payment_intents/{payment['providerPaymentId']}/settle", json={}
        )
        assert answer.json()["status"] == "succeeded"
    paid = await until_invoice(tenant, opened["id"], lambda i: i["status"] == "PAID")
    assert (paid["paymentStatus"], paid["amountPaid"]) == ("SUCCEEDED", "250.00")
    assert [(p["status"], p["amount"]) for p in paid["payments"]] == [("SUCCEEDED", "250.00")]
    assert [a["status"] for a in paid["paymentAttempts"]] == ["SUCCEEDED"]
    assert len(await charges_at_fake(stack, key)) == 1


async def test_an_ach_debit_that_bounces_fails_the_invoice_by_webhook(tenant, stack):
    await stripe_with_webhooks(tenant, stack, "pm_usBankAccount_accountClosed")
    opened = await invoice_of(tenant, "80")
    processing = await until_invoice(tenant, opened["id"], lambda i: i["paymentStatus"] == "PROCESSING")
    pi = processing["payments"][0]["providerPaymentId"]
    async with httpx.AsyncClient() as client:
        await client.post(f"{stack.stripe_url}/_control/payment_intents/{pi}/settle", json={})
    failed = await until_invoice(tenant, opened["id"], lambda i: i["paymentStatus"] == "FAILED")
    assert (failed["status"], failed["amountPaid"]) == ("OPEN", "0.00")
    assert [(a["status"], a["declineCode"]) for a in failed["paymentAttempts"]] == [("FAILED", "account_closed")]
    assert [p["status"] for p in failed["payments"]] == ["FAILED"]


async def test_forged_stale_and_replayed_stripe_webhooks_change_nothing(tenant, stack):
    from tests.fakes.stripe import sign_payload

    key, _ = await stripe_with_webhooks(tenant, stack, "pm_card_visa")
    url = f"{stack.api_url}/webhooks/stripe/{tenant.organization_id}"
    opened = await invoice_of(tenant, "50")
    await until_invoice(tenant, opened["id"], lambda i: i["status"] == "PAID")
    async with httpx.AsyncClient() as client:
        deliveries = (await client.get(f"{stack.stripe_url}/_control/deliveries")).json()
        ours = [d for d in deliveries if d["url"] == url]
        assert ours and all(d["status"] == 200 for d in ours), ours
        succeeded = next(d for d in ours if d["event_type"] == "payment_intent.succeeded")
        body = b'{"id": "evt_forged", "type": "payment_intent.payment_failed", "data": {"object": {}}}'
        forged = await client.post(url, content=body, headers={"Stripe-Signature": sign_payload(body, "whsec_other")})
        unsigned = await client.post(url, content=body)
        assert (forged.status_code, unsigned.status_code) == (400, 400)
        stale = await client.post(
            f"{stack.stripe_url}/_control/events/{succeeded['event_id']}/resend", json={"timestamp_offset": -600}
        )
        replay = await client.post(f"{stack.stripe_url}/_control/events/{succeeded['event_id']}/resend", json={})
        assert (stale.status_code, replay.status_code) == (200, 200)
        await client.post(f"{stack.stripe_url}/_control/drain")
        resent = [d for d in (await client.get(f"{stack.stripe_url}/_control/deliveries")).json() if d["url"] == url]
        assert sorted(d["status"] for d in resent[len(ours) :]) == [200, 400]
        unknown = await client.post(f"{stack.api_url}/webhooks/stripe/not-an-id", content=body)
        assert unknown.status_code == 404
    invoice = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    assert (invoice["status"], invoice["amountPaid"], len(invoice["payments"])) == ("PAID", "50.00", 1)
    assert len(await charges_at_fake(stack, key)) == 1


async def test_the_collection_job_run_again_and_at_once_charges_once(tenant, stack, operator_db):
    from valueverse.settings import Settings
    from workers.jobs.payments import collect_invoice

    key = await stripe_tenant(tenant, "pm_card_visa")
    config = Settings(secret_key=stack.secret_key, stripe_api_base=stack.stripe_url).payment_config()
    ctx = {"db": operator_db, "payments": config}
    opened = await invoice_of(tenant, "75")
    # The worker's own run of attempt 1 races these three; a fourth comes after all of them.
    await asyncio.gather(*[collect_invoice(ctx, tenant.organization_id, opened["id"], 1) for _ in range(3)])
    invoice = await settled(tenant, opened["id"])
    assert await collect_invoice(ctx, tenant.organization_id, opened["id"], 1) is False
    assert (invoice["status"], invoice["amountPaid"], len(invoice["payments"])) == ("PAID", "75.00", 1)
    assert [(a["number"], a["status"]) for a in invoice["paymentAttempts"]] == [(1, "SUCCEEDED")]
    assert len(await charges_at_fake(stack, key)) == 1


async def test_a_test_organization_takes_test_keys_only(test_tenant, operator_db):
    live = (await test_tenant.api(CONFIGURE, input={"provider": "STRIPE", "secretKey": "sk_live_" + "1" * 24}))[
        "configurePaymentProvider"
    ]
    assert live["provider"] is None
    assert [(e["field"], e["code"]) for e in live["userErrors"]] == [
        (["input", "secretKey"], "LIVE_KEY_IN_TEST_ORGANIZATION")
    ]
    async with operator_db.read() as session:  # nothing written
        stored = await session.scalar(
            text("SELECT count(*) FROM payment_provider_configs WHERE organization_id = :o"),
            {"o": uuid.UUID(test_tenant.organization_id)},
        )
    assert stored == 0
    key = f"sk_test_{secrets.token_hex(12)}"
    ok = (await test_tenant.api(CONFIGURE, input={"provider": "STRIPE", "secretKey": key}))["configurePaymentProvider"]
    assert (ok["mode"], ok["userErrors"]) == ("TEST", [])
