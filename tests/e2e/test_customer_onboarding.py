"""A customer onboarded from the admin portal in a real browser, against the real API: created with New customer
(a bad email refused on its field), subscribed to a plan, its live usage moving on the customer page as usage
arrives through the API without a reload; then the customer edits its billing details in the customer portal
(a bad VAT number refused on its field). Screenshots at phone and desktop width go to the artifacts directory.

These tests use an organization of their own: the shared shop's customers and plans are counted by others."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, Page, expect

from tests.client import Api
from tests.e2e.conftest import DESKTOP, PHONE, artifact, new_context, serious_violations, sign_in
from tests.e2e.seed import PASSWORD, send_usage
from tests.stack import Stack

METRIC = """mutation($input: CreateBillableMetricInput!) { createBillableMetric(input: $input) {
  billableMetric { code } userErrors { field code message } } }"""
PLAN = """mutation($input: CreatePlanInput!) { createPlan(input: $input) {
  plan { code } userErrors { field message } } }"""
CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { externalId } userErrors { field message } } }"""
SUBSCRIBE = """mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) {
  subscription { externalId } userErrors { field message } } }"""
PORTAL_LINK = """mutation($c: String!) { createCustomerPortalSession(input: {customerExternalId: $c}) {
  url userErrors { code message } } }"""
READ = """query($c: String!) { customer(externalId: $c) { name email city country taxIdentificationNumber currency
  subscriptions { externalId status billingTime plan { code } } } }"""

# A loaded 2-core machine answers slowly: the first requests and the live socket get more time.
expect.set_options(timeout=30_000)


@dataclass
class Onboarder:
    api: Api
    email: str


@pytest.fixture(scope="module")
async def onboarder(stack: Stack) -> Onboarder:
    """An organization with a FINANCE user (the weakest role that creates customers and subscriptions), a tokens
    metric and a monthly plan charging $0.25 a token; and a customer on it for the portal test."""
    created = json.loads(stack.cli("create-org", "Hooli Onboarding").stdout)
    email = "finance@hooli.example"
    stack.cli(
        "create-user", "--organization", created["organizationId"], "--email", email, "--role", "FINANCE",
        "--name", "Fin Ance", "--password", PASSWORD,
    )  # fmt: skip
    api = Api(stack.graphql_url, created["apiKey"])
    tokens = {"code": "tokens", "name": "LLM tokens", "aggregation": "SUM", "fieldName": "tokens"}
    assert not (await api(METRIC, input=tokens))["createBillableMetric"]["userErrors"]
    plan = {"code": "pro", "name": "Pro", "interval": "MONTHLY", "currency": "EUR", "amount": "29",
            "charges": [{"billableMetricCode": "tokens", "model": "STANDARD", "properties": {"amount": "0.25"}}]}
    assert not (await api(PLAN, input=plan))["createPlan"]["userErrors"]
    portal_customer = {"externalId": "gavin", "name": "Gavin Belson", "currency": "EUR", "country": "DE"}
    assert not (await api(CUSTOMER, input=portal_customer))["createCustomer"]["userErrors"]
    sub = {"customerExternalId": "gavin", "planCode": "pro", "externalId": "gavin-pro"}
    assert not (await api(SUBSCRIBE, input=sub))["createSubscription"]["userErrors"]
    stack.cli(
        "create-user", "--organization", created["organizationId"], "--email", "viewer@hooli.example", "--role",
        "VIEWER", "--name", "Vi Ewer", "--password", PASSWORD,
    )  # fmt: skip
    return Onboarder(api, email)


async def _shoot(page: Page, name: str) -> None:
    await page.screenshot(path=artifact(f"onboarding-{name}-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=artifact(f"onboarding-{name}-phone.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


async def test_a_customer_is_created_subscribed_and_its_live_usage_moves_without_a_reload(
    page: Page, stack: Stack, onboarder: Onboarder, axe_source: str
) -> None:
    await sign_in(page, onboarder)
    await page.goto("/admin/customers")
    await page.get_by_role("button", name="New customer").click()
    form = page.get_by_role("form", name="New customer")
    await form.get_by_label("External id").fill("pied-piper")
    await form.get_by_label("Name", exact=True).fill("Pied Piper")
    await form.get_by_label("Billing email").fill("not-an-email")
    await form.get_by_label("Currency").fill("EUR")
    await form.get_by_label("Country").fill("US")
    await form.get_by_label("Time zone").fill("America/Los_Angeles")
    await form.get_by_label("Address line 1").fill("5230 Newell Road")
    await form.get_by_label("City").fill("Palo Alto")
    await form.get_by_label("Tax id").fill("94-1234567")
    await form.get_by_role("button", name="Create customer").click()
    # The API's userError shows on its field; nothing was created.
    await expect(page.locator("#new-customer-email-error")).to_contain_text("not an email address")
    await expect(form.get_by_label("Billing email")).to_have_attribute("aria-invalid", "true")
    assert await serious_violations(page, axe_source) == []
    await _shoot(page, "new-customer-error")
    await form.get_by_label("Billing email").fill("ap@piedpiper.example")
    await form.get_by_role("button", name="Create customer").click()

    await page.wait_for_url("**/admin/customer?id=pied-piper")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pied Piper")
    await expect(page.get_by_text("America/Los_Angeles")).to_be_visible()

    await page.get_by_role("button", name="Edit details").click()
    details = page.get_by_role("form", name="Edit details")
    await details.get_by_label("City").fill("Menlo Park")
    await details.get_by_role("button", name="Save details").click()
    await expect(page.get_by_role("status").filter(has_text="details are saved")).to_be_visible()
    await expect(page.get_by_text("5230 Newell Road, Menlo Park")).to_be_visible()

    await page.get_by_role("button", name="Subscribe to a plan").click()
    subscribe = page.get_by_role("form", name="Subscribe to a plan")
    await expect(subscribe.get_by_label("Plan")).to_have_value("pro")
    await expect(subscribe.get_by_label("Subscription external id")).to_have_value("pied-piper-sub-1")
    await subscribe.get_by_label("Subscription external id").fill("pied-piper-pro")
    await subscribe.get_by_label("Billing time").select_option("ANNIVERSARY")
    assert await serious_violations(page, axe_source) == []
    await _shoot(page, "subscribe")
    await subscribe.get_by_role("button", name="Subscribe").click()
    await expect(page.get_by_role("status").filter(has_text="pied-piper-pro is subscribed to Pro")).to_be_visible()
    await expect(page.get_by_role("table", name="Subscriptions, oldest first")).to_contain_text("Active")

    amount = page.get_by_test_id("usage-amount")
    await expect(page.get_by_text("Live: updates as usage arrives")).to_be_visible()
    await expect(amount).to_have_text("€0.00")
    await page.evaluate("window.__samePage = true")
    await send_usage(onboarder.api, "pied-piper", 1000)  # 1,000 tokens at €0.25
    await expect(amount).to_have_text("€250.00")
    assert await page.evaluate("window.__samePage === true")  # pushed over graphql-ws, not reloaded
    await _shoot(page, "customer")

    saved = (await onboarder.api(READ, c="pied-piper"))["customer"]
    assert saved["email"] == "ap@piedpiper.example" and saved["city"] == "Menlo Park"
    assert saved["subscriptions"] == [
        {"externalId": "pied-piper-pro", "status": "ACTIVE", "billingTime": "ANNIVERSARY", "plan": {"code": "pro"}}
    ]


async def test_a_customer_edits_its_billing_details_in_the_portal(
    browser: Browser, stack: Stack, onboarder: Onboarder, axe_source: str
) -> None:
    url = (await onboarder.api(PORTAL_LINK, c="gavin"))["createCustomerPortalSession"]["url"]
    context, offline = await new_context(browser, stack, viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(url)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account with Hooli Onboarding")
    section = page.get_by_role("region", name="Billing details")
    await section.get_by_role("button", name="Edit billing details").click()
    form = page.get_by_role("form", name="Edit billing details")
    await form.get_by_label("Legal name").fill("Hooli XYZ GmbH")
    await form.get_by_label("Billing email").fill("ap@hooli.example")
    await form.get_by_label("Address line 1").fill("Unter den Linden 1")
    await form.get_by_label("Postal code").fill("10117")
    await form.get_by_label("City").fill("Berlin")
    await form.get_by_label("Tax id").fill("DE123")
    await form.get_by_role("button", name="Save billing details").click()
    await expect(page.locator("#billing-taxIdentificationNumber-error")).to_be_visible()
    await expect(form.get_by_label("Tax id")).to_have_attribute("aria-invalid", "true")
    assert await serious_violations(page, axe_source) == []
    await page.screenshot(path=artifact("onboarding-portal-error-desktop.png"), full_page=True)

    await form.get_by_label("Tax id").fill("DE 136695976")
    await form.get_by_role("button", name="Save billing details").click()
    await expect(section.get_by_role("status")).to_contain_text("Your billing details are saved")
    await expect(section).to_contain_text("Hooli XYZ GmbH")
    await expect(section).to_contain_text("Unter den Linden 1, 10117 Berlin")
    await expect(section).to_contain_text("DE136695976")
    await page.screenshot(path=artifact("onboarding-portal-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=artifact("onboarding-portal-phone.png"), full_page=True)
    await context.close()
    assert offline.foreign == []

    saved = (await onboarder.api(READ, c="gavin"))["customer"]
    assert (saved["email"], saved["city"], saved["taxIdentificationNumber"], saved["currency"]) == (
        "ap@hooli.example", "Berlin", "DE136695976", "EUR",
    )  # fmt: skip


async def test_a_viewer_reads_customers_without_the_buttons_to_change_them(page: Page, onboarder: Onboarder) -> None:
    """createCustomer, updateCustomer and createSubscription need FINANCE: a VIEWER is not offered them."""
    await sign_in(page, Onboarder(onboarder.api, "viewer@hooli.example"))
    await page.goto("/admin/customers")
    await expect(page.get_by_role("link", name="Gavin Belson")).to_be_visible()
    await expect(page.get_by_role("button", name="New customer")).to_have_count(0)
    await page.get_by_role("link", name="Gavin Belson").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Gavin Belson")
    await expect(page.get_by_role("button", name="Edit details")).to_have_count(0)
    await expect(page.get_by_role("button", name="Subscribe to a plan")).to_have_count(0)
