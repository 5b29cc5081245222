"""createPaymentSetupSession: the customer saves a method on the provider's page (Stripe Checkout, PayPal approval)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.graph.catalog_helpers import customer
from tests.graph.test_payments import invoice_of, settled, stripe_with_webhooks
from tests.graph.test_paypal_payments import orders_at_fake, paypal_tenant
from tests.stack import start_api

SETUP = """mutation($input: PaymentSetupSessionInput!) { createPaymentSetupSession(input: $input) {
  url sessionId provider userErrors { field code message } } }"""
COMPLETE = """mutation($input: CompletePaymentSetupSessionInput!) { completePaymentSetupSession(input: $input) {
  customer { paymentMethods { provider providerPaymentMethodId kind brand last4 isDefault } }
  userErrors { field code } } }"""
METHODS = """query($c: String!) { customer(externalId: $c) {
  paymentMethods { provider providerPaymentMethodId kind brand last4 isDefault }
  defaultPaymentMethod { brand last4 } } }"""


async def methods_until(tenant, external_id: str, done, within: float = 30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = (await tenant.api(METHODS, c=external_id))["customer"]
        if done(found):
            return found
        assert asyncio.get_running_loop().time() < deadline, f"not saved in {within} s: {found}"
        await asyncio.sleep(0.2)


async def test_a_stripe_checkout_setup_session_saves_the_default_method_by_webhook(tenant, stack):
    await stripe_with_webhooks(tenant, stack, "pm_card_visa")
    made = (
        await tenant.api(
            SETUP,
            input={
                "customerExternalId": "acme",
                "provider": "STRIPE",
                "returnUrl": "https://app.acme.test/billing?x=1",
            },
        )
    )["createPaymentSetupSession"]
    assert made["userErrors"] == [] and made["provider"] == "STRIPE"
    assert (
        made["sessionId"].startswith("cs_test_") and made["url"] == f"{stack.stripe_url}/checkout/{made['sessionId']}"
    )
    async with httpx.AsyncClient() as client:
        page = await client.get(made["url"])
        assert page.status_code == 200 and "<form" in page.text
        # The customer picks a card on Stripe's page and is sent back with the session id filled in.
        back = await client.post(made["url"], data={"payment_method": "pm_card_mastercard"}, follow_redirects=False)
    assert back.status_code in (302, 303)
    location = urlsplit(back.headers["Location"])
    assert (location.netloc, location.path) == ("app.acme.test", "/billing")
    assert parse_qs(location.query) == {"x": ["1"], "session_id": [made["sessionId"]]}
    # checkout.session.completed (verified) attached the card and made it the default.
    saved = await methods_until(tenant, "acme", lambda c: (c["defaultPaymentMethod"] or {}).get("last4") == "4444")
    assert sorted((m["brand"], m["last4"], m["isDefault"]) for m in saved["paymentMethods"]) == [
        ("mastercard", "4444", True),
        ("visa", "4242", False),
    ]
    # The return page finishing it too changes nothing: the same method, still one.
    again = (
        await tenant.api(
            COMPLETE, input={"customerExternalId": "acme", "provider": "STRIPE", "sessionId": made["sessionId"]}
        )
    )["completePaymentSetupSession"]
    assert again["userErrors"] == []
    assert len(again["customer"]["paymentMethods"]) == 2
    # The next invoice is charged with the saved card.
    invoice = await settled(tenant, (await invoice_of(tenant, "15"))["id"])
    assert (invoice["status"], invoice["amountPaid"]) == ("PAID", "15.00")


async def test_a_stripe_session_not_completed_yet_is_not_saved(tenant, stack):
    await stripe_with_webhooks(tenant, stack, "pm_card_visa")
    made = (
        await tenant.api(
            SETUP, input={"customerExternalId": "acme", "provider": "STRIPE", "returnUrl": "http://localhost:3000/done"}
        )
    )["createPaymentSetupSession"]
    assert made["userErrors"] == []
    early = (
        await tenant.api(
            COMPLETE, input={"customerExternalId": "acme", "provider": "STRIPE", "sessionId": made["sessionId"]}
        )
    )["completePaymentSetupSession"]
    assert early["userErrors"] == [{"field": ["input", "sessionId"], "code": "SETUP_NOT_COMPLETE"}]


async def test_a_paypal_setup_token_approved_by_the_payer_becomes_the_default_payment_token(tenant, stack):
    app = await paypal_tenant(tenant, stack)
    await customer(tenant.api, "newpayer", currency="USD")
    made = (
        await tenant.api(
            SETUP,
            input={"customerExternalId": "newpayer", "provider": "PAYPAL", "returnUrl": "https://app.acme.test/pp"},
        )
    )["createPaymentSetupSession"]
    assert made["userErrors"] == [] and made["provider"] == "PAYPAL"
    assert made["url"].startswith(f"{stack.paypal_url}/agreements/approve?approval_session_id=")
    early = (
        await tenant.api(
            COMPLETE, input={"customerExternalId": "newpayer", "provider": "PAYPAL", "sessionId": made["sessionId"]}
        )
    )["completePaymentSetupSession"]
    assert early["userErrors"] == [{"field": ["input", "sessionId"], "code": "SETUP_NOT_COMPLETE"}]
    async with httpx.AsyncClient() as client:
        page = await client.get(made["url"])
        assert page.status_code == 200
        back = await client.post(
            f"{stack.paypal_url}/agreements/approve",
            data={"approval_session_id": made["sessionId"], "email": "payer@newpayer.test"},
            follow_redirects=False,
        )
    assert back.status_code == 303
    location = urlsplit(back.headers["Location"])
    assert (location.netloc, location.path) == ("app.acme.test", "/pp")
    token = parse_qs(location.query)["approval_token_id"][0]
    # Another customer cannot take this payer's approval.
    stolen = (
        await tenant.api(COMPLETE, input={"customerExternalId": "acme", "provider": "PAYPAL", "sessionId": token})
    )["completePaymentSetupSession"]
    assert stolen["userErrors"] == [{"field": ["input", "sessionId"], "code": "SETUP_OF_ANOTHER_CUSTOMER"}]
    done = (
        await tenant.api(COMPLETE, input={"customerExternalId": "newpayer", "provider": "PAYPAL", "sessionId": token})
    )["completePaymentSetupSession"]
    assert done["userErrors"] == []
    [method] = done["customer"]["paymentMethods"]
    assert (method["provider"], method["kind"], method["isDefault"]) == ("PAYPAL", "paypal", True)
    # Completed twice (a reloaded return page): the same payment token, not a second one.
    twice = (
        await tenant.api(COMPLETE, input={"customerExternalId": "newpayer", "provider": "PAYPAL", "sessionId": token})
    )["completePaymentSetupSession"]
    assert [m["providerPaymentMethodId"] for m in twice["customer"]["paymentMethods"]] == [
        method["providerPaymentMethodId"]
    ]
    before = len(await orders_at_fake(stack, app["client_id"]))
    invoice = await settled(tenant, (await invoice_of(tenant, "25", external_id="newpayer"))["id"])
    assert (invoice["status"], invoice["amountPaid"], invoice["payments"][0]["provider"]) == ("PAID", "25.00", "PAYPAL")
    assert len(await orders_at_fake(stack, app["client_id"])) == before + 1


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("javascript:alert(document.cookie)", "INVALID_RETURN_URL"),
        ("data:text/html,<script>alert(1)</script>", "INVALID_RETURN_URL"),
        ("ftp://files.acme.test/done", "INVALID_RETURN_URL"),
        ("/billing/done", "INVALID_RETURN_URL"),
        ("https://user:secret@app.acme.test/done", "INVALID_RETURN_URL"),
        ("https://app.acme.test/a b", "INVALID_RETURN_URL"),
        ("https://app.acme.test:99999/", "INVALID_RETURN_URL"),
        ("", "REQUIRED"),
    ],
)
async def test_a_return_url_that_is_not_http_is_a_user_error(tenant, stack, url, code):
    await stripe_with_webhooks(tenant, stack, "pm_card_visa")
    answer = (await tenant.api(SETUP, input={"customerExternalId": "acme", "provider": "STRIPE", "returnUrl": url}))[
        "createPaymentSetupSession"
    ]
    assert (answer["url"], [(e["field"], e["code"]) for e in answer["userErrors"]]) == (
        None,
        [(["input", "returnUrl"], code)],
    )


async def test_bad_setup_sessions_are_user_errors(tenant, stack):
    await customer(tenant.api, "acme", currency="USD")
    ok_url = "https://app.acme.test/done"
    cases = [
        ({"customerExternalId": "acme", "provider": "STRIPE"}, (["input", "provider"], "PROVIDER_NOT_CONFIGURED")),
        ({"customerExternalId": "acme", "provider": "PAYPAL"}, (["input", "provider"], "PROVIDER_NOT_CONFIGURED")),
        ({"customerExternalId": "acme", "provider": "WIRE"}, (["input", "provider"], "PROVIDER_NOT_SUPPORTED")),
        ({"customerExternalId": "nobody", "provider": "WIRE"}, (["input", "provider"], "PROVIDER_NOT_SUPPORTED")),
    ]
    for given, error in cases:
        answer = (await tenant.api(SETUP, input={**given, "returnUrl": ok_url}))["createPaymentSetupSession"]
        assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [error], given
    await stripe_with_webhooks(tenant, stack, "pm_card_visa", external_id="other")
    nobody = (
        await tenant.api(SETUP, input={"customerExternalId": "nobody", "provider": "STRIPE", "returnUrl": ok_url})
    )["createPaymentSetupSession"]
    assert [(e["field"], e["code"]) for e in nobody["userErrors"]] == [
        (["input", "customerExternalId"], "CUSTOMER_NOT_FOUND")
    ]
    cancel = (
        await tenant.api(
            SETUP,
            input={
                "customerExternalId": "acme",
                "provider": "STRIPE",
                "returnUrl": ok_url,
                "cancelUrl": "javascript:x",
            },
        )
    )["createPaymentSetupSession"]
    assert [(e["field"], e["code"]) for e in cancel["userErrors"]] == [(["input", "cancelUrl"], "INVALID_RETURN_URL")]
    unknown = (
        await tenant.api(COMPLETE, input={"customerExternalId": "other", "provider": "STRIPE", "sessionId": "cs_nope"})
    )["completePaymentSetupSession"]
    assert [e["code"] for e in unknown["userErrors"]] == ["SETUP_NOT_FOUND"]


async def test_with_an_https_public_url_only_https_return_urls_are_taken(tenant, stack):
    await stripe_with_webhooks(tenant, stack, "pm_card_visa")
    api = start_api(stack, "public-url", PUBLIC_URL="https://billing.example.com", WEB_CONCURRENCY="1")
    try:
        from tests.client import Api

        client = Api(api.graphql_url, token=tenant.api_key)
        plain = (
            await client(
                SETUP, input={"customerExternalId": "acme", "provider": "STRIPE", "returnUrl": "http://a.test/"}
            )
        )["createPaymentSetupSession"]
        assert [(e["field"], e["code"]) for e in plain["userErrors"]] == [
            (["input", "returnUrl"], "INVALID_RETURN_URL")
        ]
        secure = (
            await client(
                SETUP, input={"customerExternalId": "acme", "provider": "STRIPE", "returnUrl": "https://a.test/"}
            )
        )["createPaymentSetupSession"]
        assert secure["userErrors"] == [] and secure["url"]
    finally:
        api.stop()


PORTAL_LINK = """mutation($c: String!) { createCustomerPortalSession(input: {customerExternalId: $c}) {
  url userErrors { code } } }"""


async def portal_api(tenant, external_id: str):
    made = (await tenant.api(PORTAL_LINK, c=external_id))["createCustomerPortalSession"]
    assert made["userErrors"] == [], made
    return tenant.api.as_(made["url"].split("#", 1)[1])


async def test_a_portal_link_saves_its_own_customers_card_on_the_providers_page(tenant, stack):
    from tests.client import TransportQueryError
    from tests.graph.test_payments import stripe_tenant

    await stripe_tenant(tenant, "pm_card_visa")
    await customer(tenant.api, "someone-else", currency="USD")
    portal = await portal_api(tenant, "acme")
    shown = await portal("{ portalSession { paymentSetupProviders } }")
    assert shown["portalSession"]["paymentSetupProviders"] == ["STRIPE"]
    back_to = f"{stack.api_url}/portal/session?setup=STRIPE"  # the portal's own page (the request's origin here)
    made = (
        await portal(SETUP, input={"customerExternalId": "acme", "provider": "STRIPE", "returnUrl": back_to})
    )["createPaymentSetupSession"]
    assert made["userErrors"] == [] and made["url"] == f"{stack.stripe_url}/checkout/{made['sessionId']}"
    # Another customer's setup page is refused, and a portal link's page returns to the portal only.
    for other in ("someone-else", "no-such-customer"):
        with pytest.raises(TransportQueryError) as refused:
            await portal(SETUP, input={"customerExternalId": other, "provider": "STRIPE", "returnUrl": back_to})
        assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    away = (
        await portal(SETUP, input={"customerExternalId": "acme", "provider": "STRIPE",
                                   "returnUrl": "https://elsewhere.example/steal"})
    )["createPaymentSetupSession"]
    assert away["userErrors"][0]["field"] == ["input", "returnUrl"]
    assert away["userErrors"][0]["code"] == "INVALID_RETURN_URL"

    async with httpx.AsyncClient() as client:
        back = await client.post(made["url"], data={"payment_method": "pm_card_mastercard"}, follow_redirects=False)
    location = urlsplit(back.headers["Location"])
    assert location.path == "/portal/session" and parse_qs(location.query)["session_id"] == [made["sessionId"]]
    # The portal's return page finishes it (this account sends no webhooks): the new card is the default.
    with pytest.raises(TransportQueryError):
        await portal(COMPLETE, input={"customerExternalId": "someone-else", "provider": "STRIPE",
                                      "sessionId": made["sessionId"]})
    done = (
        await portal(COMPLETE, input={"customerExternalId": "acme", "provider": "STRIPE",
                                      "sessionId": made["sessionId"]})
    )["completePaymentSetupSession"]
    assert done["userErrors"] == []
    saved = (await portal(METHODS, c="acme"))["customer"]
    assert saved["defaultPaymentMethod"] == {"brand": "mastercard", "last4": "4444"}
    entries = (await tenant.api("{ auditLogs(first: 10) { nodes { action actorType } } }"))["auditLogs"]["nodes"]
    assert {"action": "payment_setup_session.created", "actorType": "portal"} in entries
