"""Bank statements: camt.053 (.02 and .08 layouts) and CSV into neutral lines; bad files are clear errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from domain.errors import BankStatementTooLarge, InvalidBankStatement, UnsupportedBankStatement
from integrations.bank.camt053 import parse_camt053
from integrations.bank.csv_statement import parse_csv_statement
from integrations.bank.statement import MAX_STATEMENT_BYTES, Direction, creditor_references_in

STATEMENTS = Path(__file__).parent / "statements"


def v02():
    return parse_camt053((STATEMENTS / "camt053_v02.xml").read_bytes())


def v08():
    return parse_camt053((STATEMENTS / "camt053_v08.xml").read_text())


def test_camt053_v02_statement_and_account():
    statement = v02()
    assert (statement.format, statement.version, statement.account, statement.currency) == (
        "CAMT053",
        "camt.053.001.02",
        "DE44500105175407324931",
        "EUR",
    )
    assert len(statement.lines) == 6


def test_camt053_single_transaction_carries_every_reference():
    line = v02().lines[0]
    assert (line.amount, line.currency, line.booked_on, line.direction, line.booked) == (
        D("1250.00"),
        "EUR",
        date(2025, 3, 4),
        Direction.CREDIT,
        True,
    )
    assert line.references == (
        "RF18539007547034",
        "E2E-ACME-2025-0042",
        "Invoice VV-2025-0042 thank you",
        "2025030400012345",
    )
    assert (line.creditor_reference, line.end_to_end_id, line.bank_reference) == (
        "RF18539007547034",
        "E2E-ACME-2025-0042",
        "2025030400012345",
    )
    assert line.counterparty == "Acme Analytics Ltd" and line.amount_minor == 125_000
    assert line.mentions("vv 2025 0042") and line.mentions("RF18 5390 0754 7034") and not line.mentions("VV-2025-0043")


def test_camt053_batch_is_split_into_its_transactions():
    batch = v02().lines[1:3]
    assert [(line.amount, line.remittance) for line in batch] == [
        (D("100.00"), "VV-2025-0043"),
        (D("200.00"), "Payment for invoice VV-2025-0044"),
    ]
    assert batch[0].end_to_end_id == "NOTPROVIDED" and "NOTPROVIDED" not in batch[0].references
    assert batch[1].references[0] == "INITECH-PAY-7"


def test_camt053_booked_amount_not_the_instructed_foreign_one():
    line = v02().lines[3]
    assert (line.amount, line.currency, line.value_date) == (D("92.00"), "EUR", date(2025, 3, 5))


def test_camt053_debits_and_pending_entries_are_marked():
    fee, pending = v02().lines[4], v02().lines[5]
    assert (fee.direction, fee.amount, fee.references) == (
        Direction.DEBIT,
        D("4.55"),
        ("Account fees February", "2025030400012348"),
    )
    assert not pending.booked and pending.mentions("VV-2025-0046")


def test_camt053_v08_layout():
    statement = v08()
    assert (statement.version, statement.account, statement.currency) == (
        "camt.053.001.08",
        "CH9300762011623852957",
        "CHF",
    )
    first, *batch = statement.lines
    assert (first.amount, first.booked_on, first.counterparty, first.creditor_reference) == (
        D("1980.10"),
        date(2025, 3, 10),
        "Globex Schweiz AG",
        "RF42VV20250050",
    )
    assert first.mentions("VV-2025-0050") and first.end_to_end_id == "GLOBEX-INV-2025-0050"
    assert [(line.amount, line.remittance) for line in batch] == [
        (D("600.00"), "VV-2025-0051"),
        (D("400.00"), "Teilzahlung VV-2025-0052"),
    ]


def test_rf_reference_inside_free_text_is_a_candidate():
    xml = (
        (STATEMENTS / "camt053_v02.xml")
        .read_text()
        .replace("<Ustrd>VV-2025-0043</Ustrd>", "<Ustrd>pay ref RF18 5390 0754 7034 ok</Ustrd>")
    )
    line = parse_camt053(xml).lines[1]
    assert "RF18539007547034" in line.references


def test_prefixed_camt053_document_is_read():
    xml = (STATEMENTS / "camt053_v08.xml").read_text()
    body = xml.split("<Document", 1)[1]
    prefixed = '<?xml version="1.0"?><c:Document' + body.replace("<", "<c:").replace("<c:/", "</c:").replace(
        '<c:Document xmlns="', '<c:Document xmlns:c="'
    )
    prefixed = prefixed.replace(' xmlns="urn', ' xmlns:c="urn', 1).replace("</c:Document>", "</c:Document>")
    assert [line.amount for line in parse_camt053(prefixed).lines] == [D("1980.10"), D("600.00"), D("400.00")]


@pytest.mark.parametrize(
    ("content", "error", "says"),
    [
        (b"", InvalidBankStatement, "empty"),
        (b"   \n", InvalidBankStatement, "empty"),
        (b"not xml at all", InvalidBankStatement, "not well-formed XML"),
        (b"<Document><unclosed></Document>", InvalidBankStatement, "not well-formed XML"),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"><BkToCstmrAcctRpt/></Document>',
            UnsupportedBankStatement,
            "camt.052",
        ),
        (b"<invoice><total>5</total></invoice>", UnsupportedBankStatement, "not a camt.053"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt/></Document>',
            UnsupportedBankStatement,
            "DOCTYPE",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt/></Document>',
            InvalidBankStatement,
            "no Stmt",
        ),
    ],
)
def test_bad_camt053_files_are_clear_errors(content, error, says):
    with pytest.raises(error, match=says) as raised:
        parse_camt053(content)
    assert raised.value.field == ("content",) and raised.value.code.endswith("BANK_STATEMENT")


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('<Amt Ccy="EUR">4.55</Amt>', '<Amt Ccy="EUR">4,55</Amt>', "transaction 5: the amount '4,55' is not a number"),
        ('<Amt Ccy="EUR">4.55</Amt>', '<Amt Ccy="EUR">4.555</Amt>', "transaction 5: 4.555 has more decimal places"),
        ('<Amt Ccy="EUR">4.55</Amt>', '<Amt Ccy="XYZ">4.55</Amt>', "transaction 5: 'XYZ' is not an ISO 4217"),
        ("<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>OUT</CdtDbtInd>", "transaction 5: CdtDbtInd must be"),
    ],
)
def test_camt053_entry_errors_name_the_transaction(old, new, says):
    xml = (STATEMENTS / "camt053_v02.xml").read_text().replace(old, new, 1)
    with pytest.raises(InvalidBankStatement, match=says):
        parse_camt053(xml)


def test_oversized_statement_is_refused_before_parsing():
    with pytest.raises(BankStatementTooLarge):
        parse_camt053(b" " * 10 + b"x" * MAX_STATEMENT_BYTES)
    with pytest.raises(BankStatementTooLarge):
        parse_csv_statement(b"x" * (MAX_STATEMENT_BYTES + 1))


CSV = (
    "booking_date,amount,currency,reference,end_to_end_id,bank_reference,counterparty\n"
    "2025-03-04,1250.00,EUR,Invoice VV-2025-0042,E2E-1,BANK-1,Acme Analytics\n"
    "2025-03-04,-4.55,EUR,Account fees,,BANK-2,\n"
    "\n"
    '2025-03-05,"300.00",eur,"VV-2025-0043, thanks",,,"Globex, Inc."\n'
)


def test_csv_statement_lines():
    statement = parse_csv_statement(CSV)
    assert statement.format == "CSV"
    first, fee, last = statement.lines
    assert (first.amount, first.currency, first.booked_on, first.direction, first.references) == (
        D("1250.00"),
        "EUR",
        date(2025, 3, 4),
        Direction.CREDIT,
        ("E2E-1", "Invoice VV-2025-0042", "BANK-1"),
    )
    assert (fee.amount, fee.direction) == (D("4.55"), Direction.DEBIT)
    assert (last.currency, last.counterparty, last.position) == ("EUR", "Globex, Inc.", 3)
    assert last.mentions("VV-2025-0043")


def test_csv_with_semicolons_direction_and_a_bom():
    text = (
        "\ufeffBooking_Date;Amount;Currency;Direction;Reference\n"
        "2025-03-04;10.00;USD;DBIT;Refund\n"
        "2025-03-04;5;JPY;C;\n"
    )
    refund, yen = parse_csv_statement(text.encode()).lines
    assert (refund.direction, refund.amount) == (Direction.DEBIT, D("10.00"))
    assert (yen.direction, yen.amount_minor, yen.references) == (Direction.CREDIT, 5, ())


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("amount,currency\n1,EUR\n", "row 1: the header lacks booking_date"),
        ("booking_date,amount,currency,amount\n", "row 1: columns named twice: amount"),
        ("booking_date,amount,currency\n2025-03-04,1.234,EUR\n", "row 2: 1.234 has more decimal places"),
        ("booking_date,amount,currency\n2025-03-04,1 000.00,EUR\n", "row 2: the amount '1 000.00' is not a decimal"),
        ("booking_date,amount,currency\n2025-03-04,1e3,EUR\n", "row 2: the amount '1e3'"),
        ("booking_date,amount,currency\n04/03/2025,1.00,EUR\n", "row 2: booking_date '04/03/2025' is not a date"),
        ("booking_date,amount,currency\n2025-03-04,1.00,EURO\n", "row 2: 'EURO' is not an ISO 4217"),
        ("booking_date,amount,currency,direction\n2025-03-04,1.00,EUR,IN\n", "row 2: direction must be"),
        ("booking_date,amount,currency,direction\n2025-03-04,-1.00,EUR,DBIT\n", "row 2: with a direction"),
        ("booking_date,amount,currency\n2025-03-04,1.00,EUR,extra\n", "row 2: 4 fields"),
        ('booking_date,amount,currency\n2025-03-04,"1.00,EUR\n', "row"),
    ],
)
def test_bad_csv_rows_are_clear_errors(content, says):
    with pytest.raises(InvalidBankStatement, match=says):
        parse_csv_statement(content)


def test_csv_that_is_not_text_is_refused():
    with pytest.raises(InvalidBankStatement, match="not UTF-8"):
        parse_csv_statement(b"booking_date,amount,currency\n\xff\xfe,1,EUR\n")
    with pytest.raises(InvalidBankStatement, match="NUL"):
        parse_csv_statement("booking_date,amount,currency\n2025-03-04,1.00,EUR\x00\n")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("RF18539007547034", ["RF18539007547034"]),
        ("ref: rf18 5390 0754 7034, invoice 12", ["RF18539007547034"]),
        ("RF19539007547034 (a wrong check digit)", []),
        ("RF42VV20250050 and RF18539007547034", ["RF42VV20250050", "RF18539007547034"]),
        ("no reference here", []),
    ],
)
def test_rf_creditor_references_in_free_text(text, found):
    assert creditor_references_in(text) == found
