"""The plan editor and plan changes in a real browser, against the real API: a plan with graduated tiers whose
live price preview shows what the API computes for a quantity, an overlapping tier refused on its field; then a
subscription moved to that plan with the proration preview shown before it is confirmed, and terminated. A
prorated charge with a charge minimum and a filter is stored as typed and comes back into the editor (a negative
minimum refused on its field); a plan change with the subscription's own fee previews and applies that fee.
Screenshots at phone and desktop width go to the artifacts directory.

These tests use an organization of their own: the shared shop's customers and plans are counted by others."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from playwright.async_api import Page, expect

from tests.client import Api
from tests.e2e.conftest import DESKTOP, PHONE, artifact, serious_violations, sign_in
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
STORED_CHARGES = """query($code: String!) { plan(code: $code) { charges { model payInAdvance prorated minAmount
  invoiceDisplayName billableMetric { code } properties { amount }
  filters { values invoiceDisplayName properties { amount } } } } }"""
PREVIEW_WITH_OVERRIDES = """query($input: ChangeSubscriptionPlanInput!) { previewSubscriptionPlanChange(input: $input) {
  preview { kind chargeAmount } userErrors { field message } } }"""
OVERRIDDEN = """query($s: String!) { subscription(externalId: $s) { plan { code } planOverrides } }"""

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


async def _scale_plan(planner: Planner) -> None:
    """The monthly plan the first test creates in the browser, made through the API when a test runs alone."""
    if not (await planner.api('query { plan(code: "scale") { code } }'))["plan"]:
        charge = {"billableMetricCode": "api_calls", "model": "GRADUATED", "properties": {"graduatedRanges": TIERS}}
        scale = {"code": "scale", "name": "Scale", "interval": "MONTHLY", "currency": "USD", "amount": "99",
                 "payInAdvance": True, "charges": [charge]}
        assert not (await planner.api(PLAN, input=scale))["createPlan"]["userErrors"]


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
    await _scale_plan(planner)
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


async def test_a_prorated_charge_with_a_minimum_and_a_filter_is_stored_and_edited_again(
    page: Page, planner: Planner, axe_source: str
) -> None:
    seats = {"code": "seats", "name": "Seats", "aggregation": "COUNT", "recurring": True,
             "filters": [{"key": "region", "values": ["eu", "us"]}]}
    assert not (await planner.api(METRIC, input=seats))["createBillableMetric"]["userErrors"]
    await sign_in(page, planner)
    await page.goto("/admin/plan-edit")
    await page.get_by_label("Code").fill("teams")
    await page.get_by_label("Name", exact=True).fill("Teams")
    await page.get_by_label("Fee per interval").fill("20")
    await page.get_by_role("button", name="Add a charge").click()
    await page.get_by_label("Billable metric").select_option("seats")
    await page.get_by_label("Charge model").select_option("STANDARD")
    await page.get_by_label("Price per unit", exact=True).fill("10")
    prorate = page.get_by_label("Prorate: bill each unit for the days it was in use")
    await expect(prorate).to_be_enabled()  # a recurring COUNT metric, standard, in arrears
    await prorate.check()
    await page.get_by_label("Charge minimum (USD)").fill("-5")
    await page.get_by_label("Name on invoices", exact=True).fill("Team seats")

    await page.get_by_role("button", name="Add a filter to charge 1").click()
    region = page.get_by_role("group", name="Filter 1: region")
    await expect(region.get_by_label("eu")).to_be_focused()  # the keyboard goes to the new filter
    await region.get_by_label("eu").check()
    await page.get_by_label("Filter 1 price per unit").fill("12")
    await page.get_by_label("Filter 1 name on invoices").fill("Team seats (EU)")
    await expect(page.get_by_role("group", name="Filter 1 of charge 1: region: eu")).to_be_visible()

    # The price preview prices the quantity by default and under the filter's own price, as the API does.
    await page.get_by_label("Preview a quantity").fill("3")
    three = {"model": "STANDARD", "quantity": "3", "currency": "USD"}
    asked = [{**three, "properties": {"amount": a}} for a in ("10", "12")]  # the default price, then the filter's
    by_default, in_eu = [(await planner.api(PRICE, input=i))["chargePricePreview"]["preview"]["amount"] for i in asked]
    await expect(page.get_by_test_id("charge-0-preview-amount")).to_have_text(_usd(by_default))
    eu_preview = page.get_by_role("region", name="Filter 1: region: eu")
    await expect(eu_preview.get_by_test_id("charge-0-preview-filter-0-amount")).to_have_text(_usd(in_eu))
    await expect(eu_preview).to_contain_text("3 units \u00d7")
    await page.get_by_label("Filter 1 price per unit").fill("-1")  # the API's userError on the filter's field
    await expect(page.locator("#charge-0-filter-0-amount-error")).to_be_visible()
    await expect(page.get_by_label("Filter 1 price per unit")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Filter 1 price per unit").fill("12")
    await expect(page.locator("#charge-0-filter-0-amount-error")).to_have_count(0)
    await expect(eu_preview.get_by_test_id("charge-0-preview-filter-0-amount")).to_have_text(_usd(in_eu))

    # A negative minimum: the API's userError under the minimum's field, and nothing is stored.
    await page.get_by_role("button", name="Create plan").click()
    minimum = page.get_by_label("Charge minimum (USD)")
    await expect(page.locator("#charge-0-minAmount-error")).to_have_text("must not be negative")
    await expect(minimum).to_have_attribute("aria-invalid", "true")
    await expect(minimum).to_have_attribute("aria-describedby", "charge-0-minAmount-hint charge-0-minAmount-error")
    assert (await planner.api(STORED_CHARGES, code="teams"))["plan"] is None
    assert await serious_violations(page, axe_source) == []
    await _shoot(page, "editor-filters")

    await minimum.fill("25.50")
    await expect(page.locator("#charge-0-minAmount-error")).to_have_count(0)  # editing the charge clears it
    await page.get_by_role("button", name="Create plan").click()
    await page.wait_for_url("**/admin/plan?code=teams")

    [charge] = (await planner.api(STORED_CHARGES, code="teams"))["plan"]["charges"]
    assert charge["billableMetric"]["code"] == "seats" and charge["model"] == "STANDARD"
    assert charge["prorated"] is True and charge["payInAdvance"] is False
    assert Decimal(charge["minAmount"]) == Decimal("25.50")
    assert charge["invoiceDisplayName"] == "Team seats"
    assert Decimal(charge["properties"]["amount"]) == 10
    [stored] = charge["filters"]
    assert stored["values"] == {"region": ["eu"]} and stored["invoiceDisplayName"] == "Team seats (EU)"
    assert Decimal(stored["properties"]["amount"]) == 12

    await page.goto("/admin/plan-edit?code=teams")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Edit Teams")
    await expect(page.get_by_label("Prorate: bill each unit for the days it was in use")).to_be_checked()
    await expect(page.get_by_label("Charge minimum (USD)")).to_have_value(charge["minAmount"])
    await expect(page.get_by_label("Name on invoices", exact=True)).to_have_value("Team seats")
    region = page.get_by_role("group", name="Filter 1: region")
    await expect(region.get_by_label("eu")).to_be_checked()
    await expect(region.get_by_label("us")).not_to_be_checked()
    await expect(page.get_by_label("Filter 1 price per unit")).to_have_value(stored["properties"]["amount"])
    await expect(page.get_by_label("Filter 1 name on invoices")).to_have_value("Team seats (EU)")

    # Saved again untouched, the plan keeps them.
    await page.get_by_role("button", name="Save changes").click()
    await page.wait_for_url("**/admin/plan?code=teams")
    assert (await planner.api(STORED_CHARGES, code="teams"))["plan"]["charges"] == [charge]


async def test_a_plan_change_with_its_own_fee_previews_and_applies_that_fee(
    page: Page, planner: Planner, axe_source: str
) -> None:
    await _scale_plan(planner)
    wayne = {"externalId": "wayne", "name": "Wayne Enterprises", "currency": "USD", "timezone": "UTC"}
    assert not (await planner.api(CUSTOMER, input=wayne))["createCustomer"]["userErrors"]
    subscription = {"customerExternalId": "wayne", "planCode": "starter-wk", "externalId": "wayne-sub",
                    "billingTime": "ANNIVERSARY"}
    assert not (await planner.api(SUBSCRIBE, input=subscription))["createSubscription"]["userErrors"]
    change = {"externalId": "wayne-sub", "planCode": "scale"}
    plain = (await planner.api(PREVIEW_WITH_OVERRIDES, input=change))["previewSubscriptionPlanChange"]
    own_tiers = [{**TIERS[0], "perUnitAmount": "0.8"}, TIERS[1]]
    overrides = {"amount": "79", "charges": [{"billableMetricCode": "api_calls",
                                               "properties": {"graduatedRanges": own_tiers}}]}  # fmt: skip
    custom = (await planner.api(PREVIEW_WITH_OVERRIDES, input={**change, "planOverrides": overrides}))[
        "previewSubscriptionPlanChange"
    ]
    assert plain["userErrors"] == [] == custom["userErrors"], (plain, custom)
    assert plain["preview"]["chargeAmount"] != custom["preview"]["chargeAmount"]  # the new fee is billed now

    await sign_in(page, planner)
    await page.goto("/admin/customer?id=wayne")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Wayne Enterprises")
    await page.get_by_label("Change plan to").select_option("scale")
    await expect(page.get_by_test_id("preview-charge")).to_have_text(_usd(plain["preview"]["chargeAmount"]))
    await page.get_by_role("button", name="Custom prices for this subscription…").click()
    fee = page.get_by_label("Fee per interval (USD)")
    await expect(page.locator("#sub-wayne-sub-override-amount-hint")).to_have_text("Blank: the plan\u2019s $99.00.")

    await fee.fill("-1")  # the preview's userError shows on the fee, and there is nothing to confirm
    await expect(page.locator("#sub-wayne-sub-override-amount-error")).to_have_text("must not be negative")
    await expect(fee).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_role("button", name="Confirm plan change")).to_have_count(0)

    await fee.fill("79")
    await expect(fee).not_to_have_attribute("aria-invalid", "true")
    # The charge's own price, in the plan editor's tier table, starting from the plan's tiers.
    await page.get_by_label("Own price for API calls").check()
    await expect(page.get_by_label("API calls tier 1 per unit")).to_have_value("1")
    await page.get_by_label("API calls tier 2 from").fill("99")  # overlaps tier 1: refused on that field
    overlap = page.locator("#sub-wayne-sub-override-charge-0-tier-1-fromValue-error")
    await expect(overlap).to_contain_text("fromValue must be 100 or 101")
    await page.get_by_label("API calls tier 2 from").fill("101")
    await expect(overlap).to_have_count(0)
    await page.get_by_label("API calls tier 1 per unit").fill("0.8")
    await expect(page.get_by_test_id("preview-charge")).to_have_text(_usd(custom["preview"]["chargeAmount"]))
    await expect(page.get_by_test_id("preview-overrides")).to_contain_text(
        "a fee of $79.00 per interval; own prices for API calls"
    )
    assert await serious_violations(page, axe_source) == []
    await _shoot(page, "change-overrides")

    await page.get_by_role("button", name="Confirm plan change").click()
    await expect(page.get_by_role("status").filter(has_text="wayne-sub is now on Scale.")).to_be_visible()
    stored = (await planner.api(OVERRIDDEN, s="wayne-sub"))["subscription"]
    assert stored["plan"]["code"] == "scale" and Decimal(stored["planOverrides"]["amount"]) == 79
    [tier_1, _] = stored["planOverrides"]["charges"]["api_calls"]["graduatedRanges"]
    assert Decimal(tier_1["perUnitAmount"]) == Decimal("0.8")
