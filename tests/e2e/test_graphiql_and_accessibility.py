"""GraphiQL offline at /graphql, axe-core on the main pages (light and dark, desktop and phone), the inline
scripts' CSP hashes, and screenshots of every page kept as test artifacts."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.client import Api
from tests.e2e.conftest import BUILD, DESKTOP, PHONE, Offline, artifact, new_context, serious_violations, sign_in
from tests.e2e.seed import Tenant
from tests.stack import Stack
from valueverse.frontend import StaticExport


async def _replace_editor_text(page: Page, editor, text: str) -> None:
    await editor.click()
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.press("Delete")
    await page.keyboard.insert_text(text)


async def test_graphiql_loads_offline_and_runs_a_query_and_a_subscription_with_an_api_key(
    page: Page, context, shop: Tenant
) -> None:
    offline: Offline = context[1]
    await page.goto("/graphql")
    await expect(page.get_by_text('{"Authorization": "Bearer <your API key>"}')).to_be_visible()
    headers = page.locator(".graphiql-editor-tool .graphiql-editor").last
    await expect(headers).to_contain_text("Bearer <your API key>", timeout=30_000)  # Monaco is up

    await _replace_editor_text(page, headers, '{"Authorization": "Bearer ' + shop.api_key + '"}')
    await expect(page.get_by_role("status").filter(has_text="Schema loaded")).to_be_visible(timeout=15_000)
    await page.get_by_role("button", name=re.compile("Execute query")).click()
    response = page.locator(".graphiql-response")
    await expect(response).to_contain_text('"name": "Acme Analytics"', timeout=15_000)

    query = page.locator(".graphiql-query-editor .graphiql-editor").first
    subscription = 'subscription LiveUsage { usageUpdated(customerExternalId: "acme") { currency } }'
    await _replace_editor_text(page, query, subscription)
    await expect(page.get_by_role("tab", name="LiveUsage")).to_be_visible()  # GraphiQL has read the new operation
    await page.get_by_role("button", name=re.compile("Execute query")).click()
    await expect(response).to_contain_text('"currency": "USD"', timeout=15_000)  # over graphql-ws
    assert offline.foreign == []


PAGES = [
    ("login", "/admin/login", "Sign in to the admin portal"),
    ("overview", "/admin", "Overview"),
    ("customers", "/admin/customers", "Customers"),
    ("customer", "/admin/customer?id=acme", "Acme Corporation"),
    ("invoices", "/admin/invoices", "Invoices"),
    ("invoice", None, "Invoice"),
    ("plans", "/admin/plans", "Plans"),
    ("plan", "/admin/plan?code=growth", "Growth"),
    ("plan-edit", "/admin/plan-edit?code=growth", "Edit Growth"),
    ("metrics", "/admin/metrics", "Billable metrics"),
    ("audit", "/admin/audit", "Audit log"),
    ("revenue", "/admin/revenue", "Revenue"),
    ("dunning", "/admin/dunning", "Dunning"),
    ("dunning-campaign", "/admin/dunning-campaign", "Dunning campaign"),
    ("bank-statements", "/admin/bank-statements", "Bank statements"),
    ("webhooks", "/admin/webhooks", "Webhook endpoints"),
    ("webhook", "/admin/webhook?id={endpoint}", "Deliveries"),
    ("payment-providers", "/admin/payment-providers", "Payment providers"),
    ("api-keys", "/admin/api-keys", "API keys"),
    ("staff", "/admin/staff", "Staff users"),
    ("security", "/admin/security", "Security"),
    ("portal", "/portal", "Customer portal"),
    ("not-found", "/admin/no-such-page", "Page not found"),
]


ENDPOINT = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  endpoint { id } userErrors { field code message } } }"""


async def _webhook_endpoint(shop: Tenant, stack: Stack) -> str:
    """An endpoint whose deliveries page is checked (it subscribes to nothing the pages cause)."""
    input = {"url": "http://127.0.0.1:9/axe", "eventTypes": ["dunning.exhausted"], "description": "axe"}
    payload = (await Api(stack.graphql_url, shop.api_key)(ENDPOINT, input=input))["createWebhookEndpoint"]
    assert not payload["userErrors"], payload
    return payload["endpoint"]["id"]


async def test_main_pages_have_no_serious_accessibility_violation(
    browser: Browser, stack: Stack, shop: Tenant, axe_source: str
) -> None:
    endpoint = await _webhook_endpoint(shop, stack)
    found: dict[str, list[str]] = {}
    for label, viewport, scheme in [("desktop-light", DESKTOP, "light"), ("phone-dark", PHONE, "dark")]:
        context, offline = await new_context(browser, stack, viewport=viewport, color_scheme=scheme)
        page = await context.new_page()
        await page.goto("/admin/login")
        await expect(page.get_by_role("heading", name="Sign in to the admin portal")).to_be_visible()
        for name, path, heading in PAGES:
            if name == "overview":
                await sign_in(page, shop)
            if path is not None:
                await page.goto(path.format(endpoint=endpoint))
            else:  # the invoice page, reached by its link
                await page.goto("/admin/invoices")
                await page.get_by_role("link", name=shop.invoice_number).click()
                await page.wait_for_url("**/admin/invoice?id=*")  # the list's own h1 says "Invoices"
            await expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
            await expect(page.get_by_role("status").filter(has_text=re.compile("^Loading"))).to_have_count(0)
            if name == "customer":
                await expect(page.get_by_test_id("usage-amount")).to_be_visible()
            await page.screenshot(path=artifact(f"{name}-{label}.png"), full_page=True)
            if violations := await serious_violations(page, axe_source):
                found[f"{name} ({label})"] = violations
        await context.close()
        assert offline.foreign == [], offline.foreign
    assert found == {}, found


CSP_PAGES = {"/admin/login": "admin/login.html", "/admin": "admin.html", "/graphql": "graphiql.html"}


async def test_pages_run_under_a_strict_csp_of_their_inline_script_hashes(
    browser: Browser, stack: Stack, shop: Tenant
) -> None:
    """Each page is served with a policy that allows its inline scripts by hash and nothing else inline, and
    that is all its scripts need: no 'unsafe-inline' script, nothing refused."""
    site = StaticExport(BUILD)
    context, offline = await new_context(browser, stack, viewport=DESKTOP)
    page = await context.new_page()
    policies: dict[str, str] = {}

    def remember(response) -> None:
        path = response.url.removeprefix(stack.api_url).split("?")[0]
        if path in CSP_PAGES and response.request.resource_type == "document":
            policies[path] = response.headers.get("content-security-policy", "")

    page.on("response", remember)
    refused: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))

    await page.goto("/admin/login")  # its scripts run: the form signs in through React
    await page.get_by_label("Email").fill(shop.email)
    await page.get_by_label("Password").fill("correct horse battery staple")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await page.reload()  # the overview's own page, loaded as a document under its own policy
    await expect(page.get_by_role("link", name="Customers", exact=True)).to_be_visible()
    await page.goto("/graphql")  # Monaco, its workers and fonts: all from 'self'
    headers = page.locator(".graphiql-editor-tool .graphiql-editor").last
    await expect(headers).to_contain_text("Bearer <your API key>", timeout=30_000)
    await context.close()
    assert refused == []
    assert offline.foreign == []
    assert set(policies) == set(CSP_PAGES), policies
    for path, policy in policies.items():
        scripts = next(d for d in policy.split("; ") if d.startswith("script-src ")).split()[1:]
        hashes = site.script_hashes(CSP_PAGES[path])
        assert hashes and scripts == ["'self'", *hashes], (path, policy)
        assert "frame-ancestors 'none'" in policy
