"""Coupons, prepaid credits, credit notes, one-off invoices: the deductions after fees, in their order."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import aiohttp
import pypdf

from tests.graph.catalog_helpers import INGEST, uid
from tests.graph.test_billing import INVOICES, _check_invariants, _monthly_customer, _run

CREDIT_NOTE = """mutation($i: CreateCreditNoteInput!) { createCreditNote(input: $i) {
  creditNote { number kind amount remainingCredit pdfUrl } userErrors { field code message } } }"""
INVOICE = """query($id: ID!) { invoice(id: $id) { status totalAmount creditNotesAmount creditsAmount amountDue
  subtotalAmount discountAmount taxAmount lines { amount taxAmount } creditNotes { number amount } } }"""
LINES = """query($id: ID!) { invoice(id: $id) { lines { id kind description amount taxAmount } } }"""
PAID = "mutation($id: ID!) { markInvoicePaid(input: {invoiceId: $id}) { invoice { status } userErrors { code } } }"


async def test_a_once_coupon_discounts_the_first_invoice_only(tenant) -> None:
    api = tenant.api
    data = await api(
        'mutation { createCoupon(input: {code: "WELCOME10", name: "Welcome", kind: PERCENTAGE, '
        'percentage: "10"}) { coupon { code duration } userErrors { code } } }'
    )
    assert data["createCoupon"] == {"coupon": {"code": "WELCOME10", "duration": "ONCE"}, "userErrors": []}
    cust, _ = await _monthly_customer(api, amount="30")
    applied = await api(
        'mutation($c: String!) { applyCoupon(input: {customerExternalId: $c, couponCode: "WELCOME10"})'
        " { userErrors { code } } }",
        c=cust,
    )
    assert applied["applyCoupon"]["userErrors"] == []
    invoices = sorted((await _run(api))["invoices"], key=lambda i: i["periodEnd"])
    assert [i["discountAmount"] for i in invoices] == ["3.00", "0.00"]
    assert [i["totalAmount"] for i in invoices] == ["27.00", "30.00"]
    for invoice in invoices:
        _check_invariants(invoice)


async def test_a_coupon_in_another_currency_is_refused(tenant) -> None:
    api = tenant.api
    await api(
        'mutation { createCoupon(input: {code: "EUR5", name: "Five euros", kind: FIXED, amount: "5", '
        'currency: "EUR"}) { userErrors { code } } }'
    )
    cust, _ = await _monthly_customer(api)
    data = await api(
        'mutation($c: String!) { applyCoupon(input: {customerExternalId: $c, couponCode: "EUR5"}) '
        "{ coupon { code } userErrors { field code } } }",
        c=cust,
    )
    assert data["applyCoupon"] == {
        "coupon": None,
        "userErrors": [{"field": ["input", "couponCode"], "code": "COUPON_CURRENCY_MISMATCH"}],
    }
    bad = await api(
        'mutation { createCoupon(input: {code: "BAD", name: "Bad", kind: PERCENTAGE, percentage: "150"}) '
        "{ userErrors { code } } }"
    )
    assert bad["createCoupon"]["userErrors"][0]["code"].startswith("COUPON_INVALID")


async def test_prepaid_credits_apply_after_tax_and_never_go_negative(tenant) -> None:
    api = tenant.api
    cust, _ = await _monthly_customer(api, amount="30")
    await api("mutation($c: String!) { createWallet(input: {customerExternalId: $c}) { userErrors { code } } }", c=cust)
    topped = await api(
        'mutation($c: String!) { topUpWallet(input: {customerExternalId: $c, grantedCredits: "40"}) '
        "{ wallet { balance } userErrors { code } } }",
        c=cust,
    )
    assert topped["topUpWallet"]["wallet"]["balance"] == "40.00"
    negative = await api(
        'mutation($c: String!) { topUpWallet(input: {customerExternalId: $c, grantedCredits: "-1"}) '
        "{ wallet { balance } userErrors { code } } }",
        c=cust,
    )
    assert negative["topUpWallet"]["userErrors"] == [{"code": "NEGATIVE_AMOUNT"}]
    invoices = sorted((await _run(api))["invoices"], key=lambda i: i["periodEnd"])
    assert [(i["creditsAmount"], i["amountDue"]) for i in invoices] == [("30.00", "0.00"), ("10.00", "20.00")]
    assert [i["status"] for i in invoices] == ["PAID", "OPEN"]
    wallet = await api("query($c: String!) { wallet(customerExternalId: $c) { balance } }", c=cust)
    assert wallet["wallet"]["balance"] == "0.00"


async def test_paid_credits_become_available_when_their_invoice_is_paid(tenant) -> None:
    api = tenant.api
    cust, _ = await _monthly_customer(api)
    await api("mutation($c: String!) { createWallet(input: {customerExternalId: $c}) { userErrors { code } } }", c=cust)
    await api(
        'mutation($c: String!) { topUpWallet(input: {customerExternalId: $c, paidCredits: "20"}) '
        "{ userErrors { code } } }",
        c=cust,
    )
    invoice = (await api(INVOICES, c=cust))["invoices"]["nodes"][0]
    assert invoice["status"] == "OPEN" and invoice["totalAmount"] == "20.00"
    assert (await api("query($c: String!) { wallet(customerExternalId: $c) { balance } }", c=cust))["wallet"][
        "balance"
    ] == "0.00"
    assert (await api(PAID, id=invoice["id"]))["markInvoicePaid"]["invoice"]["status"] == "PAID"
    assert (await api("query($c: String!) { wallet(customerExternalId: $c) { balance } }", c=cust))["wallet"][
        "balance"
    ] == "20.00"


async def test_credit_notes_lower_what_is_due_and_never_exceed_the_invoice(tenant) -> None:
    api = tenant.api
    await _monthly_customer(api, amount="30")
    invoice = sorted((await _run(api))["invoices"], key=lambda i: i["periodEnd"])[0]
    note = (
        await api(CREDIT_NOTE, i={"invoiceId": invoice["id"], "kind": "CREDIT", "amount": "10", "reason": "outage"})
    )["createCreditNote"]
    assert note["userErrors"] == [] and note["creditNote"]["number"] == invoice["number"] + "-CN1"
    async with aiohttp.ClientSession() as http, http.get(note["creditNote"]["pdfUrl"]) as response:
        assert response.status == 200
        text = pypdf.PdfReader(io.BytesIO(await response.read())).pages[0].extract_text()
    assert note["creditNote"]["number"] in text and "10.00 USD" in text and "outage" in text
    after = (await api(INVOICE, id=invoice["id"]))["invoice"]
    assert (after["creditNotesAmount"], after["amountDue"]) == ("10.00", "20.00")
    _check_invariants(after | {"creditsAmount": after["creditsAmount"]})
    too_much = (await api(CREDIT_NOTE, i={"invoiceId": invoice["id"], "kind": "CREDIT", "amount": "25"}))[
        "createCreditNote"
    ]
    assert too_much["userErrors"][0]["code"] == "CREDIT_NOTE_TOO_LARGE"
    refund = (await api(CREDIT_NOTE, i={"invoiceId": invoice["id"], "kind": "REFUND", "amount": "5"}))[
        "createCreditNote"
    ]
    assert refund["userErrors"][0]["code"] == "REFUND_TOO_LARGE"  # nothing was paid yet
    await api(PAID, id=invoice["id"])
    refund = (await api(CREDIT_NOTE, i={"invoiceId": invoice["id"], "kind": "REFUND", "amount": "5"}))[
        "createCreditNote"
    ]
    assert refund["userErrors"] == [] and refund["creditNote"]["number"].endswith("-CN2")
    assert len((await api(INVOICE, id=invoice["id"]))["invoice"]["creditNotes"]) == 2


async def test_a_void_invoice_cannot_be_credited(tenant) -> None:
    await _monthly_customer(tenant.api)
    invoice = (await _run(tenant.api))["invoices"][0]
    await tenant.api("mutation($id: ID!) { voidInvoice(input: {id: $id}) { userErrors { code } } }", id=invoice["id"])
    note = (await tenant.api(CREDIT_NOTE, i={"invoiceId": invoice["id"], "kind": "CREDIT", "amount": "1"}))[
        "createCreditNote"
    ]
    assert note["userErrors"][0]["code"] == "INVOICE_NOT_CREDITABLE"


async def test_one_off_invoice_is_taxed_and_numbered(tenant) -> None:
    api = tenant.api
    await api(
        'mutation { createTaxRate(input: {code: "vat", name: "VAT", rate: "20", appliesToOrganization: true}) '
        "{ userErrors { code } } }"
    )
    cust, _ = await _monthly_customer(api)
    data = await api(
        "mutation($c: String!) { createOneOffInvoice(input: {customerExternalId: $c, lines: ["
        '{description: "Onboarding day", amount: "50", units: "2"}, {description: "Setup", amount: "10"}'
        "]}) { invoice { number status subtotalAmount taxAmount totalAmount discountAmount "
        "creditNotesAmount creditsAmount amountDue lines { amount taxAmount } } userErrors { code } } }",
        c=cust,
    )
    invoice = data["createOneOffInvoice"]["invoice"]
    assert (invoice["subtotalAmount"], invoice["taxAmount"], invoice["totalAmount"]) == ("110.00", "22.00", "132.00")
    assert invoice["status"] == "OPEN" and invoice["number"].endswith("-0001")
    _check_invariants(invoice)


async def test_voiding_gives_back_coupon_periods_and_prepaid_credits(tenant) -> None:
    api = tenant.api
    await api(
        'mutation { createCoupon(input: {code: "ONCE5", name: "Five off", kind: FIXED, amount: "5", '
        'currency: "USD"}) { userErrors { code } } }'
    )
    cust, _ = await _monthly_customer(api, amount="30")
    await api(
        'mutation($c: String!) { applyCoupon(input: {customerExternalId: $c, couponCode: "ONCE5"}) '
        "{ userErrors { code } } }",
        c=cust,
    )
    await api("mutation($c: String!) { createWallet(input: {customerExternalId: $c}) { userErrors { code } } }", c=cust)
    await api(
        'mutation($c: String!) { topUpWallet(input: {customerExternalId: $c, grantedCredits: "10"}) '
        "{ userErrors { code } } }",
        c=cust,
    )
    first = sorted((await _run(api))["invoices"], key=lambda i: i["periodEnd"])[0]
    assert (first["discountAmount"], first["creditsAmount"], first["amountDue"]) == ("5.00", "10.00", "15.00")
    wallet = "query($c: String!) { wallet(customerExternalId: $c) { balance } }"
    assert (await api(wallet, c=cust))["wallet"]["balance"] == "0.00"
    voided = await api(
        "mutation($id: ID!) { voidInvoice(input: {id: $id}) { invoice { status } userErrors { code } } }",
        id=first["id"],
    )
    assert voided["voidInvoice"]["invoice"]["status"] == "VOID"
    assert (await api(wallet, c=cust))["wallet"]["balance"] == "10.00"
    one_off = await api(
        "mutation($c: String!) { createOneOffInvoice(input: {customerExternalId: $c, lines: "
        '[{description: "Re-issue", amount: "1"}]}) { invoice { id } } }',
        c=cust,
    )
    assert one_off["createOneOffInvoice"]["invoice"]["id"]
    applied = await api(
        'mutation($c: String!) { applyCoupon(input: {customerExternalId: $c, couponCode: "ONCE5"}) '
        "{ userErrors { code } } }",
        c=cust,
    )
    assert applied["applyCoupon"]["userErrors"] == [{"code": "COUPON_ALREADY_APPLIED"}]  # active again, unused


CREDIT_BY_LINE = """mutation($i: CreateCreditNoteInput!) { createCreditNote(input: $i) {
  creditNote { number kind amount remainingCredit pdfUrl items { invoiceLineId description amount taxAmount } }
  userErrors { field code message } } }"""


async def test_a_credit_note_by_line_gives_back_each_line_with_its_tax(stack, tenant) -> None:
    api = tenant.api
    await api(
        'mutation { createTaxRate(input: {code: "vat20", name: "VAT", rate: "20", appliesToOrganization: true}) '
        "{ userErrors { code } } }"
    )
    cust, m = await _monthly_customer(api, amount="30", unit_price="2.5")
    when = (datetime.now(UTC) - timedelta(days=5)).isoformat()  # in the period that ended yesterday
    events = [
        {"transactionId": uid("t"), "customerExternalId": cust, "metricCode": m, "timestamp": when} for _ in range(4)
    ]
    assert (await api(INGEST, input={"events": events}))["ingestUsage"]["accepted"] == 4
    invoice = next(
        i for i in sorted((await _run(api))["invoices"], key=lambda i: i["periodEnd"]) if i["totalAmount"] != "36.00"
    )
    lines = (await api(LINES, id=invoice["id"]))["invoice"]["lines"]
    fee, usage = (next(ln for ln in lines if ln["kind"] == kind) for kind in ("SUBSCRIPTION", "CHARGE"))
    # the fee line 30.00 + 6.00 tax, the usage line 4 x 2.50 = 10.00 + 2.00 tax: total 48.00
    assert (invoice["totalAmount"], usage["amount"], usage["taxAmount"]) == ("48.00", "10.00", "2.00")

    # a third of the fee (10.00, its tax 2.00) and all of the usage (10.00 + 2.00)
    note = (
        await api(
            CREDIT_BY_LINE,
            i={"invoiceId": invoice["id"], "kind": "CREDIT", "reason": "outage",
               "lines": [{"invoiceLineId": fee["id"], "amount": "10"}, {"invoiceLineId": usage["id"]}]},
        )
    )["createCreditNote"]
    assert note["userErrors"] == []
    assert note["creditNote"]["amount"] == "24.00"
    assert [(i["invoiceLineId"], i["amount"], i["taxAmount"]) for i in note["creditNote"]["items"]] == [
        (fee["id"], "10.00", "2.00"),
        (usage["id"], "10.00", "2.00"),
    ]
    after = (await api(INVOICE, id=invoice["id"]))["invoice"]
    assert (after["creditNotesAmount"], after["amountDue"]) == ("24.00", "24.00")

    # the usage line has nothing left; the fee line has 20.00 left, not 20.01
    refused = await api(
        CREDIT_BY_LINE, i={"invoiceId": invoice["id"], "kind": "CREDIT", "lines": [{"invoiceLineId": usage["id"]}]}
    )
    assert [(e["field"], e["code"]) for e in refused["createCreditNote"]["userErrors"]] == [
        (["input", "lines", "0", "amount"], "INVALID_AMOUNT")
    ]
    too_much = await api(
        CREDIT_BY_LINE,
        i={"invoiceId": invoice["id"], "kind": "CREDIT", "lines": [{"invoiceLineId": fee["id"], "amount": "20.01"}]},
    )
    assert [(e["field"], e["code"]) for e in too_much["createCreditNote"]["userErrors"]] == [
        (["input", "lines", "0", "amount"], "CREDIT_NOTE_LINE_TOO_LARGE")
    ]
    both = await api(
        CREDIT_BY_LINE,
        i={"invoiceId": invoice["id"], "kind": "CREDIT", "amount": "1", "lines": [{"invoiceLineId": fee["id"]}]},
    )
    assert [e["code"] for e in both["createCreditNote"]["userErrors"]] == ["INVALID_INPUT"]
    # the rest of the fee line: 20.00 and exactly the 4.00 of tax left on it
    rest = (
        await api(
            CREDIT_BY_LINE, i={"invoiceId": invoice["id"], "kind": "CREDIT", "lines": [{"invoiceLineId": fee["id"]}]}
        )
    )["createCreditNote"]["creditNote"]
    assert [(i["amount"], i["taxAmount"]) for i in rest["items"]] == [("20.00", "4.00")]
    final = (await api(INVOICE, id=invoice["id"]))["invoice"]
    assert (final["creditNotesAmount"], final["amountDue"], final["status"]) == ("48.00", "0.00", "PAID")

    async with aiohttp.ClientSession() as http, http.get(rest["pdfUrl"]) as response:
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(await response.read())).pages)
    assert "Credit note" in text and "20.00" in text and usage["description"] not in text
    assert fee["description"] in text
