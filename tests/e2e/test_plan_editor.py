"""The plan editor and plan changes in a real browser, against the real API: a plan with graduated tiers whose
live price preview shows what the API computes for a quantity, an overlapping tier refused on its field; then a
subscription moved to that plan with the proration preview shown before it is confirmed, and terminated.
Screenshots at phone and desktop width go to the artifacts directory.

These tests use an organization of their own: the shared shop's customers and plans are counted by others."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from tests.client import Api
from tests.e2e.conftest import DESKTOP, PHONE, artifact, sign_in
from tests.e2e.seed import PASSWORD
from tests.stack import Stack

METRIC = """mutation($input: CreateBillableMetricInput!) { createBillableMetric(input: $input) {
  billableMetric { code } userErrors { field code message } } }"""
PLAN = """mutation($input: CreatePlanInput!) { createPlan(input: $input) {
  plan { code } userErrors { field message } } }"""
CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { externalId } userErrors { field message } } }"""
SUBSCRIBE = """mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) {
  subscription { externalId } userErrors { field message } } }"""
RUN_BILLING = """mutation($asOf: DateTime) { runBilling(input: {asOf: $asOf}) { invoices { number }
  failures { reason } userErrors { message } } }"""
PRICE = """query($input: ChargePricePreviewInput!) { chargePricePreview(input: $input) {
  preview { amount } userErrors { field message } } }"""
PREVIEW_CHANGE = """query($s: String!, $p: String!) {
  previewSubscriptionPlanChange(input: {externalId: $s, planCode: $p}) {
  preview { kind creditAmount chargeAmount } userErrors { field message } } }"""
SUBSCRIPTION = 'query { subscription(externalId: "umbrella-sub") { status plan { code } } }'

TIERS = [
    {"fromValue": "0", "toValue": "100", "perUnitAmount": "1", "flatAmount": "10"},
    {"fromValue": "101", "toValue": None, "perUnitAmount": "0.5", "flatAmount": "20"},
]


@dataclass
class Planner:
    api: Api
    email: str


@pytest.fixture(scope="module")
async def planner(stack: Stack) -> Planner:
    """An organization with an ADMIN user, a metric, a weekly plan paid in advance and a customer on it since
    three days ago, billed its first week: an upgrade today credits the four days left."""
    created = json.loads(stack.cli("create-org", "Umbrella Pricing").stdout)
    email = "pricing@umbrella.example"
    stack.cli(
        "create-user", "--organization", created["organizationId"], "--email", email, "--role", "ADMIN",
        "--name", "Pat Pricing", "--password", PASSWORD,
    )  # fmt: skip
    api = Api(stack.graphql_url, created["apiKey"])
    calls = {"code": "api_calls", "name": "API calls", "aggregation": "COUNT"}
    assert not (await api(METRIC, input=calls))["createBillableMetric"]["userErrors"]
    starter = {"code": "starter-wk", "name": "Starter", "interval": "WEEKLY", "currency": "USD", "amount": "10",
               "payInAdvance": True}
    assert not (await api(PLAN, input=starter))["createPlan"]["userErrors"]
    umbrella = {"externalId": "umbrella", "name": "Umbrella Corp", "currency": "USD", "timezone": "UTC"}
    assert not (await api(CUSTOMER, input=umbrella))["createCustomer"]["userErrors"]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    subscription = {"customerExternalId": "umbrella", "planCode": "starter-wk", "externalId": "umbrella-sub",
                    "startedAt": (today - timedelta(days=3)).isoformat(), "billingTime": "ANNIVERSARY"}
    assert not (await api(SUBSCRIBE, input=subscription))["createSubscription"]["userErrors"]
    billed = (await api(RUN_BILLING, asOf=datetime.now(UTC).isoformat()))["runBilling"]
    assert billed["invoices"] and not billed["failures"], billed
    return Planner(api, email)


async def _shoot(page: Page, name: str) -> None:
    await page.screenshot(path=artifact(f"plans-{name}-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=artifact(f"plans-{name}-phone.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


def _usd(amount: str) -> str:
    return f"${amount}"


async def test_a_plan_with_graduated_tiers_previews_the_api_price_and_refuses_an_overlap_on_its_field(
    page: Page, planner: Planner
) -> None:
    await sign_in(page, planner)
    await page.goto("/admin/plans")
    await page.get_by_role("link", name="New plan").click()
    await expect(page.get_by_role("heading", level=1, name="New plan")).to_be_visible()
    await page.get_by_label("Code").fill("scale")
    await page.get_by_label("Name", exact=True).fill("Scale")
    await page.get_by_label("Fee per interval").fill("99")
    await page.get_by_label("Bill the fee in advance").check()
    await page.get_by_role("button", name="Add a charge").click()
    await expect(page.get_by_label("Charge model")).to_have_value("GRADUATED")

    await page.get_by_label("Tier 1 to").fill("100")
    await page.get_by_label("Tier 1 per unit").fill("1")
    await page.get_by_label("Tier 1 flat fee").fill("10")
    await page.get_by_role("button", name="Add tier to charge 1").click()
    await expect(page.get_by_label("Tier 2 from")).to_have_value("101")  # the unit after tier 1's end
    await page.get_by_label("Tier 2 per unit").press_sequentially("0.5")
    await page.get_by_label("Tier 2 flat fee").fill("20")
    await page.get_by_label("Preview a quantity").fill("150")

    expected = (await planner.api(PRICE, input={
        "model": "GRADUATED", "properties": {"graduatedRanges": TIERS}, "quantity": "150", "currency": "USD",
    }))["chargePricePreview"]["preview"]["amount"]  # fmt: skip
    amount = page.get_by_test_id("charge-0-preview-amount")
    await expect(amount).to_have_text(_usd(expected))  # $155.00: 100 x 1 + 10, then 50 x 0.5 + 20
    await expect(page.get_by_role("region", name="Price preview")).to_contain_text("101\u2013\u221e: 50 units")

    # An overlapping tier: the API's userError shows on that field, and the preview waits for a fix.
    await page.get_by_label("Tier 2 from").fill("99")
    error = page.locator("#charge-0-tier-1-fromValue-error")
    await expect(error).to_contain_text("fromValue must be 100 or 101")
    await expect(page.get_by_label("Tier 2 from")).to_have_attribute("aria-invalid", "true")
    await expect(amount).to_have_count(0)
    await _shoot(page, "editor-overlap")

    await page.get_by_label("Tier 2 from").fill("101")
    await expect(error).to_have_count(0)
    await expect(amount).to_have_text(_usd(expected))
    await page.get_by_label("Tier 1 flat fee").fill("15")  # the preview follows the tiers as they are edited
    await expect(amount).to_have_text("$160.00")
    await page.get_by_label("Tier 1 flat fee").fill("10")
    await expect(amount).to_have_text(_usd(expected))
    await _shoot(page, "editor")

    await page.get_by_role("button", name="Create plan").click()
    await page.wait_for_url("**/admin/plan?code=scale")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Scale")
    await expect(page.get_by_role("table", name="Tiers of API calls")).to_contain_text("and up")


async def test_a_plan_change_is_previewed_then_confirmed_and_a_subscription_terminated(
    page: Page, planner: Planner
) -> None:
    if not (await planner.api('query { plan(code: "scale") { code } }'))["plan"]:  # run alone: the plan
        scale = {"code": "scale", "name": "Scale", "interval": "MONTHLY", "currency": "USD", "amount": "99",
                 "payInAdvance": True}
        assert not (await planner.api(PLAN, input=scale))["createPlan"]["userErrors"]
    await sign_in(page, planner)
    await page.goto("/admin/customer?id=umbrella")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Umbrella Corp")
    await page.get_by_label("Change plan to").select_option("scale")

    expected = (await planner.api(PREVIEW_CHANGE, s="umbrella-sub", p="scale"))["previewSubscriptionPlanChange"]
    assert expected["userErrors"] == [] and expected["preview"]["kind"] == "UPGRADE", expected
    await expect(page.get_by_text("An upgrade (dearer per year): Scale applies now")).to_be_visible()
    await expect(page.get_by_test_id("preview-credit")).to_have_text(_usd(expected["preview"]["creditAmount"]))
    await expect(page.get_by_test_id("preview-charge")).to_have_text(_usd(expected["preview"]["chargeAmount"]))
    await expect(page.get_by_text("Unused Starter after the upgrade to Scale")).to_be_visible()
    await _shoot(page, "change-preview")
    assert (await planner.api(SUBSCRIPTION))["subscription"]["plan"]["code"] == "starter-wk"  # nothing changed yet

    await page.get_by_role("button", name="Confirm plan change").click()
    await expect(page.get_by_role("status").filter(has_text="umbrella-sub is now on Scale.")).to_be_visible()
    assert (await planner.api(SUBSCRIPTION))["subscription"]["plan"]["code"] == "scale"
    await expect(page.get_by_role("table", name="Subscriptions, oldest first")).to_contain_text("Scale")

    await page.get_by_role("button", name="Terminate… umbrella-sub").click()
    confirm = page.get_by_role("group", name="Confirm terminating umbrella-sub")
    await expect(confirm).to_contain_text("This cannot be undone.")
    await confirm.get_by_role("button", name="Terminate subscription").click()
    await expect(page.get_by_role("status").filter(has_text="umbrella-sub is terminated")).to_be_visible()
    await expect(page.get_by_role("table", name="Subscriptions, oldest first")).to_contain_text("Terminated")
    assert (await planner.api(SUBSCRIPTION))["subscription"]["status"] == "TERMINATED"
    await _shoot(page, "terminated")
