"""The admin portal's operations pages in a real browser, against the real API and worker: a webhook endpoint
(its secret shown once, a delivery after an event, a redelivery), WIRE bank details, an API key (its secret
shown once, and it works), a staff user whose weaker role sees less, and a payment recorded then refunded on an
invoice. Screenshots at phone and desktop width go to the artifacts directory."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.client import Api
from tests.e2e.conftest import DESKTOP, PHONE, artifact, new_context, sign_in
from tests.e2e.seed import PASSWORD, Tenant
from tests.fakes.receiver import WebhookReceiver
from tests.stack import Stack

# The shop is shared by every browser test (the customers page counts its three customers): these tests
# change an existing customer and bill one, and add no customer.
UPDATE_CUSTOMER = """mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) {
  customer { externalId } userErrors { field code message } } }"""
ONE_OFF = """mutation($input: CreateOneOffInvoiceInput!) { createOneOffInvoice(input: $input) {
  invoice { id number status amountDue } userErrors { field code message } } }"""
VIEWER = "query { viewer { name role organization { name } } }"


async def _shoot(page: Page, name: str) -> None:
    """The page at desktop width, then at phone width (the viewport is put back afterwards)."""
    await page.screenshot(path=artifact(f"ops-{name}-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=artifact(f"ops-{name}-phone.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


async def _refresh_until(page: Page, table_name: str, text: str, rows: int | None = None, tries: int = 30) -> None:
    """Press Refresh until the table shows `text` (and has `rows` rows): the worker delivers in the background."""
    table = page.get_by_role("table", name=table_name)
    for _ in range(tries):
        await page.get_by_role("button", name="Refresh").click()
        await expect(page.get_by_role("button", name="Refresh")).to_be_enabled()
        if await table.count() and text in await table.inner_text():
            if rows is None or await table.get_by_role("row").count() == rows:
                return
        await page.wait_for_timeout(500)
    raise AssertionError(f"{table_name} never showed {text!r}")


async def test_a_webhook_endpoint_shows_its_secret_once_then_a_delivery_that_is_redelivered(
    page: Page, shop: Tenant, stack: Stack
) -> None:
    async with WebhookReceiver(reply=b'{"received": true}') as receiver:
        await sign_in(page, shop)
        await page.get_by_role("link", name="Webhooks").click()
        await expect(page.get_by_role("heading", name="Webhook endpoints")).to_be_visible()

        await page.get_by_role("button", name="Create endpoint").click()  # nothing filled: the API's userErrors
        await expect(page.locator("#endpoint-url-error")).to_be_visible()

        url = f"{receiver.url}/hooks/valueverse"
        await page.get_by_label("URL").fill(url)
        await page.get_by_label("customer.updated").check()
        await page.get_by_label("Description").fill("ERP sync")
        await page.get_by_role("button", name="Create endpoint").click()
        secret = page.get_by_test_id("one-time-secret")
        await expect(secret).to_have_value(re.compile(r"^whsec_"))
        await expect(page.get_by_text("you won't see it again")).to_be_visible()
        await expect(page.get_by_role("button", name="Copy", exact=True)).to_be_visible()
        endpoints = page.get_by_role("table", name="Webhook endpoints, oldest first")
        await expect(endpoints).to_contain_text(url)
        await expect(endpoints).to_contain_text("customer.updated")
        await _shoot(page, "webhooks")

        await page.reload()  # the secret was in that answer only
        await expect(endpoints).to_contain_text(url)
        await expect(page.get_by_test_id("one-time-secret")).to_have_count(0)

        await Api(stack.graphql_url, shop.api_key)(
            UPDATE_CUSTOMER, input={"externalId": "initech", "legalName": "Initech Limited"}
        )
        first = await receiver.wait_for(lambda r: r.path == "/hooks/valueverse", within=20)
        assert b'"customer.updated"' in first.body and first.header("webhook-signature")

        await page.get_by_role("link", name=f"Deliveries to {url}").click()
        await expect(page.get_by_role("heading", name=re.compile("^Deliveries"))).to_be_visible()
        deliveries = "Deliveries, newest first"
        await _refresh_until(page, deliveries, "Succeeded")
        table = page.get_by_role("table", name=deliveries)
        await expect(table).to_contain_text("customer.updated")
        await expect(table).to_contain_text("HTTP 200")
        await expect(table).to_contain_text('{"received": true}')  # the body excerpt

        await page.get_by_role("button", name=re.compile("^Redeliver customer.updated attempt 1")).click()
        await expect(page.get_by_role("status").filter(has_text="Sent again as attempt 2")).to_be_visible()
        await _refresh_until(page, deliveries, "by hand", rows=3)  # a header and two attempts
        await receiver.wait_for(lambda r: r is not first and r.header("webhook-id") == first.header("webhook-id"))
        await _shoot(page, "webhook-deliveries")

        await page.get_by_role("link", name="Webhook endpoints").click()
        await page.get_by_role("button", name=f"Disable {url}").click()
        await expect(page.get_by_role("status").filter(has_text="is disabled")).to_be_visible()
        await expect(endpoints).to_contain_text("Disabled")
        await page.get_by_role("button", name=f"Delete… {url}").click()
        await page.get_by_role("button", name="Delete endpoint").click()
        await expect(page.get_by_role("status").filter(has_text="is deleted")).to_be_visible()
        await expect(page.get_by_text("No webhook endpoints yet")).to_be_visible()


async def test_wire_bank_details_are_configured_and_the_stripe_webhook_url_is_shown(page: Page, shop: Tenant) -> None:
    await sign_in(page, shop)
    await page.get_by_role("link", name="Payment providers").click()
    await expect(page.get_by_text("No provider is configured yet.")).to_be_visible()
    webhook_url = page.locator("#stripe-webhook-url")
    await expect(webhook_url).to_have_value(
        re.compile(rf"^http://127\.0\.0\.1:\d+/webhooks/stripe/{shop.organization_id}$")
    )

    await page.get_by_role("button", name="Save Wire settings").click()  # nothing filled: at the fields
    await expect(page.locator("#wire-account-holder-error")).to_be_visible()
    await page.get_by_label("Account holder").fill("Acme Analytics Inc.")
    await page.get_by_label("Bank name").fill("First Example Bank")
    await page.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 00")
    await page.get_by_label("BIC (SWIFT)").fill("COBADEFFXXX")
    await page.get_by_role("button", name="Save Wire settings").click()
    await expect(page.get_by_role("status").filter(has_text="Wire is configured")).to_contain_text("ending in 3000")
    configured = page.get_by_role("table", name="Configured payment providers")
    await expect(configured).to_contain_text("…3000")
    await expect(page.get_by_label("IBAN")).to_have_value("")  # the form forgets what it sent
    await page.reload()
    await expect(configured).to_contain_text("Wire")
    await expect(page.get_by_label("IBAN")).to_have_value("")  # never read back

    await page.get_by_label("Secret key").fill("pk_test_not_a_secret_key")
    await page.get_by_role("button", name="Save Stripe settings").click()
    await expect(page.locator("#stripe-secret-key-error")).to_contain_text("sk_test_")

    await expect(page.locator("#paypal-webhook-url")).to_have_value(
        re.compile(rf"/webhooks/paypal/{shop.organization_id}$")
    )
    await page.get_by_role("button", name="Save PayPal settings").click()  # nothing filled: at the fields
    await expect(page.locator("#paypal-client-id-error")).to_be_visible()
    await page.get_by_label("Environment").select_option("TEST")
    await page.get_by_label("Client id").fill("AeE2eSandboxClient0042")
    await page.get_by_label("Client secret").fill("e2e-sandbox-secret")  # the fake PayPal's sandbox takes it
    await page.get_by_role("button", name="Save PayPal settings").click()
    await expect(page.get_by_role("status").filter(has_text="PayPal is configured")).to_contain_text("ending in 0042")
    await expect(configured).to_contain_text("PayPal")
    await expect(page.get_by_label("Client secret")).to_have_value("")
    await _shoot(page, "payment-providers")


async def test_an_api_key_is_shown_once_and_works_and_a_viewer_sees_less(
    browser: Browser, page: Page, shop: Tenant, stack: Stack
) -> None:
    await sign_in(page, shop)
    await page.get_by_role("link", name="API keys").click()
    await page.get_by_label("Name").fill("Usage pipeline")
    await expect(page.get_by_label("Role")).not_to_contain_text("Owner")  # an ADMIN cannot hand out OWNER
    await page.get_by_label("Role").select_option("FINANCE")
    await page.get_by_role("button", name="Create API key").click()
    secret = page.get_by_test_id("one-time-secret")
    await expect(secret).to_have_value(re.compile(r"^\S{20,}$"))
    key = await secret.input_value()
    viewer = (await Api(stack.graphql_url, key)(VIEWER))["viewer"]
    assert viewer["role"] == "FINANCE" and viewer["organization"]["name"] == "Acme Analytics"
    keys = page.get_by_role("table", name="API keys")
    await expect(keys).to_contain_text("Usage pipeline")
    await expect(keys).to_contain_text(key[:10])
    await _shoot(page, "api-keys")
    await page.get_by_role("button", name="I have stored it").click()
    await expect(secret).to_have_count(0)

    await page.get_by_role("link", name="Staff users").click()
    await page.get_by_label("Email").fill("vera@acme.example")
    await page.get_by_label("Name").fill("Vera Viewer")
    await page.get_by_label("First password").fill("short")
    await page.get_by_role("button", name="Add staff user").click()
    await expect(page.locator("#user-password-error")).to_be_visible()
    await page.get_by_label("First password").fill(PASSWORD)
    await page.get_by_label("Role", exact=True).select_option("FINANCE")
    await page.get_by_role("button", name="Add staff user").click()
    await expect(page.get_by_role("status").filter(has_text="vera@acme.example is added")).to_be_visible()
    await page.get_by_label("Role of vera@acme.example").select_option("VIEWER")
    await page.get_by_role("button", name="Change role of vera@acme.example").click()
    await expect(page.get_by_role("status").filter(has_text="vera@acme.example is now Viewer")).to_be_visible()
    await _shoot(page, "staff")

    context, _ = await new_context(browser, stack, viewport=DESKTOP)
    other = await context.new_page()
    await sign_in(other, Tenant(**{**shop.__dict__, "email": "vera@acme.example"}))
    nav = other.get_by_role("navigation", name="Admin sections")
    await expect(nav).to_contain_text("Invoices")
    hidden_from_viewers = ("Webhooks", "Payment providers", "API keys", "Staff users", "Audit log", "Dunning")
    for hidden in (*hidden_from_viewers, "Bank statements"):
        await expect(nav.get_by_role("link", name=hidden)).to_have_count(0)
    await other.goto("/admin/webhooks")
    await expect(other.get_by_text("managed by administrators")).to_be_visible()
    await other.goto(f"/admin/invoice?id={shop.invoice_id}")
    await expect(other.get_by_role("heading", level=1)).to_contain_text("Invoice")
    await expect(other.get_by_role("button", name="Record payment…")).to_have_count(0)
    await context.close()

    await page.get_by_role("button", name=re.compile("^Remove access… of vera@acme.example")).click()
    await page.get_by_role("button", name="Disable user").click()
    await expect(page.get_by_role("status").filter(has_text="is disabled")).to_be_visible()


async def test_a_payment_is_recorded_on_an_invoice_then_partly_refunded(page: Page, shop: Tenant, stack: Stack) -> None:
    await sign_in(page, shop)  # the overview, whose feed shows invoices as they change
    await expect(page.get_by_text(re.compile("^Live: invoices appear here"))).to_be_visible()
    api = Api(stack.graphql_url, shop.api_key)
    created = await api(
        ONE_OFF, input={"customerExternalId": "initech", "lines": [{"description": "Onboarding", "amount": "300"}]}
    )
    invoice = created["createOneOffInvoice"]["invoice"]
    assert invoice["status"] == "OPEN", created
    feed = page.get_by_role("log", name="Invoice changes, newest first")
    await expect(feed).to_contain_text(f"Invoice {invoice['number']}", timeout=10_000)  # over graphql-ws
    await expect(feed).to_contain_text("Initech Ltd")
    await feed.get_by_role("link", name=f"Invoice {invoice['number']}").first.click()
    await page.wait_for_url(f"**/admin/invoice?id={invoice['id']}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(invoice["number"])
    await expect(page.get_by_text("No payment yet.")).to_be_visible()
    await expect(page.get_by_role("button", name="Collect now")).to_be_visible()
    await page.get_by_role("button", name="Record payment…").click()
    await expect(page.get_by_label("Amount (USD)")).to_have_value(invoice["amountDue"])
    await page.get_by_label("Amount (USD)").fill("abc")
    await page.get_by_role("button", name="Record payment", exact=True).click()
    await expect(page.locator("#payment-amount-error, .notice.error").first).to_be_visible()

    await page.get_by_label("Amount (USD)").fill(invoice["amountDue"])
    await page.get_by_label("Method").select_option("WIRE")
    await page.get_by_label("Reference").fill("BANK-REF-0042")
    await page.get_by_label("Received at").fill("2026-11-30T09:15")
    await page.get_by_role("button", name="Record payment", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="is recorded")).to_contain_text("$")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Paid")
    payments = page.get_by_role("table", name="Payments of this invoice")
    await expect(payments).to_contain_text("BANK-REF-0042")
    await expect(payments).to_contain_text("Succeeded")
    await expect(page.get_by_role("button", name="Collect now")).to_have_count(0)

    await page.get_by_role("button", name=re.compile("^Refund…")).click()
    await page.get_by_label("Refund amount (USD)").fill("50")
    await page.get_by_label("Reason").fill("Goodwill")
    await page.get_by_role("button", name="Refund", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="is refunded")).to_contain_text("$50.00")
    await expect(payments).to_contain_text("$50.00")
    await _shoot(page, "invoice-payments")
