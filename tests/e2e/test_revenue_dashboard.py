"""The revenue dashboard in a real browser: its MRR is the API's, bad ranges are refused in words, phone to desktop."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from playwright.async_api import Browser, expect

from tests.client import Api, TransportQueryError
from tests.e2e.conftest import DESKTOP, PHONE, artifact, new_context, sign_in
from tests.e2e.seed import Tenant
from tests.stack import Stack

METRICS = """query($from: Date!, $to: Date!) { revenueMetrics(from: $from, to: $to) { periodEnd mrr currency } }"""


def _default_range(today: datetime) -> tuple[str, str]:
    """The dashboard's default: the first of the month eleven months ago to today (the browser's zone: UTC here)."""
    year, month = divmod(today.year * 12 + today.month - 1 - 11, 12)
    return f"{year:04d}-{month + 1:02d}-01", today.date().isoformat()


async def test_dashboard_shows_the_apis_mrr_and_refuses_bad_ranges(
    browser: Browser, stack: Stack, shop: Tenant
) -> None:
    context, offline = await new_context(browser, stack, viewport=DESKTOP, timezone_id="UTC", locale="en-US")
    page = await context.new_page()
    await sign_in(page, shop)
    await page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Revenue").click()
    await page.wait_for_url("**/admin/revenue")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Revenue")

    start, end = _default_range(datetime.now())
    points = (await Api(stack.graphql_url, shop.api_key)(METRICS, **{"from": start, "to": end}))["revenueMetrics"]
    mrr = Decimal(points[-1]["mrr"])
    assert mrr > 0 and points[-1]["currency"] == "USD"
    await expect(page.get_by_test_id("mrr-figure")).to_have_text(f"${mrr:,.2f}")
    await expect(page.get_by_test_id("arr-figure")).to_have_text(f"${12 * mrr:,.2f}")
    for heading in ("MRR and ARPU", "MRR movements", "Net and gross revenue retention",
                    "Invoiced, collected and overdue", "Revenue by plan", "Top customers by usage"):  # fmt: skip
        await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    await expect(page.get_by_role("table", name="Revenue by plan")).to_contain_text("Growth")
    await page.screenshot(path=artifact("revenue-desktop.png"), full_page=True)

    # `to` before `from`: said beside the form, nothing asked of the API; the API refuses it as well.
    await page.get_by_label("From").fill("2026-03-01")
    await page.get_by_label("To (included)").fill("2026-02-01")
    await page.get_by_role("button", name="Show").click()
    # (Next.js's route announcer is an alert too: the form's own one is picked by its words.)
    await expect(page.get_by_role("alert").filter(has_text="“To” is before “From”")).to_be_visible()
    await expect(page.get_by_label("To (included)")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("From").fill("2019-01-01")
    await page.get_by_label("To (included)").fill("2025-01-01")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("alert").filter(has_text="at most 5 years")).to_be_visible()
    for variables, code in [
        ({"from": "2026-03-01", "to": "2026-02-01"}, "INVALID_DATE_RANGE"),
        ({"from": "2019-01-01", "to": "2025-01-01"}, "DATE_RANGE_TOO_LONG"),
    ]:
        try:
            await Api(stack.graphql_url, shop.api_key)(METRICS, **variables)
        except TransportQueryError as error:
            assert error.errors[0]["extensions"]["code"] == code
        else:
            raise AssertionError(f"the API accepted {variables}")

    # A range typed in the address bar is checked too; a good one shows its figures.
    await page.goto(f"/admin/revenue?from={start}&to={end}&granularity=WEEK&currency=USD")
    await expect(page.get_by_test_id("mrr-figure")).to_have_text(f"${mrr:,.2f}")
    await context.close()
    assert offline.foreign == [], offline.foreign

    phone, offline = await new_context(browser, stack, viewport=PHONE, color_scheme="dark", timezone_id="UTC")
    page = await phone.new_page()
    await sign_in(page, shop)
    await page.goto("/admin/revenue")
    await expect(page.get_by_test_id("mrr-figure")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
    await page.screenshot(path=artifact("revenue-phone-dark.png"), full_page=True)
    await phone.close()
    assert offline.foreign == [], offline.foreign
