"""Wire transfers through the public API: bank details on the invoice PDF, bank statements imported and matched."""

from __future__ import annotations

import io
from pathlib import Path

import aiohttp
import pypdf
import pytest
from stdnum import iso11649

from tests.client import TransportQueryError
from tests.graph.catalog_helpers import customer
from tests.graph.test_payments import CONFIGURE, INVOICE, WALLET, invoice_of

STATEMENTS = Path(__file__).resolve().parents[1] / "integrations" / "statements"

IMPORT = """mutation($input: ImportBankStatementInput!) { importBankStatement(input: $input) {
  matched { amount reference invoice { id status amountPaid paymentStatus } payment { id method amount reference }
            transaction { id status } }
  unmatched { id amount currency reference bookedAt reason direction invoiceId }
  alreadyImported account userErrors { field code message } } }"""
UNMATCHED = """{ unmatchedBankTransactions { totalCount nodes { amount currency reference bookedAt reason } } }"""
TRANSACTIONS = """{ bankTransactions { totalCount nodes { status } } }"""
PAYMENTS = "{ payments { totalCount } }"
PDF_URL = "query($id: ID!) { invoice(id: $id) { id pdfUrl paymentReference number } }"
WIRE = {
    "provider": "WIRE",
    "accountHolder": "Acme Analytics GmbH",
    "bankName": "Deutsche Bank",
    "iban": "de89 3704 0044 0532 0130 00",
    "bic": "DEUTDEFFXXX",
}


async def numbered(tenant, invoice_id: str) -> dict:
    return (await tenant.api(PDF_URL, id=invoice_id))["invoice"]


async def four_invoices(tenant) -> dict[str, dict]:
    await customer(tenant.api, "wire", currency="USD")
    return {
        name: await numbered(tenant, (await invoice_of(tenant, "100", external_id="wire"))["id"]) for name in "ABCD"
    }


def statement(invoices: dict[str, dict]) -> str:
    text = (STATEMENTS / "camt053_invoices.xml").read_text()
    values = {
        "{{A_REF}}": invoices["A"]["paymentReference"],
        "{{B_NUMBER}}": invoices["B"]["number"],
        "{{C_REF_GROUPED}}": iso11649.format(invoices["C"]["paymentReference"]),
        "{{D_REF}}": invoices["D"]["paymentReference"],
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


async def test_the_invoice_pdf_shows_the_bank_details_and_its_payment_reference(tenant):
    configured = (await tenant.api(CONFIGURE, input=WIRE))["configurePaymentProvider"]
    assert configured == {"provider": "WIRE", "mode": "LIVE", "last4": "3000", "userErrors": []}
    await customer(tenant.api, "wire", currency="USD")
    opened = await numbered(tenant, (await invoice_of(tenant, "100", external_id="wire"))["id"])
    assert iso11649.is_valid(opened["paymentReference"])
    async with aiohttp.ClientSession() as http, http.get(opened["pdfUrl"]) as response:
        assert response.status == 200
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(await response.read())).pages)
    assert "Pay by bank transfer" in text
    assert "DE89 3704 0044 0532 0130 00" in text and "DEUTDEFFXXX" in text and "Acme Analytics GmbH" in text
    assert iso11649.format(opened["paymentReference"]) in text and "100.00 USD" in text


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("iban", "DE89 3704 0044 0532 0130 01", "INVALID_IBAN"),
        ("bic", "DEUT", "INVALID_BIC"),
        ("routingNumber", "111000026", "INVALID_ROUTING_NUMBER"),
    ],
)
async def test_bad_bank_details_are_refused_and_nothing_is_stored(tenant, field, value, code):
    refused = (await tenant.api(CONFIGURE, input={**WIRE, field: value}))["configurePaymentProvider"]
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["input", field], code)]
    # Nothing stored: the invoice PDF has no bank details block.
    await customer(tenant.api, "wire", currency="USD")
    opened = await numbered(tenant, (await invoice_of(tenant, "10", external_id="wire"))["id"])
    async with aiohttp.ClientSession() as http, http.get(opened["pdfUrl"]) as response:
        text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(await response.read())).pages)
    assert "Pay by bank transfer" not in text and iso11649.format(opened["paymentReference"]) in text


async def test_a_camt053_statement_pays_invoices_by_reference_and_keeps_the_rest_for_review(tenant):
    invoices = await four_invoices(tenant)
    content = statement(invoices)
    imported = (await tenant.api(IMPORT, input={"format": "CAMT053", "content": content}))["importBankStatement"]
    assert imported["userErrors"] == [] and imported["alreadyImported"] == 0
    assert imported["account"] == "DE89370400440532013000"
    matched = {m["amount"]: m for m in imported["matched"]}
    assert sorted(matched) == ["100.00", "130.00", "40.00"]
    a, b, c = matched["100.00"], matched["40.00"], matched["130.00"]
    assert (a["invoice"]["status"], a["invoice"]["amountPaid"], a["reference"]) == (
        "PAID",
        "100.00",
        invoices["A"]["paymentReference"],
    )
    assert (b["invoice"]["status"], b["invoice"]["amountPaid"], b["reference"]) == (
        "OPEN",
        "40.00",
        invoices["B"]["number"],
    )
    assert (c["invoice"]["status"], c["invoice"]["amountPaid"]) == ("PAID", "100.00")
    assert {m["payment"]["method"] for m in imported["matched"]} == {"WIRE"}
    assert all(m["transaction"]["status"] == "MATCHED" for m in imported["matched"])
    # The overpayment's excess is prepaid credit, as with recordPayment.
    assert (await tenant.api(WALLET, c="wire"))["wallet"] == {"currency": "USD", "balance": "30.00"}
    reasons = sorted((u["reason"], u["amount"], u["currency"]) for u in imported["unmatched"])
    assert reasons == [
        ("CURRENCY_MISMATCH", "100.00", "EUR"),
        ("DEBIT", "12.50", "USD"),
        ("INVOICE_NOT_OPEN", "100.00", "USD"),
        ("NOT_BOOKED", "60.00", "USD"),
        ("UNKNOWN_REFERENCE", "55.00", "USD"),
    ]
    assert {u["bookedAt"] for u in imported["unmatched"]} == {"2026-12-02"}
    [unknown] = [u for u in imported["unmatched"] if u["reason"] == "UNKNOWN_REFERENCE"]
    assert (unknown["reference"], unknown["invoiceId"]) == ("RF18539007547034", None)
    [wrong_currency] = [u for u in imported["unmatched"] if u["reason"] == "CURRENCY_MISMATCH"]
    assert wrong_currency["reference"] == invoices["D"]["paymentReference"] and wrong_currency["invoiceId"]
    review = (await tenant.api(UNMATCHED))["unmatchedBankTransactions"]
    assert review["totalCount"] == 5
    payments_before = (await tenant.api(PAYMENTS))["payments"]["totalCount"]
    assert payments_before == 3

    # The same statement again: every line is known, nothing is recorded twice.
    again = (await tenant.api(IMPORT, input={"format": "CAMT053", "content": content}))["importBankStatement"]
    assert (again["matched"], again["unmatched"], again["alreadyImported"], again["userErrors"]) == ([], [], 8, [])
    assert (await tenant.api(PAYMENTS))["payments"]["totalCount"] == 3
    assert (await tenant.api(TRANSACTIONS))["bankTransactions"]["totalCount"] == 8
    assert (await tenant.api(WALLET, c="wire"))["wallet"]["balance"] == "30.00"
    b_after = (await tenant.api(INVOICE, id=b["invoice"]["id"]))["invoice"]
    assert (b_after["amountPaid"], [p["amount"] for p in b_after["payments"]]) == ("40.00", ["40.00"])


async def test_a_csv_statement_pays_the_rest_of_an_invoice(tenant):
    await customer(tenant.api, "csv", currency="USD")
    opened = await numbered(tenant, (await invoice_of(tenant, "75.50", external_id="csv"))["id"])
    ref = opened["paymentReference"]
    content = (
        "booking_date;amount;currency;reference;bank_reference;counterparty\n"
        f"2026-12-01;25.50;USD;{iso11649.format(ref)};B1;Csv Ltd\n"
        f"2026-12-02;50;USD;Rest of {opened['number']};B2;Csv Ltd\n"
        "2026-12-02;-9.99;USD;Card fees;B3;Bank\n"
        "2026-12-02;50;USD;;B4;Someone\n"
    )
    imported = (await tenant.api(IMPORT, input={"format": "CSV", "content": content}))["importBankStatement"]
    assert imported["userErrors"] == []
    # Two payments of one invoice: it reads as it is once the statement is in.
    assert [(m["amount"], m["invoice"]["status"], m["invoice"]["amountPaid"]) for m in imported["matched"]] == [
        ("25.50", "PAID", "75.50"),
        ("50.00", "PAID", "75.50"),
    ]
    assert [m["reference"] for m in imported["matched"]] == [ref, opened["number"]]
    assert sorted(u["reason"] for u in imported["unmatched"]) == ["DEBIT", "UNKNOWN_REFERENCE"]


@pytest.mark.parametrize(
    ("statement_format", "content", "code"),
    [
        ("CAMT053", "<html><body>not a statement</body></html>", "UNSUPPORTED_BANK_STATEMENT"),
        ("CAMT053", "<Document", "INVALID_BANK_STATEMENT"),
        ("CSV", "date,value\n2026-12-01,10\n", "INVALID_BANK_STATEMENT"),
        ("CSV", "booking_date,amount,currency\n2026-12-01,ten,USD\n", "INVALID_BANK_STATEMENT"),
    ],
)
async def test_a_file_that_is_not_a_statement_is_a_user_error_and_writes_nothing(
    tenant, statement_format, content, code
):
    imported = (await tenant.api(IMPORT, input={"format": statement_format, "content": content}))["importBankStatement"]
    assert [(e["field"], e["code"]) for e in imported["userErrors"]] == [(["input", "content"], code)]
    assert imported["matched"] == [] and imported["unmatched"] == []
    assert (await tenant.api(TRANSACTIONS))["bankTransactions"]["totalCount"] == 0


async def test_a_statement_where_one_line_is_bad_writes_none_of_it(tenant):
    await customer(tenant.api, "half", currency="USD")
    opened = await numbered(tenant, (await invoice_of(tenant, "10", external_id="half"))["id"])
    content = (
        "booking_date,amount,currency,reference\n"
        f"2026-12-01,10.00,USD,{opened['paymentReference']}\n"
        "2026-12-01,10.001,USD,too precise\n"
    )
    imported = (await tenant.api(IMPORT, input={"format": "CSV", "content": content}))["importBankStatement"]
    assert [e["code"] for e in imported["userErrors"]] == ["INVALID_BANK_STATEMENT"]
    invoice = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    assert (invoice["status"], invoice["amountPaid"], invoice["payments"]) == ("OPEN", "0.00", [])
    assert (await tenant.api(TRANSACTIONS))["bankTransactions"]["totalCount"] == 0


async def test_a_viewer_cannot_import_a_statement(tenant):
    created = await tenant.api(
        'mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret userErrors { code } } }'
    )
    viewer = tenant.api.as_(created["createApiKey"]["secret"])
    with pytest.raises(TransportQueryError) as refused:
        await viewer(IMPORT, input={"format": "CSV", "content": "booking_date,amount,currency\n2026-12-01,1,USD\n"})
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await viewer(UNMATCHED))["unmatchedBankTransactions"]["totalCount"] == 0
