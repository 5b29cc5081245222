"""Unmatched bank statement lines matched to invoices by hand (`matchBankTransaction`), through the public API."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.client import TransportQueryError
from tests.graph.catalog_helpers import customer
from tests.graph.test_bank_statements import IMPORT, PAYMENTS, numbered
from tests.graph.test_payments import INVOICE, WALLET, invoice_of

MATCH = """mutation($input: MatchBankTransactionInput!) { matchBankTransaction(input: $input) {
  transaction { id status reason invoiceId paymentId amount }
  invoice { id number status amountPaid paymentStatus }
  payment { id provider method status amount currency reference }
  userErrors { field code message } } }"""
TO_MATCH = """query($t: ID!, $s: String) { invoicesToMatchBankTransaction(transactionId: $t, search: $s) {
  id number amountDue amountPaid currency customer { externalId } } }"""
UNMATCHED = "{ unmatchedBankTransactions { totalCount nodes { id amount reason } } }"
LINE = "query { bankTransactions(first: 100) { nodes { id status reason invoiceId paymentId amount } } }"
AUDIT = """query($t: String) { auditLogs(targetType: "bank_transaction", targetId: $t) {
  totalCount nodes { action before after } } }"""
HOOK = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  endpoint { id } userErrors { code } } }"""
DELIVERIES = """query($e: ID, $t: String) { webhookDeliveries(endpointId: $e, eventType: $t, first: 100) {
  nodes { eventId } } }"""
HEADER = "booking_date;amount;currency;reference;bank_reference;counterparty\n"


async def imported(tenant, *lines: str) -> dict:
    """A CSV statement of `lines` (amount;currency;reference;bank_reference), booked on 2026-12-02."""
    content = HEADER + "".join(f"2026-12-02;{line};Payer Ltd\n" for line in lines)
    result = (await tenant.api(IMPORT, input={"format": "CSV", "content": content}))["importBankStatement"]
    assert result["userErrors"] == [], result
    return result


async def unmatched_line(tenant, amount: str) -> dict:
    [line] = [u for u in (await tenant.api(UNMATCHED))["unmatchedBankTransactions"]["nodes"] if u["amount"] == amount]
    return line


async def match(api, transaction_id: str, invoice_id: str) -> dict:
    return (await api(MATCH, input={"id": transaction_id, "invoiceId": invoice_id}))["matchBankTransaction"]


async def payment_count(tenant) -> int:
    return (await tenant.api(PAYMENTS))["payments"]["totalCount"]


async def test_an_unmatched_line_matched_by_hand_pays_the_invoice_as_an_import_would(tenant):
    hook = (
        await tenant.api(
            HOOK, i={"url": "https://hooks.example.com/in", "eventTypes": ["invoice.paid", "payment.succeeded"]}
        )
    )["createWebhookEndpoint"]
    assert hook["userErrors"] == []
    await customer(tenant.api, "hand", currency="USD")
    named = await numbered(tenant, (await invoice_of(tenant, "100", external_id="hand"))["id"])
    chosen = await numbered(tenant, (await invoice_of(tenant, "100", external_id="hand"))["id"])
    other_amount = await numbered(tenant, (await invoice_of(tenant, "70", external_id="hand"))["id"])
    result = await imported(tenant, f"100;USD;{named['paymentReference']};B1", "100;USD;Thanks for the service;B2")
    assert [m["invoice"]["id"] for m in result["matched"]] == [named["id"]]
    [line] = result["unmatched"]
    assert (line["reason"], line["invoiceId"]) == ("UNKNOWN_REFERENCE", None)

    # What the line could pay: open USD invoices, the one owing exactly its amount first; the paid one is not there.
    candidates = (await tenant.api(TO_MATCH, t=line["id"]))["invoicesToMatchBankTransaction"]
    assert [c["id"] for c in candidates] == [chosen["id"], other_amount["id"]]
    by_number = await tenant.api(TO_MATCH, t=line["id"], s=chosen["number"].lower())
    assert [c["id"] for c in by_number["invoicesToMatchBankTransaction"]] == [chosen["id"]]

    done = await match(tenant.api, line["id"], chosen["id"])
    assert done["userErrors"] == []
    assert (done["invoice"]["status"], done["invoice"]["amountPaid"], done["invoice"]["paymentStatus"]) == (
        "PAID",
        "100.00",
        "SUCCEEDED",
    )
    assert (done["payment"]["provider"], done["payment"]["method"], done["payment"]["status"]) == (
        "WIRE",
        "WIRE",
        "SUCCEEDED",
    )
    assert (done["payment"]["amount"], done["payment"]["currency"], done["payment"]["reference"]) == (
        "100.00",
        "USD",
        "Thanks for the service",
    )
    assert done["transaction"] == {
        "id": line["id"],
        "status": "MATCHED",
        "reason": None,
        "invoiceId": chosen["id"],
        "paymentId": done["payment"]["id"],
        "amount": "100.00",
    }
    # The payment is the invoice's, the line is no longer to review, and it is listed matched with its invoice.
    invoice = (await tenant.api(INVOICE, id=chosen["id"]))["invoice"]
    assert (invoice["status"], [p["amount"] for p in invoice["payments"]]) == ("PAID", ["100.00"])
    assert (await tenant.api(UNMATCHED))["unmatchedBankTransactions"]["totalCount"] == 0
    lines = {t["id"]: t for t in (await tenant.api(LINE))["bankTransactions"]["nodes"]}
    assert (lines[line["id"]]["status"], lines[line["id"]]["invoiceId"]) == ("MATCHED", chosen["id"])
    assert await payment_count(tenant) == 2
    # Audited, and the same outbound events as the automatic match of the other line: the invoice paid, the payment.
    audit = (await tenant.api(AUDIT, t=line["id"]))["auditLogs"]
    assert audit["totalCount"] == 1
    [entry] = audit["nodes"]
    assert (entry["action"], entry["before"]["status"], entry["after"]["invoiceId"]) == (
        "bank_transaction.matched",
        "UNMATCHED",
        chosen["id"],
    )
    assert entry["after"]["paymentId"] == done["payment"]["id"]
    endpoint_id = hook["endpoint"]["id"]
    for event_type in ("invoice.paid", "payment.succeeded"):
        attempts = (await tenant.api(DELIVERIES, e=endpoint_id, t=event_type))["webhookDeliveries"]["nodes"]
        assert len({a["eventId"] for a in attempts}) == 2, event_type  # one event each (attempts may be retried)


async def test_a_line_matched_by_hand_may_pay_part_of_an_invoice_or_more_than_it_owes(tenant):
    await customer(tenant.api, "parts", currency="USD")
    partly = await invoice_of(tenant, "100", external_id="parts")
    over = await invoice_of(tenant, "100", external_id="parts")
    await imported(tenant, "40;USD;first part;P1", "130;USD;all and then some;P2")
    part = await match(tenant.api, (await unmatched_line(tenant, "40.00"))["id"], partly["id"])
    assert part["userErrors"] == []
    assert (part["invoice"]["status"], part["invoice"]["amountPaid"]) == ("OPEN", "40.00")
    more = await match(tenant.api, (await unmatched_line(tenant, "130.00"))["id"], over["id"])
    assert more["userErrors"] == []
    assert (more["invoice"]["status"], more["invoice"]["amountPaid"], more["payment"]["amount"]) == (
        "PAID",
        "100.00",
        "130.00",
    )
    # The excess is prepaid credit, as with an imported line or recordPayment.
    assert (await tenant.api(WALLET, c="parts"))["wallet"] == {"currency": "USD", "balance": "30.00"}


async def test_bad_matches_are_user_errors_and_record_nothing(tenant, other_tenant):
    await customer(tenant.api, "bad", currency="USD")
    await customer(tenant.api, "euro", currency="EUR")
    paid = await numbered(tenant, (await invoice_of(tenant, "10", external_id="bad"))["id"])
    opened = await invoice_of(tenant, "10", external_id="bad")
    in_euro = await invoice_of(tenant, "10", external_id="euro")
    result = await imported(tenant, f"10;USD;{paid['paymentReference']};M1", "10;USD;no idea;U1", "-5;USD;bank fees;D1")
    [auto] = result["matched"]
    line = await unmatched_line(tenant, "10.00")
    [debit] = [u for u in result["unmatched"] if u["reason"] == "DEBIT"]
    await customer(other_tenant.api, "theirs", currency="USD")
    theirs = await invoice_of(other_tenant, "10", external_id="theirs")
    their_line = (await imported(other_tenant, "10;USD;unknown;T1"))["unmatched"][0]
    payments_before = await payment_count(tenant)

    cases = [
        (("nope", opened["id"]), ["input", "id"], "INVALID_ID"),
        ((line["id"], "nope"), ["input", "invoiceId"], "INVALID_ID"),
        ((str(uuid.uuid4()), opened["id"]), ["input", "id"], "BANK_TRANSACTION_NOT_FOUND"),
        ((line["id"], str(uuid.uuid4())), ["input", "invoiceId"], "INVOICE_NOT_FOUND"),
        ((their_line["id"], opened["id"]), ["input", "id"], "BANK_TRANSACTION_NOT_FOUND"),  # another organization's
        ((line["id"], theirs["id"]), ["input", "invoiceId"], "INVOICE_NOT_FOUND"),
        ((auto["transaction"]["id"], opened["id"]), ["input", "id"], "BANK_TRANSACTION_ALREADY_MATCHED"),
        ((debit["id"], opened["id"]), ["input", "id"], "BANK_TRANSACTION_NOT_A_PAYMENT"),
        ((line["id"], paid["id"]), ["input", "invoiceId"], "INVOICE_NOT_OPEN"),
        ((line["id"], in_euro["id"]), ["input", "invoiceId"], "CURRENCY_MISMATCH"),
    ]
    for (transaction_id, invoice_id), field, code in cases:
        refused = await match(tenant.api, transaction_id, invoice_id)
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(field, code)], code
        assert all(e["message"] for e in refused["userErrors"])
        assert (refused["transaction"], refused["invoice"], refused["payment"]) == (None, None, None)

    assert await payment_count(tenant) == payments_before
    assert (await unmatched_line(tenant, "10.00"))["id"] == line["id"]
    invoice = (await tenant.api(INVOICE, id=opened["id"]))["invoice"]
    assert (invoice["status"], invoice["payments"]) == ("OPEN", [])
    assert (await tenant.api(AUDIT, t=line["id"]))["auditLogs"]["totalCount"] == 0
    # The other organization's line is still theirs to match.
    assert (await other_tenant.api(UNMATCHED))["unmatchedBankTransactions"]["totalCount"] == 1
    with pytest.raises(TransportQueryError) as unknown:
        await tenant.api(TO_MATCH, t=their_line["id"])
    assert unknown.value.errors[0]["extensions"]["code"] == "BANK_TRANSACTION_NOT_FOUND"


async def test_a_viewer_cannot_match_a_line(tenant):
    await customer(tenant.api, "ro", currency="USD")
    opened = await invoice_of(tenant, "10", external_id="ro")
    line = (await imported(tenant, "10;USD;unknown;R1"))["unmatched"][0]
    created = await tenant.api(
        'mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret userErrors { code } } }'
    )
    viewer = tenant.api.as_(created["createApiKey"]["secret"])
    with pytest.raises(TransportQueryError) as refused:
        await match(viewer, line["id"], opened["id"])
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await tenant.api(UNMATCHED))["unmatchedBankTransactions"]["totalCount"] == 1
    assert await payment_count(tenant) == 0


async def test_two_matches_of_one_line_at_once_record_one_payment(tenant):
    await customer(tenant.api, "race", currency="USD")
    first = await invoice_of(tenant, "25", external_id="race")
    second = await invoice_of(tenant, "25", external_id="race")
    line = (await imported(tenant, "25;USD;whoever;X1"))["unmatched"][0]
    answers = await asyncio.gather(
        match(tenant.api, line["id"], first["id"]), match(tenant.api, line["id"], second["id"])
    )
    won = [a for a in answers if not a["userErrors"]]
    lost = [a for a in answers if a["userErrors"]]
    assert len(won) == 1 and len(lost) == 1
    assert [e["code"] for e in lost[0]["userErrors"]] == ["BANK_TRANSACTION_ALREADY_MATCHED"]
    assert await payment_count(tenant) == 1
    statuses = sorted([(await tenant.api(INVOICE, id=i["id"]))["invoice"]["status"] for i in (first, second)])
    assert statuses == ["OPEN", "PAID"]
    lines = (await tenant.api(LINE))["bankTransactions"]["nodes"]
    assert [(t["status"], t["paymentId"]) for t in lines] == [("MATCHED", won[0]["payment"]["id"])]
