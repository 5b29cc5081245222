"""The customer portal in a real browser, entered through a portal link made with the API: live meters that
move as usage arrives, invoices and their PDFs, phone and desktop, light and dark; expired and tampered links."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, Page, expect

from db.session import Database
from integrations.clock import ManualClock
from services import portal
from services.actors import system_actor
from tests.client import Api
from tests.e2e.conftest import DESKTOP, PHONE, artifact, new_context, serious_violations
from tests.e2e.seed import Tenant, send_usage
from tests.stack import Stack

# A loaded 2-core machine answers slowly: the portal's first requests (and the live socket) get more time.
expect.set_options(timeout=30_000)

CREATE = """mutation($c: String!) { createCustomerPortalSession(input: {customerExternalId: $c}) {
  url expiresAt userErrors { code message } } }"""


async def portal_link(stack: Stack, shop: Tenant, customer: str | None = None) -> str:
    payload = (await Api(stack.graphql_url, shop.api_key)(CREATE, c=customer or shop.customer))[
        "createCustomerPortalSession"
    ]
    assert payload["userErrors"] == [], payload
    return payload["url"]


async def opened(page: Page, url: str) -> None:
    await page.goto(url)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account with Acme Analytics")
    await expect(page.get_by_role("status").filter(has_text=re.compile("^Loading"))).to_have_count(0)
    await expect(page.get_by_test_id("usage-amount")).to_be_visible()


def money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


async def test_a_portal_link_shows_live_meters_that_move_without_a_reload_and_invoice_pdfs(
    browser: Browser, stack: Stack, shop: Tenant, axe_source: str
) -> None:
    url = await portal_link(stack, shop)
    token = url.split("#", 1)[1]
    context, offline = await new_context(browser, stack, viewport=DESKTOP, color_scheme="light", accept_downloads=True)
    page = await context.new_page()
    await opened(page, url)
    # The token came in the fragment, was kept for this tab and taken out of the address bar.
    assert page.url == f"{stack.api_url}/portal/session"
    assert await page.evaluate("sessionStorage.getItem('valueverse.portal.token')") == token

    await expect(page.get_by_text("Live: updates as your usage arrives")).to_be_visible()
    amount = page.get_by_test_id("usage-amount")
    await expect(amount).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    before = money(await amount.inner_text())
    tokens = page.get_by_test_id("meter-tokens")
    await expect(tokens).to_be_visible()
    await expect(page.get_by_test_id("meter-api_calls")).to_contain_text("Tier 1")
    await expect(page.get_by_role("table", name="How each charge is priced")).to_contain_text("Tier 0 \u2013 1,000")
    await expect(page.get_by_test_id("next-billing-date")).to_have_text(re.compile(r"\d"))
    await page.evaluate("window.__samePage = true")

    await send_usage(Api(stack.graphql_url, shop.api_key), shop.customer, 1000)  # 1,000 tokens at $0.25

    await expect(amount).to_have_text(f"${before + 250:,.2f}", timeout=10_000)
    await expect(tokens.get_by_test_id("meter-amount")).not_to_have_text("$0.00")
    estimate = money(await page.get_by_test_id("estimate").inner_text())
    assert estimate == before + 250 + 49  # the plan fee and the usage so far
    assert await page.evaluate("window.__samePage === true")  # pushed over graphql-ws, not reloaded

    invoices = page.get_by_role("table", name="Invoices")
    await expect(invoices).to_contain_text(shop.invoice_number)
    await expect(invoices.get_by_test_id("payment-status").first).to_have_text(re.compile("Not paid yet|Paid"))
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name=f"Download PDF of invoice {shop.invoice_number}").click()
    download = await downloading.value
    saved = artifact("portal-invoice.pdf")
    await download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    await expect(page.get_by_role("heading", name="Billing details")).to_be_visible()
    await expect(page.get_by_text("billing@acme.example")).to_be_visible()

    await page.screenshot(path=artifact("portal-desktop-light.png"), full_page=True)
    violations = await serious_violations(page, axe_source)
    # A reload keeps the portal open (the token is in this tab's storage), "Forget this link" ends it here.
    await page.reload()
    await expect(page.get_by_test_id("usage-amount")).to_be_visible()
    await page.get_by_role("button", name="Forget this link").click()
    await expect(page.get_by_role("status").filter(has_text="no longer holds your portal link")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
    await context.close()
    assert offline.foreign == [], offline.foreign
    assert violations == []
    # The token never reached the server's logs: it travels in the fragment and the Authorization header.
    assert token not in (stack.log_dir / "api.log").read_text(errors="replace")


async def test_the_portal_at_phone_width_in_the_dark_theme(
    browser: Browser, stack: Stack, shop: Tenant, axe_source: str
) -> None:
    url = await portal_link(stack, shop)
    context, offline = await new_context(browser, stack, viewport=PHONE, color_scheme="dark")
    page = await context.new_page()
    await opened(page, url)
    await expect(page.get_by_role("table", name="Invoices")).to_contain_text(shop.invoice_number)
    await page.screenshot(path=artifact("portal-phone-dark.png"), full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    wide = await page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right
      > window.innerWidth + 1 && !e.closest('.table-wrap')).slice(0, 5).map(e => e.tagName + '.' + e.className)""")
    assert width <= PHONE["width"], f"the page scrolls sideways at phone width ({width} px): {wide}"
    violations = await serious_violations(page, axe_source)
    await context.close()
    assert offline.foreign == [], offline.foreign
    assert violations == []


async def test_an_expired_or_tampered_link_is_refused_with_words(browser: Browser, stack: Stack, shop: Tenant) -> None:
    url = await portal_link(stack, shop)
    db = Database(stack.database_url, pool_size=1, clock=ManualClock(datetime.now(UTC) - timedelta(hours=13)))
    try:
        async with db.unit_of_work() as uow:
            expired = await portal.create_portal_session(
                uow, system_actor(uuid.UUID(shop.organization_id)), customer_external_id=shop.customer,
                origin=stack.api_url,
            )
    finally:
        await db.dispose()
    token = url.split("#", 1)[1]
    tampered = url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    context, offline = await new_context(browser, stack, viewport=DESKTOP)
    page = await context.new_page()
    for link, words in [(expired.url, "expired"), (tampered, "unknown portal link"),
                        (f"{stack.api_url}/portal/session#not-a-token", "does not hold a valid portal link")]:
        await page.goto(link)  # the same page with another fragment: the page reads the new link
        alert = page.locator(".notice.error")
        await expect(alert).to_contain_text("This portal link cannot be used.")
        await expect(alert).to_contain_text(re.compile(words, re.I))
        await expect(alert).to_contain_text(re.compile("ask your supplier for a new", re.I))
        await expect(page.get_by_test_id("usage-amount")).to_have_count(0)
        assert await page.evaluate("sessionStorage.length") == 0
    await page.screenshot(path=artifact("portal-refused.png"))
    await page.goto("/portal")
    await expect(page.get_by_text("open the portal link your supplier sent you")).to_be_visible()
    await context.close()
    assert offline.foreign == [], offline.foreign


CROSS_READ = """query($id: ID!) { invoice(id: $id) { id number } }"""
CROSS_USAGE = """query($c: String!) { customerUsage(customerExternalId: $c) { amount } }"""
CROSS_PAY = """mutation($id: ID!) { collectInvoice(input: {id: $id}) { invoice { id } userErrors { field code } } }"""


async def test_a_portal_token_used_on_another_customers_data_is_refused(
    browser: Browser, stack: Stack, shop: Tenant
) -> None:
    """Another customer's portal link (globex's), open in the browser, asks the API for acme's invoice, usage and
    payment with the token the page holds: nothing of acme's comes back, and its invoice is not charged."""
    url = await portal_link(stack, shop, "globex")
    context, _ = await new_context(browser, stack, viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(url)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account with Acme Analytics")
    ask = """async ([query, variables]) => {
        const token = sessionStorage.getItem('valueverse.portal.token');
        const answer = await fetch('/graphql', {method: 'POST', headers: {'Content-Type': 'application/json',
            Authorization: `Bearer ${token}`}, body: JSON.stringify({query, variables})});
        return {status: answer.status, body: await answer.json()};
    }"""
    read = await page.evaluate(ask, [CROSS_READ, {"id": shop.invoice_id}])
    assert read["status"] == 200 and read["body"]["data"] == {"invoice": None}
    usage = await page.evaluate(ask, [CROSS_USAGE, {"c": shop.customer}])
    assert usage["body"].get("data") is None and usage["body"]["errors"], usage
    assert "acme" not in str(usage["body"]).lower().replace("acme analytics", "")
    pay = await page.evaluate(ask, [CROSS_PAY, {"id": shop.invoice_id}])
    [error] = pay["body"]["data"]["collectInvoice"]["userErrors"]
    assert (pay["body"]["data"]["collectInvoice"]["invoice"], error["code"]) == (None, "INVOICE_NOT_FOUND")
    staff = Api(stack.graphql_url, shop.api_key)
    still = (await staff("""query($id: ID!) { invoice(id: $id) { status paymentAttempts { number } } }""",
                         id=shop.invoice_id))["invoice"]
    assert (still["status"], still["paymentAttempts"]) == ("OPEN", [])
    await context.close()


async def test_the_customer_sets_and_deletes_a_usage_alert_with_the_keyboard(
    browser: Browser, stack: Stack, shop: Tenant
) -> None:
    url = await portal_link(stack, shop)
    context, offline = await new_context(browser, stack, viewport=PHONE, color_scheme="dark")
    page = await context.new_page()
    await opened(page, url)
    section = page.get_by_role("region", name="Usage alerts")
    await expect(section.get_by_text("No alert is set.")).to_be_visible()
    await section.get_by_label("Tell me when").select_option("AMOUNT")
    await section.get_by_label("Amount (USD)").fill("0")
    await section.get_by_label("Name (optional)").fill("Half the budget")
    await section.get_by_label("Name (optional)").press("Enter")  # Enter submits the form
    # The API's reason shows beside the field; the right amount is then accepted.
    await expect(section.locator("#alert-threshold-error")).to_contain_text("positive")
    await section.get_by_label("Amount (USD)").fill("500")
    await section.get_by_label("Amount (USD)").press("Enter")
    await expect(section.get_by_role("status")).to_contain_text("The alert is set")
    table = section.get_by_role("table", name="Usage alerts")
    await expect(table).to_contain_text("Half the budget")
    await expect(table).to_contain_text("$500.00")
    await expect(table).to_contain_text("Not yet")
    await page.screenshot(path=artifact("portal-usage-alerts.png"), full_page=True)

    await section.get_by_role("button", name="Delete… the alert at $500.00").click()
    confirm = section.get_by_role("group", name="Confirm deleting the alert at $500.00")
    await confirm.get_by_role("button", name="Delete alert").click()
    await expect(section.get_by_role("status")).to_contain_text("is deleted")
    await expect(section.get_by_text("No alert is set.")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways at phone width ({width} px)"
    await context.close()
    assert offline.foreign == [], offline.foreign


async def test_the_customer_adds_a_card_on_the_providers_page_from_the_portal(browser: Browser, stack: Stack) -> None:
    """The button makes a setup session and sends the browser to Stripe's own page (the fake's page is stood in for
    here, the browser staying offline); the customer picks a card there (done with the fake's form), Stripe sends the
    browser back to the portal, and the portal saves the card as the default."""
    import json
    import secrets

    import httpx

    from tests.graph.test_payments import CONFIGURE, SET_METHOD

    created = json.loads(stack.cli("create-org", "Stripe Shop").stdout)
    api = Api(stack.graphql_url, created["apiKey"])
    configured = await api(CONFIGURE, input={"provider": "STRIPE", "secretKey": f"sk_test_{secrets.token_hex(12)}"})
    assert configured["configurePaymentProvider"]["userErrors"] == []
    made = await api("mutation { createCustomer(input: {externalId: \"card-buyer\", name: \"Card Buyer\", "
                     "currency: \"USD\"}) { userErrors { code } } }")
    assert made["createCustomer"]["userErrors"] == []
    saved = await api(SET_METHOD, input={"customerExternalId": "card-buyer", "provider": "STRIPE",
                                         "providerPaymentMethodId": "pm_card_visa"})
    assert saved["setCustomerPaymentMethod"]["userErrors"] == []
    link = (await api(CREATE, c="card-buyer"))["createCustomerPortalSession"]["url"]

    context, offline = await new_context(browser, stack, viewport=DESKTOP, color_scheme="light")
    await context.route(f"{stack.stripe_url}/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>Stripe Checkout</title><h1>Stripe</h1>"))
    page = await context.new_page()
    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account with Stripe Shop")
    methods = page.get_by_role("region", name="Payment methods")
    await expect(methods.get_by_test_id("default-payment-method")).to_contain_text("Visa ending in 4242")
    async with page.expect_request(re.compile(re.escape(stack.stripe_url) + "/checkout/cs_")) as leaving:
        await methods.get_by_role("button", name="Add a card or bank account").click()
    checkout = (await leaving.value).url
    await page.wait_for_url(checkout)  # the provider's page, never a card field of ours
    await expect(page.get_by_role("heading", level=1)).to_have_text("Stripe")
    async with httpx.AsyncClient() as client:
        back = await client.post(checkout, data={"payment_method": "pm_card_mastercard"}, follow_redirects=False)
    returned = back.headers["Location"]
    assert returned.startswith(f"{stack.api_url}/portal/session?setup=STRIPE&session_id=cs_")
    await page.goto(returned)  # the tab's stored token opens the portal again, with no new link
    await expect(methods.get_by_role("status")).to_contain_text("saved and is now the default")
    await expect(methods.get_by_test_id("default-payment-method")).to_contain_text("Mastercard ending in 4444")
    assert page.url == f"{stack.api_url}/portal/session"  # the provider's reference is taken out of the address
    await context.close()
    assert offline.foreign == [], offline.foreign


ALERT = """mutation($input: CreateUsageAlertInput!) { createUsageAlert(input: $input) {
  usageAlert { id } userErrors { field code message } } }"""


async def test_the_customer_changes_a_usage_alerts_threshold_and_sees_it_after_a_reload(
    browser: Browser, stack: Stack, shop: Tenant
) -> None:
    # globex's own alert (the other portal tests use acme's, which starts with none).
    made = (await Api(stack.graphql_url, shop.api_key)(ALERT, input={
        "customerExternalId": "globex", "thresholdType": "AMOUNT", "threshold": "500", "name": "Budget"}))
    assert made["createUsageAlert"]["userErrors"] == [], made
    url = await portal_link(stack, shop, "globex")
    context, offline = await new_context(browser, stack, viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(url)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account with Acme Analytics")
    section = page.get_by_role("region", name="Usage alerts")
    table = section.get_by_role("table", name="Usage alerts")
    await expect(table).to_contain_text("$500.00")

    await section.get_by_role("button", name="Edit… the alert at $500.00").click()
    form = section.get_by_role("form", name="Change the alert at $500.00")
    threshold = form.get_by_label("Amount (USD)")
    await expect(threshold).to_have_value("500")
    await threshold.fill("-5")
    await form.get_by_role("button", name="Save alert").click()
    # The API's reason shows at the field; nothing changed.
    await expect(form.locator("[id$='-threshold-error']")).to_contain_text("positive")
    await expect(threshold).to_have_attribute("aria-invalid", "true")
    await threshold.fill("750")
    await form.get_by_label("Name (optional)").fill("Most of the budget")
    await form.get_by_label("Name (optional)").press("Enter")
    await expect(section.get_by_role("status")).to_contain_text("is changed")
    await expect(form).to_have_count(0)
    await expect(table).to_contain_text("$750.00")
    await page.screenshot(path=artifact("portal-usage-alert-edited.png"), full_page=True)

    await page.reload()
    await expect(table).to_contain_text("$750.00")
    await expect(table).to_contain_text("Most of the budget")
    await expect(table).not_to_contain_text("$500.00")
    await context.close()
    assert offline.foreign == [], offline.foreign
