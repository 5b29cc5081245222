"""PayPal through the public API: the PayPal gateway (httpx) in the API and the worker, talking to the fake PayPal."""

from __future__ import annotations

import json
import secrets
import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.graph.catalog_helpers import customer
from tests.graph.test_payments import (
    COLLECT,
    CONFIGURE,
    INVOICE,
    REFUND,
    SET_METHOD,
    invoice_of,
    settled,
    until_invoice,
)


async def paypal_app(stack, *, webhook: bool = True) -> tuple[str, str, str | None]:
    """A PayPal REST app at the fake (client id, secret) and, if asked, a webhook to our endpoint for any org."""
    client_id, secret = f"AX{secrets.token_hex(10)}", secrets.token_hex(16)
    async with httpx.AsyncClient(base_url=stack.paypal_url) as client:
        token = await client.post(
            "/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert token.status_code == 200, token.text
    return client_id, secret, None


async def register_webhook(stack, client_id: str, secret: str, url: str) -> str:
    async with httpx.AsyncClient(base_url=stack.paypal_url) as client:
        token = (
            await client.post("/v1/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        ).json()["access_token"]
        created = await client.post(
            "/v1/notifications/webhooks",
            json={"url": url, "event_types": [{"name": "*"}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        return created.json()["id"]


async def vault_token(stack, client_id: str, *, decline: str | None = None, pending: bool = False) -> str:
    async with httpx.AsyncClient(base_url=stack.paypal_url) as client:
        answer = await client.post(
            "/_control/payment-tokens", json={"client_id": client_id, "decline": decline, "pending": pending}
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]


async def paypal_tenant(
    tenant, stack, *, decline: str | None = None, pending: bool = False, external_id: str = "acme", currency="USD"
) -> dict:
    """The tenant's PayPal sandbox app with a webhook to POST /webhooks/paypal/{org}, a customer with a vaulted token."""
    client_id, secret, _ = await paypal_app(stack)
    webhook_id = await register_webhook(
        stack, client_id, secret, f"{stack.api_url}/webhooks/paypal/{tenant.organization_id}"
    )
    configured = (
        await tenant.api(
            CONFIGURE,
            input={"provider": "PAYPAL", "clientId": client_id, "clientSecret": secret, "webhookId": webhook_id},
        )
    )["configurePaymentProvider"]
    assert configured == {"provider": "PAYPAL", "mode": "TEST", "last4": client_id[-4:], "userErrors": []}
    await customer(tenant.api, external_id, currency=currency, email="ap@acme.test")
    token = await vault_token(stack, client_id, decline=decline, pending=pending)
    saved = (
        await tenant.api(
            SET_METHOD, input={"customerExternalId": external_id, "provider": "PAYPAL", "providerPaymentMethodId": token}
        )
    )["setCustomerPaymentMethod"]
    assert saved["userErrors"] == [], saved
    return {"client_id": client_id, "secret": secret, "webhook_id": webhook_id, "token": token, "saved": saved}


async def orders_at_fake(stack, client_id: str) -> list[dict]:
    """Orders the fake PayPal executed for this app (not replays of a saved answer, not refused by a fault)."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{stack.paypal_url}/_control/requests", params={"path_prefix": "/v2/checkout/orders"})
    return [
        r
        for r in answer.json()
        if r["method"] == "POST"
        and r["account"] == client_id
        and not r["replayed"]
        and r["fault"] in (None, "drop_after")  # drop_after: done, then the answer was lost
        and r["status"] in (200, 201)
    ]


async def deliveries(stack, url: str) -> list[dict]:
    async with httpx.AsyncClient() as client:
        await client.post(f"{stack.paypal_url}/_control/drain")
        return [d for d in (await client.get(f"{stack.paypal_url}/_control/deliveries")).json() if d["url"] == url]


async def test_paypal_pays_the_invoice_and_refunds_at_paypal(tenant, stack):
    app = await paypal_tenant(tenant, stack)
    assert app["saved"]["customer"]["paymentMethods"] == [
        {
            "provider": "PAYPAL",
            "providerPaymentMethodId": app["token"],
            "kind": "paypal",
            "brand": "paypal",
            "last4": None,
            "expiresAt": None,
            "isDefault": True,
        }
    ]
    opened = await invoice_of(tenant, "50")
    invoice = await settled(tenant, opened["id"])
    assert (invoice["status"], invoice["paymentStatus"], invoice["amountPaid"]) == ("PAID", "SUCCEEDED", "50.00")
    [payment] = invoice["payments"]
    assert (payment["provider"], payment["method"], payment["status"], payment["amount"]) == (
        "PAYPAL",
        "paypal",
        "SUCCEEDED",
        "50.00",
    )
    [order] = await orders_at_fake(stack, app["client_id"])
    # The capture's PayPal-Request-Id is the attempt's key: a retried job sends the same one.
    assert order["idempotency_key"] == f"charge_invoice:{opened['id']}:1"
    assert order["params"]["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "50.00"}
    assert json.loads(order["params"]["purchase_units"][0]["custom_id"]) == {"invoice_id": opened["id"], "attempt": "1"}

    payment_id = (await tenant.api("query($id: ID!) { invoice(id: $id) { payments { id } } }", id=opened["id"]))[
        "invoice"
    ]["payments"][0]["id"]
    part = (await tenant.api(REFUND, input={"paymentId": payment_id, "amount": "20", "reason": "goodwill"}))[
        "refundPayment"
    ]
    assert part["userErrors"] == [] and part["payment"]["refundedAmount"] == "20.00"
    above = (await tenant.api(REFUND, input={"paymentId": payment_id, "amount": "30.01"}))["refundPayment"]
    assert above["userErrors"] == [{"field": ["input", "amount"], "code": "REFUND_EXCEEDS_PAID"}]
    async with httpx.AsyncClient() as client:
        refunds = (
            await client.get(f"{stack.paypal_url}/_control/requests", params={"path_prefix": "/v2/payments/captures"})
        ).json()
    assert [(r["params"]["amount"]["value"], r["status"]) for r in refunds if r["account"] == app["client_id"]] == [
        ("20.00", 201)
    ]
    # PayPal's own events (capture completed, refunded) arrived verified and changed nothing more.
    url = f"{stack.api_url}/webhooks/paypal/{tenant.organization_id}"
    ours = await deliveries(stack, url)
    assert {d["event_type"] for d in ours} >= {"PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.REFUNDED"}
    assert all(d["status"] == 200 for d in ours), ours
    after = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    assert (after["status"], after["amountPaid"], [p["refundedAmount"] for p in after["payments"]]) == (
        "PAID",
        "30.00",
        ["20.00"],
    )
    assert len(await orders_at_fake(stack, app["client_id"])) == 1


@pytest.mark.parametrize(("decline", "hard"), [("INSTRUMENT_DECLINED", False), ("PAYER_CANNOT_PAY", True)])
async def test_a_declined_paypal_token_fails_the_attempt_with_its_issue(tenant, stack, decline, hard):
    await paypal_tenant(tenant, stack, decline=decline)
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
        decline,
        hard,
        False,
    )
    assert attempt["failureMessage"]


async def capture_of(stack, order_id: str) -> str:
    """The capture id of an order, from the events the fake PayPal sent."""
    async with httpx.AsyncClient() as client:
        events = (await client.get(f"{stack.paypal_url}/_control/events")).json()
    for event in events:
        resource = event.get("resource") or {}
        if ((resource.get("supplementary_data") or {}).get("related_ids") or {}).get("order_id") == order_id:
            return resource["id"]
    raise AssertionError(f"no capture of order {order_id}")


async def test_a_pending_capture_settles_by_verified_webhook(tenant, stack):
    await paypal_tenant(tenant, stack, pending=True)
    opened = await invoice_of(tenant, "40")
    processing = await until_invoice(tenant, opened["id"], lambda i: i["paymentStatus"] == "PROCESSING")
    assert processing["status"] == "OPEN" and processing["amountPaid"] == "0.00"
    capture_id = await capture_of(stack, processing["payments"][0]["providerPaymentId"])
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{stack.paypal_url}/_control/captures/{capture_id}/settle", json={})
        assert answer.json()["status"] == "COMPLETED"
    paid = await until_invoice(tenant, opened["id"], lambda i: i["status"] == "PAID")
    assert (paid["paymentStatus"], paid["amountPaid"]) == ("SUCCEEDED", "40.00")
    assert [p["status"] for p in paid["payments"]] == ["SUCCEEDED"]
    assert [a["status"] for a in paid["paymentAttempts"]] == ["SUCCEEDED"]


async def test_an_unreachable_paypal_fails_the_attempt_retryably_and_never_captures_twice(tenant, stack):
    app = await paypal_tenant(tenant, stack)
    async with httpx.AsyncClient() as client:
        # Two outages: PayPal answers 500 (nothing done), then it captures but the answer is lost.
        fault = {"kind": "error", "status": 503, "path_prefix": "/v2/checkout/orders", "method": "POST", "count": 1}
        assert (await client.post(f"{stack.paypal_url}/_control/faults", json=fault)).status_code == 201
        lost = {"kind": "drop_after", "path_prefix": "/v2/checkout/orders", "method": "POST", "count": 1}
        assert (await client.post(f"{stack.paypal_url}/_control/faults", json=lost)).status_code == 201
        try:
            opened = await invoice_of(tenant, "30")
            invoice = await settled(tenant, opened["id"])
            assert (invoice["status"], invoice["paymentStatus"], invoice["payments"]) == ("OPEN", "FAILED", [])
            [attempt] = invoice["paymentAttempts"]
            assert (attempt["status"], attempt["retryable"], attempt["declineCode"]) == ("FAILED", True, None)
            assert await orders_at_fake(stack, app["client_id"]) == []
            # Retried: PayPal captures, the answer is lost on the way back (the attempt stays retryable unless
            # PayPal's verified webhook already told the outcome).
            again = (await tenant.api(COLLECT, id=opened["id"]))["collectInvoice"]
            assert again["userErrors"] == []
        finally:
            await client.delete(f"{stack.paypal_url}/_control/faults")
    # Retried once more if needed: the same PayPal-Request-Id answers the first capture, never a second one.
    current = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    if current["status"] != "PAID":
        retried = (await tenant.api(COLLECT, id=opened["id"]))["collectInvoice"]
        assert retried["userErrors"] in ([], [{"field": ["input", "id"], "code": "INVOICE_NOT_PAYABLE"}])
    paid = await until_invoice(tenant, opened["id"], lambda i: i["status"] == "PAID")
    assert (paid["paymentStatus"], paid["amountPaid"], len(paid["payments"])) == ("SUCCEEDED", "30.00", 1)
    assert [(a["number"], a["status"]) for a in paid["paymentAttempts"]] == [(1, "SUCCEEDED")]
    assert len(await orders_at_fake(stack, app["client_id"])) == 1
    async with httpx.AsyncClient() as client:
        keys = [
            r["idempotency_key"]
            for r in (
                await client.get(
                    f"{stack.paypal_url}/_control/requests", params={"path_prefix": "/v2/checkout/orders"}
                )
            ).json()
            if r["account"] == app["client_id"] and r["method"] == "POST"
        ]
    assert keys and set(keys) == {f"charge_invoice:{opened['id']}:1"}


async def test_forged_stale_and_replayed_paypal_webhooks_change_nothing(tenant, stack, operator_db):
    app = await paypal_tenant(tenant, stack)
    url = f"{stack.api_url}/webhooks/paypal/{tenant.organization_id}"
    opened = await invoice_of(tenant, "50")
    await until_invoice(tenant, opened["id"], lambda i: i["status"] == "PAID")
    ours = await deliveries(stack, url)
    assert ours and all(d["status"] == 200 for d in ours), ours
    completed = next(d for d in ours if d["event_type"] == "PAYMENT.CAPTURE.COMPLETED")
    async with httpx.AsyncClient() as client:
        # A denial PayPal never sent, with made-up transmission headers: PayPal's verification says FAILURE.
        event = {
            "id": "WH-FORGED-1",
            "event_type": "PAYMENT.CAPTURE.DENIED",
            "create_time": "2026-01-01T00:00:00Z",
            "resource": {"id": "CAP1", "custom_id": json.dumps({"invoice_id": opened["id"], "attempt": "1"})},
        }
        from datetime import UTC, datetime

        headers = {
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-CERT-URL": f"{stack.paypal_url}/v1/notifications/certs/CERT-360caa42-fca2a594-fake0001",
            "PAYPAL-TRANSMISSION-ID": str(uuid.uuid4()),
            "PAYPAL-TRANSMISSION-SIG": "bm90IGEgc2lnbmF0dXJl",
            "PAYPAL-TRANSMISSION-TIME": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        forged = await client.post(url, content=json.dumps(event), headers=headers)
        unsigned = await client.post(url, content=json.dumps(event))
        assert (forged.status_code, unsigned.status_code) == (400, 400)
        assert forged.json()["error"] == "WEBHOOK_REJECTED"
        other_org = await client.post(f"{stack.api_url}/webhooks/paypal/{uuid.uuid4()}", content=b"{}")
        assert other_org.status_code == 404
        # PayPal delivering the same event again (as it does until it gets a 2xx), and once signed 10 minutes ago.
        replay = await client.post(f"{stack.paypal_url}/_control/events/{completed['event_id']}/resend", json={})
        stale = await client.post(
            f"{stack.paypal_url}/_control/events/{completed['event_id']}/resend", json={"timestamp_offset": -600}
        )
        assert (replay.status_code, stale.status_code) == (200, 200)
    resent = (await deliveries(stack, url))[len(ours) :]
    assert sorted(d["status"] for d in resent) == [200, 400]
    invoice = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    assert (invoice["status"], invoice["amountPaid"], len(invoice["payments"])) == ("PAID", "50.00", 1)
    assert [a["status"] for a in invoice["paymentAttempts"]] == ["SUCCEEDED"]
    async with operator_db.read() as session:  # handled once: one receipt per event id
        receipts = await session.scalar(
            text("SELECT count(*) FROM provider_event_receipts WHERE provider = 'PAYPAL' AND event_id = :e"),
            {"e": completed["event_id"]},
        )
    assert receipts == 1
    assert len(await orders_at_fake(stack, app["client_id"])) == 1


async def test_bad_paypal_configuration_and_methods_are_user_errors_and_write_nothing(tenant, test_tenant, stack, operator_db):
    client_id, secret, _ = await paypal_app(stack)
    wrong_secret = (
        await tenant.api(CONFIGURE, input={"provider": "PAYPAL", "clientId": client_id, "clientSecret": "nope"})
    )["configurePaymentProvider"]
    assert (wrong_secret["provider"], [(e["field"], e["code"]) for e in wrong_secret["userErrors"]]) == (
        None,
        [(["input", "clientSecret"], "INVALID_PROVIDER_KEY")],
    )
    missing = (await tenant.api(CONFIGURE, input={"provider": "PAYPAL", "clientId": client_id}))[
        "configurePaymentProvider"
    ]
    assert [(e["field"], e["code"]) for e in missing["userErrors"]] == [(["input", "clientSecret"], "REQUIRED")]
    bad_mode = (
        await tenant.api(
            CONFIGURE, input={"provider": "PAYPAL", "clientId": client_id, "clientSecret": secret, "mode": "PROD"}
        )
    )["configurePaymentProvider"]
    assert [(e["field"], e["code"]) for e in bad_mode["userErrors"]] == [(["input", "mode"], "INVALID_INPUT")]
    live = (
        await test_tenant.api(
            CONFIGURE, input={"provider": "PAYPAL", "clientId": client_id, "clientSecret": secret, "mode": "LIVE"}
        )
    )["configurePaymentProvider"]
    assert [(e["field"], e["code"]) for e in live["userErrors"]] == [
        (["input", "mode"], "LIVE_KEY_IN_TEST_ORGANIZATION")
    ]
    # No PayPal configured: a PayPal token cannot be saved.
    await customer(tenant.api, "pp", currency="USD")
    unconfigured = (
        await tenant.api(
            SET_METHOD, input={"customerExternalId": "pp", "provider": "PAYPAL", "providerPaymentMethodId": "abc"}
        )
    )["setCustomerPaymentMethod"]
    assert [e["code"] for e in unconfigured["userErrors"]] == ["PROVIDER_NOT_CONFIGURED"]
    async with operator_db.read() as session:
        stored = await session.scalar(
            text("SELECT count(*) FROM payment_provider_configs WHERE organization_id IN (:a, :b)"),
            {"a": uuid.UUID(tenant.organization_id), "b": uuid.UUID(test_tenant.organization_id)},
        )
    assert stored == 0
    sandbox = (
        await test_tenant.api(CONFIGURE, input={"provider": "PAYPAL", "clientId": client_id, "clientSecret": secret})
    )["configurePaymentProvider"]
    assert (sandbox["provider"], sandbox["mode"], sandbox["userErrors"]) == ("PAYPAL", "TEST", [])
    async with operator_db.read() as session:
        sealed = (await session.execute(text("SELECT credentials FROM payment_provider_configs"))).scalars().all()
    assert sealed and all(secret not in s for s in sealed)
    # A token PayPal does not know is refused by PayPal; nothing is saved.
    await customer(test_tenant.api, "pp", currency="USD")
    unknown = (
        await test_tenant.api(
            SET_METHOD, input={"customerExternalId": "pp", "provider": "PAYPAL", "providerPaymentMethodId": "nosuch"}
        )
    )["setCustomerPaymentMethod"]
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [
        (["input", "providerPaymentMethodId"], "PROVIDER_REFUSED")
    ]
    methods = await test_tenant.api('{ customer(externalId: "pp") { paymentMethods { id } } }')
    assert methods["customer"]["paymentMethods"] == []


async def test_an_invoice_in_a_currency_paypal_does_not_take_fails_without_calling_paypal(tenant, stack):
    app = await paypal_tenant(tenant, stack, currency="KWD")
    invoice = await settled(tenant, (await invoice_of(tenant, "12.345"))["id"])
    assert (invoice["status"], invoice["paymentStatus"], invoice["payments"]) == ("OPEN", "FAILED", [])
    [attempt] = invoice["paymentAttempts"]
    assert (attempt["status"], attempt["retryable"], attempt["declineCode"]) == ("FAILED", False, None)
    assert "KWD" in attempt["failureMessage"]
    assert await orders_at_fake(stack, app["client_id"]) == []
