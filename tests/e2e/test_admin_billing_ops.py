"""The admin portal's billing operations in a real browser, against the real API: a credit note issued from the
invoice page (the API's userErrors at the fields first), a customer portal link made, opened and revoked from the
customer page (and its table of links made so far, one revoked there), a bank statement uploaded with one matched
and one unmatched line, an unmatched line matched to an invoice by hand (and a match refused because the line was
matched meanwhile), an unmatched line ignored with a note and restored, and the dunning pages. Screenshots at phone
and desktop width go to the artifacts directory."""

from __future__ import annotations

import asyncio
import re
import secrets

from playwright.async_api import Browser, Page, expect

from db.session import Database
from tests.client import Api
from tests.conftest import make_tenant
from tests.e2e.conftest import DESKTOP, PHONE, artifact, new_context, serious_violations, sign_in
from tests.e2e.seed import PASSWORD, Tenant
from tests.graph.test_payments import CONFIGURE, SET_METHOD
from tests.stack import Stack

# The shop is shared by every browser test: these tests bill existing customers and add no customer.
ONE_OFF = """mutation($input: CreateOneOffInvoiceInput!) { createOneOffInvoice(input: $input) {
  invoice { id number status amountDue paymentReference } userErrors { field code message } } }"""
IMPORT = """mutation($input: ImportBankStatementInput!) { importBankStatement(input: $input) {
  unmatched { id reference } userErrors { code message } } }"""
MATCH = """mutation($input: MatchBankTransactionInput!) { matchBankTransaction(input: $input) {
  transaction { status } userErrors { code } } }"""


async def _shoot(page: Page, name: str) -> None:
    """The page at desktop width, then at phone width (the viewport is put back afterwards)."""
    await page.screenshot(path=artifact(f"billing-{name}-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=artifact(f"billing-{name}-phone.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


async def _one_off(stack: Stack, shop: Tenant, customer: str, lines: list[dict]) -> dict:
    created = await Api(stack.graphql_url, shop.api_key)(
        ONE_OFF, input={"customerExternalId": customer, "lines": lines}
    )
    invoice = created["createOneOffInvoice"]["invoice"]
    assert invoice and invoice["status"] == "OPEN", created
    return invoice


async def test_a_credit_note_is_issued_from_the_invoice_page(page: Page, shop: Tenant, stack: Stack) -> None:
    invoice = await _one_off(
        stack, shop, "globex", [{"description": "Setup", "amount": "100"}, {"description": "Training", "amount": "20"}]
    )
    await sign_in(page, shop)
    await page.goto(f"/admin/invoice?id={invoice['id']}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(invoice["number"])
    await page.get_by_role("button", name="Credit note…").click()
    form = page.get_by_role("form", name="Issue a credit note")

    await form.get_by_role("button", name="Issue credit note").click()  # nothing typed: said at the field
    await expect(page.locator("#credit-amount-error")).to_contain_text("Give the amount")
    await page.get_by_label("Amount", exact=True).fill("500")
    await form.get_by_role("button", name="Issue credit note").click()  # the API's userError, at the field
    await expect(page.locator("#credit-amount-error")).to_contain_text("at most 120.00 USD")
    await _shoot(page, "credit-note-form")

    await page.get_by_label("By line").check()
    await form.get_by_role("checkbox", name=re.compile("Training")).check()  # empty amount: all of the line
    await page.get_by_label("Reason").fill("Training was not held")
    await form.get_by_role("button", name="Issue credit note").click()
    await expect(page.get_by_role("status").filter(has_text="is issued for")).to_contain_text("$20.00")
    notes = page.get_by_role("table", name="Credit notes of this invoice")
    await expect(notes).to_contain_text("Training was not held")
    await expect(notes).to_contain_text("$20.00")
    totals = page.get_by_role("table", name="Totals")
    await expect(totals.get_by_role("row", name=re.compile("^Amount due"))).to_contain_text("$100.00")

    await page.get_by_role("button", name="Resend email").click()
    await expect(page.get_by_role("status").filter(has_text="on its way")).to_be_visible()
    await _shoot(page, "invoice-credited")


async def test_the_portal_link_button_gives_a_link_to_copy_that_opens_the_portal_until_revoked(
    browser: Browser, page: Page, shop: Tenant, stack: Stack
) -> None:
    await sign_in(page, shop)
    await page.goto(f"/admin/customer?id={shop.customer}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Acme Corporation")
    await page.get_by_role("button", name="Portal link").click()
    link = page.locator("#portal-link-url")
    await expect(link).to_have_value(re.compile(r"/portal/session#\S{20,}$"))
    await expect(page.get_by_role("group", name="Portal link")).to_contain_text("expires")
    await expect(page.get_by_role("button", name="Copy link")).to_be_visible()
    await page.get_by_role("button", name="Copy link").click()
    await expect(page.get_by_role("status").filter(has_text=re.compile("Copied|Selected"))).to_be_visible()
    await _shoot(page, "portal-link")
    url = await link.input_value()

    context, _ = await new_context(browser, stack, viewport=DESKTOP)
    customer_page = await context.new_page()
    await customer_page.goto(url)
    await expect(customer_page.get_by_role("heading", level=1)).to_have_text("Your account with Acme Analytics")

    await page.get_by_role("button", name="Revoke link").click()
    await expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    await expect(link).to_have_count(0)
    await customer_page.goto(url.replace("/portal/session#", "/portal/session?again#"))
    await expect(customer_page.locator(".notice.error")).to_contain_text("This portal link cannot be used.")
    await context.close()


PORTAL_LINK = """mutation($c: String!) { createCustomerPortalSession(input: {customerExternalId: $c}) {
  portalSession { id } userErrors { code } } }"""


async def test_the_customer_page_lists_its_portal_links_made_so_far_and_revokes_an_active_one(
    page: Page, shop: Tenant, stack: Stack
) -> None:
    # An earlier link, made through the API (by the organization's key); initech has no other.
    staff = Api(stack.graphql_url, shop.api_key)
    assert (await staff(PORTAL_LINK, c="initech"))["createCustomerPortalSession"]["userErrors"] == []
    key_name = (await staff("{ viewer { name } }"))["viewer"]["name"]
    await sign_in(page, shop)
    await page.goto("/admin/customer?id=initech")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Initech Ltd")
    links = page.get_by_role("table", name="Portal links, newest first")
    rows = links.get_by_role("row")
    await expect(rows).to_have_count(2)  # the header and the earlier link
    await expect(rows.nth(1)).to_contain_text("Active")
    await expect(rows.nth(1)).to_contain_text(key_name)

    # Revoked from its row, after a confirmation: it stays listed, as revoked, with nothing left to do.
    await rows.nth(1).get_by_role("button", name=re.compile("^Revoke…")).click()
    await links.get_by_role("group", name=re.compile("^Confirm revoking the link made")).get_by_role(
        "button", name="Revoke link").click()
    await expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    await expect(rows.nth(1)).to_contain_text("Revoked")
    await expect(rows.nth(1).get_by_role("button")).to_have_count(0)

    # A link made here comes first in the table, by the signed-in user, active.
    await page.get_by_role("button", name="Portal link").click()
    await expect(page.locator("#portal-link-url")).to_have_value(re.compile(r"/portal/session#\S{20,}$"))
    await expect(rows).to_have_count(3)
    await expect(rows.nth(1)).to_contain_text("Active")
    await expect(rows.nth(1)).to_contain_text(shop.email)
    await expect(rows.nth(1).get_by_role("button", name=re.compile("^Revoke…"))).to_be_visible()
    await expect(rows.nth(2)).to_contain_text("Revoked")
    # The list never shows a link itself: only the notice of the one just made does.
    url = await page.locator("#portal-link-url").input_value()
    assert url.split("#", 1)[1] not in (await links.inner_text())
    await _shoot(page, "portal-links-table")


async def test_a_bank_statement_upload_matches_one_line_and_leaves_one_to_review(
    page: Page, shop: Tenant, stack: Stack
) -> None:
    invoice = await _one_off(stack, shop, "initech", [{"description": "Consulting", "amount": "75"}])
    statement = (
        "booking_date,amount,currency,reference,counterparty\n"
        f"2026-12-01,75.00,USD,{invoice['paymentReference']},Initech Ltd\n"
        "2026-12-01,19.99,USD,RF18NOTOURS0042,Someone Else\n"
    )
    await sign_in(page, shop)
    await page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Bank statements").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Bank statements")
    await page.get_by_role("button", name="Import statement").click()  # no file: said at the field
    await expect(page.locator("#statement-file-error")).to_contain_text("Choose a camt.053")

    await page.get_by_label("Statement file").set_input_files(
        {"name": "statement-2026-12.csv", "mimeType": "text/csv", "buffer": statement.encode()}
    )
    await page.get_by_role("button", name="Import statement").click()
    outcome = page.get_by_role("status").filter(has_text="matched")
    await expect(outcome).to_contain_text("1 matched · 1 unmatched")
    await expect(outcome.get_by_role("link", name=invoice["number"])).to_be_visible()
    review = page.get_by_role("table", name="Unmatched lines, newest first")
    await expect(review).to_contain_text("RF18NOTOURS0042")
    await expect(review).to_contain_text("The reference names no invoice")
    await expect(review).to_contain_text("$19.99")
    everything = page.get_by_role("table", name="Imported lines, newest first")
    await expect(everything).to_contain_text("Matched")
    await _shoot(page, "bank-statements")


async def test_an_unmatched_line_is_matched_to_an_open_invoice_by_hand(
    page: Page, shop: Tenant, stack: Stack, axe_source: str
) -> None:
    tag = secrets.token_hex(4)
    api = Api(stack.graphql_url, shop.api_key)
    invoice = await _one_off(stack, shop, "initech", [{"description": f"Workshop {tag}", "amount": "42.17"}])
    spare = await _one_off(stack, shop, "initech", [{"description": f"Travel {tag}", "amount": "13.71"}])
    statement = (
        "booking_date,amount,currency,reference,counterparty\n"
        f"2026-12-02,42.17,USD,Workshop {tag} thanks,Initech Ltd\n"
        f"2026-12-02,13.71,USD,Travel {tag},Initech Ltd\n"
    )
    imported = (await api(IMPORT, input={"format": "CSV", "content": statement}))["importBankStatement"]
    assert imported["userErrors"] == [] and len(imported["unmatched"]) == 2, imported
    travel_line = next(u["id"] for u in imported["unmatched"] if u["reference"] == f"Travel {tag}")

    await sign_in(page, shop)
    await page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Bank statements").click()
    review = page.get_by_role("table", name="Unmatched lines, newest first")
    row = review.get_by_role("row").filter(has_text=f"Workshop {tag} thanks")
    await row.get_by_role("button", name="Match to invoice").click()
    form = page.get_by_role("form", name="Match $42.17 to an invoice")
    await form.get_by_role("button", name="Record payment").click()  # nothing chosen: said in words
    await expect(form.get_by_role("alert")).to_contain_text("Choose the invoice this line pays.")
    await form.get_by_label("Find an open invoice").fill(invoice["number"])
    choice = form.get_by_role("radio", name=re.compile(re.escape(invoice["number"])))
    await expect(form.get_by_role("radio")).to_have_count(1)
    await choice.check()
    await expect(form).to_contain_text(f"Record $42.17 as a payment of {invoice['number']} (Initech Ltd)?")
    await expect(form).to_contain_text("The invoice is then paid.")
    assert await serious_violations(page, axe_source) == []
    await _shoot(page, "bank-match")
    await form.get_by_role("button", name="Record payment").click()
    done = page.get_by_role("status").filter(has_text="is recorded as a payment")
    await expect(done).to_contain_text(
        f"$42.17 is recorded as a payment of invoice {invoice['number']}: it is paid.", timeout=30_000
    )
    await expect(review).not_to_contain_text(f"Workshop {tag} thanks")
    everything = page.get_by_role("table", name="Imported lines, newest first")
    await expect(everything.get_by_role("row").filter(has_text=f"Workshop {tag} thanks")).to_contain_text("Matched")
    await done.get_by_role("link", name=f"Open invoice {invoice['number']}").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(invoice["number"])
    await expect(page.locator("main")).to_contain_text("Paid")
    await page.go_back()

    # The other line: chosen here, but matched elsewhere before it is confirmed — the refusal is said in words.
    travel_row = review.get_by_role("row").filter(has_text=f"Travel {tag}")
    await travel_row.get_by_role("button", name="Match to invoice").click()
    form = page.get_by_role("form", name="Match $13.71 to an invoice")
    await form.get_by_label("Find an open invoice").fill(spare["number"])
    await form.get_by_role("radio", name=re.compile(re.escape(spare["number"]))).check()
    elsewhere = (await api(MATCH, input={"id": travel_line, "invoiceId": spare["id"]}))["matchBankTransaction"]
    assert elsewhere == {"transaction": {"status": "MATCHED"}, "userErrors": []}
    await form.get_by_role("button", name="Record payment").click()
    await expect(form.get_by_role("alert")).to_contain_text("This line is matched already", timeout=30_000)


async def test_an_unmatched_line_is_ignored_with_a_note_and_restored(
    page: Page, shop: Tenant, stack: Stack, axe_source: str
) -> None:
    tag = secrets.token_hex(4)
    api = Api(stack.graphql_url, shop.api_key)
    statement = (
        "booking_date,amount,currency,reference,counterparty\n"
        f"2026-12-03,31.07,USD,Supplier refund {tag},Paper Supplies Ltd\n"
    )
    imported = (await api(IMPORT, input={"format": "CSV", "content": statement}))["importBankStatement"]
    assert imported["userErrors"] == [] and len(imported["unmatched"]) == 1, imported

    await sign_in(page, shop)
    await page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Bank statements").click()
    review = page.get_by_role("table", name="Unmatched lines, newest first")
    row = review.get_by_role("row").filter(has_text=f"Supplier refund {tag}")
    await row.get_by_role("button", name="Ignore").focus()  # reachable from the keyboard
    await page.keyboard.press("Enter")
    form = page.get_by_role("form", name="Ignore the $31.07 line")
    note = form.get_by_label("Note (optional)")
    await note.fill("x" * 501)  # too long: said at the field, nothing ignored
    await form.get_by_role("button", name="Ignore line").click()
    await expect(page.locator("#ignore-note-error")).to_contain_text("at most 500 characters")
    await note.fill(f"Refund from the paper supplier {tag}")
    assert await serious_violations(page, axe_source) == []
    await form.get_by_role("button", name="Ignore line").click()
    done = page.get_by_role("status").filter(has_text="is ignored")
    await expect(done).to_contain_text("The $31.07 line of", timeout=30_000)
    await expect(row).to_have_count(0)  # no longer to review (the table may be gone: nothing left to review)
    ignored = page.get_by_role("table", name="Ignored lines, newest first")
    ignored_row = ignored.get_by_role("row").filter(has_text=f"Supplier refund {tag}")
    await expect(ignored_row).to_contain_text(f"Refund from the paper supplier {tag}")
    await expect(ignored_row).to_contain_text("The reference names no invoice")
    await expect(ignored_row).to_contain_text("by ")
    everything = page.get_by_role("table", name="Imported lines, newest first")
    await expect(everything.get_by_role("row").filter(has_text=f"Supplier refund {tag}")).to_contain_text("Ignored")
    await _shoot(page, "bank-ignored")

    await ignored_row.get_by_role("button", name="Restore").click()
    await expect(page.get_by_role("status").filter(has_text="is restored")).to_contain_text(
        "it is to review again", timeout=30_000
    )
    await expect(ignored_row).to_have_count(0)
    back = review.get_by_role("row").filter(has_text=f"Supplier refund {tag}")
    await expect(back).to_contain_text("Unmatched")
    await expect(back.get_by_role("button", name="Ignore")).to_be_visible()


async def test_the_dunning_queue_and_a_bad_campaign_refused_at_its_field(page: Page, shop: Tenant) -> None:
    await sign_in(page, shop)
    await page.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Dunning").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dunning")
    await expect(page.get_by_text("No invoices with a failed payment: nothing to chase.")).to_be_visible()
    await page.get_by_role("link", name="Campaign settings").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dunning campaign")
    await expect(page.get_by_label("Retry intervals")).to_have_value("P1D, P2D, P2D, P2D, P2D, P2D, P3D")
    await page.get_by_label("Retry intervals").fill("P1D, P1M")
    await page.get_by_role("button", name="Save campaign").click()
    await expect(page.locator("#campaign-intervals-error")).to_contain_text("Interval 2")
    await _shoot(page, "dunning-campaign")


async def _organization_in_dunning(operator_db: Database, stack: Stack) -> tuple[Tenant, dict]:
    """An organization of its own (the shared shop has no payment provider, and its tests count on that): a Stripe
    test key at the fake Stripe, a customer whose card is declined, an invoice whose first attempt failed."""
    made = await make_tenant(operator_db, stack, "Dunning Works")  # in this process: no CLI start-up to wait for
    api = made.api
    email = f"finance-{secrets.token_hex(3)}@dunning.example"
    staff = """mutation($input: CreateStaffUserInput!) { createStaffUser(input: $input) { userErrors { code } } }"""
    user = {"email": email, "password": PASSWORD, "role": "FINANCE", "name": "Fin Ance"}
    assert (await api(staff, input=user))["createStaffUser"]["userErrors"] == []
    key = f"sk_test_{secrets.token_hex(12)}"
    assert (await api(CONFIGURE, input={"provider": "STRIPE", "secretKey": key}))["configurePaymentProvider"][
        "userErrors"
    ] == []
    customer = """mutation { createCustomer(input: {externalId: "late", name: "Late Payer Ltd", currency: "USD",
      email: "ap@late.example"}) { userErrors { code } } }"""
    assert (await api(customer))["createCustomer"]["userErrors"] == []
    method = {"customerExternalId": "late", "provider": "STRIPE",
              "providerPaymentMethodId": "pm_card_chargeDeclinedInsufficientFunds"}  # fmt: skip
    assert (await api(SET_METHOD, input=method))["setCustomerPaymentMethod"]["userErrors"] == []
    lines = [{"description": "Seats", "amount": "240"}]
    billed = await api(ONE_OFF, input={"customerExternalId": "late", "lines": lines})
    invoice = billed["createOneOffInvoice"]["invoice"]
    for _ in range(100):  # the worker charges it at once and the fake Stripe declines it
        shown = await api("query($id: ID!) { invoice(id: $id) { paymentStatus } }", id=invoice["id"])
        if shown["invoice"]["paymentStatus"] == "FAILED":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the first collection attempt was not answered")
    organization = Tenant(made.organization_id, made.api.token or "", email, "late", "", invoice["id"], "", "")
    return organization, invoice


async def test_the_dunning_queue_lists_an_invoice_whose_payment_failed_with_its_next_retry(
    page: Page, stack: Stack, operator_db: Database
) -> None:
    organization, invoice = await _organization_in_dunning(operator_db, stack)
    await sign_in(page, organization)
    nav = page.get_by_role("navigation", name="Admin sections")
    await expect(nav.get_by_role("link", name="Payment providers")).to_have_count(0)  # FINANCE
    await nav.get_by_role("link", name="Dunning").click()
    queue = page.get_by_role("table", name="Invoices with a failed payment, newest first")
    row = queue.get_by_role("row", name=re.compile(invoice["number"]))
    await expect(row).to_contain_text("Late Payer Ltd")
    await expect(row).to_contain_text("$240.00")
    await expect(row).to_contain_text("insufficient_funds")
    await expect(row).to_contain_text("Retrying on schedule")
    await expect(row.get_by_role("cell").nth(4)).to_have_text("1")  # attempts made
    await expect(row.get_by_role("cell").nth(6)).not_to_have_text("None planned")  # the next retry's time
    await expect(page.get_by_role("link", name="Campaign settings")).to_have_count(0)  # ADMIN's
    await _shoot(page, "dunning-queue")
    await row.get_by_role("link", name=invoice["number"]).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(invoice["number"])
