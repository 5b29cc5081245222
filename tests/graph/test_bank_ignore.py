"""Unmatched bank statement lines ignored (`ignoreBankTransaction`) and restored (`restoreBankTransaction`), through
the public API."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.client import TransportQueryError
from tests.graph.catalog_helpers import customer
from tests.graph.test_bank_matching import AUDIT, UNMATCHED, imported, match, payment_count
from tests.graph.test_bank_statements import numbered
from tests.graph.test_payments import invoice_of

FIELDS = "id status reason ignoredAt ignoredBy ignoreNote"
IGNORE = f"""mutation($input: IgnoreBankTransactionInput!) {{ ignoreBankTransaction(input: $input) {{
  transaction {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
RESTORE = f"""mutation($input: RestoreBankTransactionInput!) {{ restoreBankTransaction(input: $input) {{
  transaction {{ {FIELDS} }} userErrors {{ field code message }} }} }}"""
BY_STATUS = f"""query($s: BankTransactionStatus) {{ bankTransactions(status: $s, first: 100) {{
  totalCount nodes {{ {FIELDS} }} }} }}"""


async def ignore(api, transaction_id: str, note: str | None = None) -> dict:
    given = {"id": transaction_id} if note is None else {"id": transaction_id, "note": note}
    return (await api(IGNORE, input=given))["ignoreBankTransaction"]


async def restore(api, transaction_id: str) -> dict:
    return (await api(RESTORE, input={"id": transaction_id}))["restoreBankTransaction"]


async def listed(tenant, status: str) -> list[dict]:
    return (await tenant.api(BY_STATUS, s=status))["bankTransactions"]["nodes"]


async def unmatched_ids(tenant) -> list[str]:
    return [n["id"] for n in (await tenant.api(UNMATCHED))["unmatchedBankTransactions"]["nodes"]]


async def test_a_line_ignored_leaves_the_review_list_and_is_restored_to_it(tenant):
    await customer(tenant.api, "ign", currency="USD")
    opened = await invoice_of(tenant, "12", external_id="ign")
    result = await imported(tenant, "12;USD;supplier refund;I1", "7;USD;someone else;I2")
    line, other = sorted(result["unmatched"], key=lambda u: u["amount"] != "12.00")
    assert line["reason"] == "UNKNOWN_REFERENCE"

    done = await ignore(tenant.api, line["id"], "  Refund from our supplier, not a customer payment  ")
    assert done["userErrors"] == []
    ignored = done["transaction"]
    assert (ignored["id"], ignored["status"], ignored["reason"]) == (line["id"], "IGNORED", "UNKNOWN_REFERENCE")
    assert ignored["ignoreNote"] == "Refund from our supplier, not a customer payment"
    assert ignored["ignoredBy"] and ignored["ignoredAt"]

    # Not to review any more; listed under IGNORED with who, when and why; the other line is still to review.
    assert await unmatched_ids(tenant) == [other["id"]]
    assert await listed(tenant, "IGNORED") == [ignored]
    assert [n["id"] for n in await listed(tenant, "UNMATCHED")] == [other["id"]]

    # An ignored line is not matched (nor offered invoices), and nothing is paid.
    refused = await match(tenant.api, line["id"], opened["id"])
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["input", "id"], "BANK_TRANSACTION_IGNORED")]
    assert refused["userErrors"][0]["message"]
    assert await payment_count(tenant) == 0

    back = await restore(tenant.api, line["id"])
    assert back["userErrors"] == []
    assert back["transaction"] == {
        "id": line["id"],
        "status": "UNMATCHED",
        "reason": "UNKNOWN_REFERENCE",
        "ignoredAt": None,
        "ignoredBy": None,
        "ignoreNote": None,
    }
    assert sorted(await unmatched_ids(tenant)) == sorted([line["id"], other["id"]])
    assert await listed(tenant, "IGNORED") == []

    # Audited: the ignore (before: UNMATCHED, after: who and why) and the restore (before: the ignore's details).
    audit = (await tenant.api(AUDIT, t=line["id"]))["auditLogs"]
    assert audit["totalCount"] == 2
    entries = {e["action"]: e for e in audit["nodes"]}
    assert set(entries) == {"bank_transaction.ignored", "bank_transaction.restored"}
    ignored_entry, restored_entry = entries["bank_transaction.ignored"], entries["bank_transaction.restored"]
    assert (ignored_entry["before"]["status"], ignored_entry["before"]["ignoredBy"]) == ("UNMATCHED", None)
    assert ignored_entry["after"]["status"] == "IGNORED"
    assert ignored_entry["after"]["ignoreNote"] == "Refund from our supplier, not a customer payment"
    assert ignored_entry["after"]["ignoredBy"] == ignored["ignoredBy"]
    assert ignored_entry["after"]["reason"] == "UNKNOWN_REFERENCE"
    assert restored_entry["before"]["status"] == "IGNORED"
    assert restored_entry["before"]["ignoreNote"] == "Refund from our supplier, not a customer payment"
    assert (restored_entry["after"]["status"], restored_entry["after"]["ignoreNote"]) == ("UNMATCHED", None)

    # Restored, it is matched as any unmatched line.
    paid = await match(tenant.api, line["id"], opened["id"])
    assert paid["userErrors"] == [] and paid["transaction"]["status"] == "MATCHED"


async def test_a_line_without_a_note_and_a_debit_may_be_ignored(tenant):
    result = await imported(tenant, "-5;USD;bank fees;F1")
    [debit] = result["unmatched"]
    done = await ignore(tenant.api, debit["id"])
    assert done["userErrors"] == []
    assert (done["transaction"]["status"], done["transaction"]["reason"], done["transaction"]["ignoreNote"]) == (
        "IGNORED",
        "DEBIT",
        None,
    )


async def test_bad_ignores_and_restores_are_user_errors_and_change_nothing(tenant, other_tenant):
    await customer(tenant.api, "bad", currency="USD")
    paid = await numbered(tenant, (await invoice_of(tenant, "10", external_id="bad"))["id"])
    result = await imported(tenant, f"10;USD;{paid['paymentReference']};M1", "10;USD;no idea;U1", "3;USD;dup;U2")
    [auto] = result["matched"]
    matched_line = auto["transaction"]["id"]
    lines = {u["amount"]: u for u in result["unmatched"]}
    line, dismissed = lines["10.00"], lines["3.00"]
    assert (await ignore(tenant.api, dismissed["id"], "duplicate"))["userErrors"] == []
    their_line = (await imported(other_tenant, "10;USD;unknown;T1"))["unmatched"][0]

    ignore_cases = [
        (("nope", None), ["input", "id"], "INVALID_ID"),
        ((str(uuid.uuid4()), None), ["input", "id"], "BANK_TRANSACTION_NOT_FOUND"),
        ((their_line["id"], None), ["input", "id"], "BANK_TRANSACTION_NOT_FOUND"),  # another organization's
        ((matched_line, None), ["input", "id"], "BANK_TRANSACTION_ALREADY_MATCHED"),
        ((dismissed["id"], "again"), ["input", "id"], "BANK_TRANSACTION_ALREADY_IGNORED"),
        ((line["id"], "x" * 501), ["input", "note"], "TOO_LONG"),
        ((line["id"], "nul\x00"), ["input", "note"], "INVALID_TEXT"),
    ]
    for (transaction_id, note), field, code in ignore_cases:
        refused = await ignore(tenant.api, transaction_id, note)
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(field, code)], code
        assert all(e["message"] for e in refused["userErrors"])
        assert refused["transaction"] is None
    restore_cases = [
        ("nope", "INVALID_ID"),
        (str(uuid.uuid4()), "BANK_TRANSACTION_NOT_FOUND"),
        (their_line["id"], "BANK_TRANSACTION_NOT_FOUND"),
        (line["id"], "BANK_TRANSACTION_NOT_IGNORED"),  # unmatched
        (matched_line, "BANK_TRANSACTION_NOT_IGNORED"),
    ]
    for transaction_id, code in restore_cases:
        refused = await restore(tenant.api, transaction_id)
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["input", "id"], code)], code
        assert all(e["message"] for e in refused["userErrors"])
        assert refused["transaction"] is None

    # Nothing changed: the line is still to review, the ignored one still ignored with its note, nothing audited.
    assert await unmatched_ids(tenant) == [line["id"]]
    assert [(n["id"], n["ignoreNote"]) for n in await listed(tenant, "IGNORED")] == [(dismissed["id"], "duplicate")]
    for untouched in (line["id"], matched_line):
        assert (await tenant.api(AUDIT, t=untouched))["auditLogs"]["totalCount"] == 0
    # A note of exactly 500 characters is taken.
    assert (await ignore(tenant.api, line["id"], "y" * 500))["transaction"]["ignoreNote"] == "y" * 500
    # The other organization's line is still theirs, unmatched.
    assert [n["id"] for n in (await other_tenant.api(UNMATCHED))["unmatchedBankTransactions"]["nodes"]] == [
        their_line["id"]
    ]
    assert (await other_tenant.api(AUDIT, t=their_line["id"]))["auditLogs"]["totalCount"] == 0


async def test_a_viewer_cannot_ignore_or_restore_a_line(tenant):
    line = (await imported(tenant, "10;USD;unknown;R1"))["unmatched"][0]
    dismissed = (await imported(tenant, "4;USD;unknown;R2"))["unmatched"][0]
    assert (await ignore(tenant.api, dismissed["id"]))["userErrors"] == []
    created = await tenant.api(
        'mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret userErrors { code } } }'
    )
    viewer = tenant.api.as_(created["createApiKey"]["secret"])
    with pytest.raises(TransportQueryError) as refused:
        await ignore(viewer, line["id"], "not mine to say")
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    with pytest.raises(TransportQueryError) as refused:
        await restore(viewer, dismissed["id"])
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert await unmatched_ids(tenant) == [line["id"]]
    assert [n["id"] for n in await listed(tenant, "IGNORED")] == [dismissed["id"]]
    # A viewer reads the ignored lines.
    seen = (await viewer(BY_STATUS, s="IGNORED"))["bankTransactions"]["nodes"]
    assert [n["id"] for n in seen] == [dismissed["id"]]


async def test_an_ignore_and_a_match_of_one_line_at_once_cannot_both_win(tenant):
    await customer(tenant.api, "race", currency="USD")
    opened = await invoice_of(tenant, "25", external_id="race")
    line = (await imported(tenant, "25;USD;whoever;X1"))["unmatched"][0]
    ignored, matched = await asyncio.gather(
        ignore(tenant.api, line["id"], "dup"), match(tenant.api, line["id"], opened["id"])
    )
    codes = [[e["code"] for e in a["userErrors"]] for a in (ignored, matched)]
    assert codes in ([[], ["BANK_TRANSACTION_IGNORED"]], [["BANK_TRANSACTION_ALREADY_MATCHED"], []]), codes
    [stored] = (await tenant.api("{ bankTransactions { nodes { status paymentId } } }"))["bankTransactions"]["nodes"]
    if codes[0] == []:
        assert stored == {"status": "IGNORED", "paymentId": None}
        assert await payment_count(tenant) == 0
    else:
        assert stored["status"] == "MATCHED" and stored["paymentId"]
        assert await payment_count(tenant) == 1
    # Two ignores at once: one wins, the other is told it is ignored already.
    other = (await imported(tenant, "9;USD;twice;X2"))["unmatched"][0]
    answers = await asyncio.gather(ignore(tenant.api, other["id"], "a"), ignore(tenant.api, other["id"], "b"))
    assert sorted(tuple(e["code"] for e in a["userErrors"]) for a in answers) == [
        (),
        ("BANK_TRANSACTION_ALREADY_IGNORED",),
    ]
    audit = (await tenant.api(AUDIT, t=other["id"]))["auditLogs"]
    assert [e["action"] for e in audit["nodes"]] == ["bank_transaction.ignored"]
