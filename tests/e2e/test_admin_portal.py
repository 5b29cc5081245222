"""The admin portal in a real browser, against the real API: sign-in, customers, live usage, invoices, PDFs."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.client import Api
from tests.e2e.conftest import sign_in
from tests.e2e.seed import Tenant, send_usage
from tests.stack import Stack


async def test_staff_user_signs_in_sees_customers_and_logs_out(page: Page, shop: Tenant) -> None:
    await page.goto("/admin/customers")
    await page.wait_for_url("**/admin/login?next=%2Fadmin%2Fcustomers")
    await page.get_by_label("Email").fill(shop.email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".notice.error")).to_contain_text(re.compile("password", re.I))

    await page.get_by_label("Password").fill("correct horse battery staple")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/admin/customers")  # back where the visitor wanted to go
    table = page.get_by_role("table", name="Customers, oldest first")
    await expect(table.get_by_role("row")).to_have_count(4)  # a header and three customers
    await expect(table).to_contain_text("Acme Corporation")
    await expect(page.get_by_role("navigation", name="Admin sections")).to_contain_text("Audit log")  # ADMIN's menu

    await page.get_by_label("Search customers").fill("globex")
    await expect(page.get_by_role("table", name="Customers matching “globex”").get_by_role("row")).to_have_count(2)
    await page.get_by_label("Search customers").fill("nobody-like-this")
    await expect(page.get_by_text("No customer matches “nobody-like-this”.")).to_be_visible()

    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/admin/login?next=*")
    assert await page.evaluate("sessionStorage.length") == 0
    await page.goto("/admin/customers")
    await page.wait_for_url("**/admin/login?next=*")  # the token is gone: a new page load asks again


async def test_live_usage_changes_as_events_arrive_without_a_reload(page: Page, shop: Tenant, stack: Stack) -> None:
    await sign_in(page, shop)
    await page.get_by_role("link", name="Customers", exact=True).click()
    await page.get_by_role("link", name="Acme Corporation").click()
    await page.wait_for_url("**/admin/customer?id=acme")
    amount = page.get_by_test_id("usage-amount")
    await expect(page.get_by_text("Live: updates as usage arrives")).to_be_visible()
    await expect(amount).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    before = await amount.inner_text()
    await page.evaluate("window.__samePage = true")

    await send_usage(Api(stack.graphql_url, shop.api_key), shop.customer, 1000)  # 1,000 tokens at $0.25

    expected = float(before.replace("$", "").replace(",", "")) + 250
    await expect(amount).to_have_text(f"${expected:,.2f}", timeout=10_000)
    assert await page.evaluate("window.__samePage === true")  # pushed over graphql-ws, not reloaded


async def test_invoice_opens_with_lines_and_a_pdf_and_a_draft_is_finalized_then_voided(
    page: Page, shop: Tenant
) -> None:
    await sign_in(page, shop)
    await page.get_by_role("link", name="Invoices").click()
    await page.get_by_role("link", name=shop.invoice_number).click()
    await expect(page.get_by_role("heading", name=f"Invoice {shop.invoice_number}")).to_be_visible()
    lines = page.get_by_role("table", name="Invoice lines")
    await expect(lines).to_contain_text("Growth")
    await expect(page.get_by_role("table", name="Totals")).to_contain_text("$49.00")

    pdf_link = page.get_by_role("link", name=re.compile("^Open PDF"))
    async with page.context.expect_page() as opened:
        await pdf_link.click()
    pdf_tab = await opened.value
    assert pdf_tab.url.startswith(page.url.split("/admin")[0] + f"/v1/invoices/{shop.invoice_id}/pdf?")
    response = await page.request.get(await pdf_link.get_attribute("href") or "")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert (await response.body()).startswith(b"%PDF")
    await pdf_tab.close()

    await page.goto(f"/admin/invoice?id={shop.draft_id}")
    await expect(page.get_by_role("heading", name=re.compile("^Draft invoice"))).to_be_visible()
    await page.get_by_role("button", name="Finalize").click()
    await expect(page.get_by_role("status").filter(has_text="finalized")).to_be_visible()
    await expect(page.get_by_role("heading", name=re.compile(r"^Invoice \S+-\d{6}-\d{4}"))).to_contain_text("Open")

    await page.get_by_role("button", name="Void…").click()
    await page.get_by_role("button", name="Void invoice").click()
    await expect(page.get_by_role("status").filter(has_text="The invoice is void.")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Void")
    await expect(page.get_by_role("button", name="Void…")).to_have_count(0)


async def test_metrics_plans_and_the_audit_chain(page: Page, shop: Tenant) -> None:
    await sign_in(page, shop)
    await page.get_by_role("link", name="Billable metrics").click()
    await page.get_by_label("Code").fill("api_calls")  # taken: the API's userError is shown at the field
    await page.get_by_label("Name", exact=True).fill("Duplicate")
    await page.get_by_role("button", name="Create metric").click()
    await expect(page.locator("#metric-code-error")).to_be_visible()
    await page.get_by_label("Code").fill("storage_gb")
    await page.get_by_label("Aggregation").select_option("WEIGHTED_SUM")
    await page.get_by_label("Property").fill("gb")
    await page.get_by_role("button", name="Create metric").click()
    await expect(page.get_by_role("status").filter(has_text="storage_gb")).to_be_visible()
    await expect(page.get_by_role("table", name="Billable metrics")).to_contain_text("Weighted sum")

    await page.get_by_role("link", name="Plans").click()
    await page.get_by_role("link", name="Growth").click()
    tiers = page.get_by_role("table", name="Tiers of API calls")
    await expect(tiers.get_by_role("row")).to_have_count(3)
    await expect(tiers).to_contain_text("and up")

    await page.get_by_role("link", name="Audit log").click()
    entries = page.get_by_role("table", name="Audit entries, newest first")
    await expect(entries).to_contain_text("billable_metric.created")
    await page.get_by_role("button", name="Verify the chain").click()
    await expect(page.get_by_text(re.compile(r"The chain is intact: \d+ entries checked"))).to_be_visible()


async def test_a_session_in_use_lives_on_and_one_left_alone_ends(page: Page, shop: Tenant) -> None:
    """Time as an input: the page's clock (Playwright's) is moved; the server's runs as usual."""
    await page.clock.install()
    await sign_in(page, shop)

    async def stored() -> dict:
        return await page.evaluate("JSON.parse(sessionStorage.getItem('valueverse.admin.session'))")

    first = await stored()
    await page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Customers").click()
    await page.wait_for_url("**/admin/customers")  # the user did something
    async with page.expect_response(
        lambda r: r.url.endswith("/graphql") and "refreshSession" in (r.request.post_data or "")
    ) as renewal:
        await page.clock.fast_forward("08:00")  # past half of the 15-minute session
    answer = await (await renewal.value).json()
    assert answer["data"]["refreshSession"]["userErrors"] == []
    renewed = await stored()  # the server's clock moved only seconds: the expiry is about the same
    assert renewed["token"] == answer["data"]["refreshSession"]["token"] != first["token"]
    assert renewed["expiresAt"] >= first["expiresAt"]
    # Pages go on with the new token, without a reload (`fill` types no keys: not an action that renews).
    await page.get_by_label("Search customers").fill("globex")
    await page.clock.run_for(1000)  # the search waits for typing to settle
    await expect(page.get_by_role("table", name="Customers matching “globex”").get_by_role("row")).to_have_count(2)

    # Left alone from now on: no renewal, and signed out at the expiry.
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.post_data or "") if r.url.endswith("/graphql") else None)
    await page.clock.fast_forward("16:00")
    await page.wait_for_url("**/admin/login?next=*")
    await expect(page.get_by_text("Your session expired. Sign in again.")).to_be_visible()
    assert not any("refreshSession" in body for body in asked)
    assert await page.evaluate("sessionStorage.length") == 0
