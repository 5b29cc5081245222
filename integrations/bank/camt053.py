"""ISO 20022 camt.053 (bank-to-customer statement) files, read with pycamt, as neutral statement lines.

pycamt loads the document with a hardened lxml parser (no entities, no network), finds the
statements and their entries, and handles versions .02 to .12. Two things it leaves to us,
in the extension points it offers: the amount of a transaction (pycamt takes the first
`Amt` below `TxDtls`, which in camt.053.001.02 may be the instructed amount in another
currency; the booked amount is the entry's, or the transaction's own `Amt` / `TxAmt` in a
batch) and the full set of references (pycamt keeps one remittance field). A document that
is not a camt.053 statement (a camt.052 report, a camt.054 notification, any other XML) is
refused, and so is one with a DOCTYPE.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree
from pycamt.parser import Camt053ParseError, Camt053Parser

from domain.errors import InvalidBankStatement, UnsupportedBankStatement
from integrations.bank.statement import (
    MAX_STATEMENT_LINES,
    BankStatement,
    Direction,
    StatementLine,
    check_places,
    check_size,
    reference_candidates,
    statement_currency,
)

_CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053."


class _Parser(Camt053Parser):
    """pycamt's parser with the booked amount and every reference of each transaction."""

    def __init__(self, xml_data: bytes) -> None:
        super().__init__(xml_data)
        namespace = etree.QName(self.tree).namespace
        # A prefixed document (<camt:Document xmlns:camt=…>) has no default namespace for
        # pycamt's unprefixed paths: give it one.
        self.namespaces = {None: namespace} if namespace else {}

    def _text(self, element: Any, path: str) -> str | None:
        found = element.find(path, self.namespaces)
        text = found.text if found is not None else None
        return text.strip() if text and text.strip() else None

    def _texts(self, element: Any, path: str) -> list[str]:
        return [e.text.strip() for e in element.findall(path, self.namespaces) if e.text and e.text.strip()]

    def _booked_amount(self, tx: Any) -> tuple[str | None, str | None]:
        for path in ("./Amt", "./AmtDtls/TxAmt/Amt"):
            found = tx.find(path, self.namespaces)
            if found is not None:
                return found.text, found.get("Ccy")
        return None, None

    def _extract_transaction_details(self, tx_detail: Any) -> dict[str, Any]:
        amount, currency = self._booked_amount(tx_detail)
        party = "Dbtr" if (self._text(tx_detail, "./CdtDbtInd") or "CRDT") == "CRDT" else "Cdtr"
        counterparty = self._text(tx_detail, f"./RltdPties/{party}/Pty/Nm") or self._text(
            tx_detail, f"./RltdPties/{party}/Nm"
        )
        return {
            "tx_amount": amount,
            "tx_currency": currency,
            "tx_direction": self._text(tx_detail, "./CdtDbtInd"),
            "end_to_end_id": self._text(tx_detail, "./Refs/EndToEndId"),
            "tx_bank_reference": self._text(tx_detail, "./Refs/AcctSvcrRef"),
            "creditor_references": self._texts(tx_detail, "./RmtInf/Strd/CdtrRefInf/Ref"),
            "unstructured": self._texts(tx_detail, "./RmtInf/Ustrd"),
            "additional": self._texts(tx_detail, "./RmtInf/Strd/AddtlRmtInf"),
            "counterparty": counterparty,
        }

    def _extract_transaction(self, entry: Any, statement: Any) -> list[dict[str, Any]]:
        common = self._extract_common_entry_data(entry, statement)
        common["entry_bank_reference"] = self._text(entry, "./AcctSvcrRef")
        common["entry_information"] = self._text(entry, "./AddtlNtryInf")
        details = entry.findall("./NtryDtls/TxDtls", self.namespaces)
        if len(details) <= 1:
            # One transaction (or none): the entry's amount is what was booked.
            extra = self._extract_transaction_details(details[0]) if details else {}
            return [{**common, **extra, "tx_amount": None, "tx_currency": None}]
        transactions = [{**common, **self._extract_transaction_details(tx)} for tx in details]
        if any(t["tx_amount"] is None or t["tx_currency"] not in (None, common["Currency"]) for t in transactions):
            # A batch without booked amounts per transaction: one line, every reference.
            merged: dict[str, Any] = {**common, "tx_amount": None, "end_to_end_id": None}
            for key in ("creditor_references", "unstructured", "additional"):
                merged[key] = [v for t in transactions for v in t[key]]
            return [merged]
        return transactions


def parse_camt053(content: bytes | str) -> BankStatement:
    """The lines of a camt.053 statement; anything else is INVALID_BANK_STATEMENT (or UNSUPPORTED_…)."""
    data = check_size(content)
    try:
        parser = _Parser(data)
    except etree.XMLSyntaxError as error:
        raise InvalidBankStatement(
            f"the statement is not well-formed XML (line {error.lineno}: {error.msg})", field=("content",)
        ) from None
    except (ValueError, Camt053ParseError) as error:
        raise InvalidBankStatement(f"the statement cannot be read as XML: {error}", field=("content",)) from None
    root = parser.tree
    if root.getroottree().docinfo.doctype:
        raise UnsupportedBankStatement("a statement with a DOCTYPE is not accepted", field=("content",))
    namespace = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "Document" or not namespace.startswith(_CAMT053):
        kind = namespace.rsplit(":", 1)[-1] if namespace else etree.QName(root).localname
        raise UnsupportedBankStatement(f"this is not a camt.053 statement (it is {kind})", field=("content",))
    if root.find("./BkToCstmrStmt", parser.namespaces) is None:
        raise UnsupportedBankStatement("a camt.053 document needs BkToCstmrStmt", field=("content",))
    try:
        transactions = parser.get_transactions()
        info = parser.get_statement_info()
    except Camt053ParseError:
        raise InvalidBankStatement("the statement has no Stmt element", field=("content",)) from None
    if len(transactions) > MAX_STATEMENT_LINES:
        raise InvalidBankStatement(
            f"the statement has {len(transactions)} transactions; at most {MAX_STATEMENT_LINES} are read",
            field=("content",),
        )
    lines = tuple(_line(t, position) for position, t in enumerate(transactions, start=1))
    first = info[0] if info else {}
    return BankStatement(
        format="CAMT053",
        lines=lines,
        account=first.get("IBAN"),
        currency=first.get("Currency"),
        version=namespace.removeprefix("urn:iso:std:iso:20022:tech:xsd:"),
    )


def _line(tx: dict[str, Any], position: int) -> StatementLine:
    where = f"transaction {position}"
    currency = statement_currency(tx.get("tx_currency") or tx.get("Currency"), where)
    text = tx.get("tx_amount") or tx.get("Amount")
    try:
        amount = Decimal(str(text).strip())
    except (InvalidOperation, AttributeError):
        raise InvalidBankStatement(f"{where}: the amount {text!r} is not a number", field=("content",)) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidBankStatement(f"{where}: the amount {text!r} is not a positive number", field=("content",))
    check_places(amount, currency, where)
    indicator = tx.get("tx_direction") or tx.get("CreditDebitIndicator")
    if indicator not in ("CRDT", "DBIT"):
        raise InvalidBankStatement(f"{where}: CdtDbtInd must be CRDT or DBIT, not {indicator!r}", field=("content",))
    booked_on = _date(tx.get("BookingDate"), where, "booking date") or _date(tx.get("ValueDate"), where, "value date")
    if booked_on is None:
        raise InvalidBankStatement(f"{where}: the booking date is missing", field=("content",))
    unstructured = " ".join(tx.get("unstructured") or []) or None
    creditor = list(tx.get("creditor_references") or [])
    bank_reference = tx.get("tx_bank_reference") or tx.get("entry_bank_reference")
    return StatementLine(
        amount=amount,
        currency=currency,
        booked_on=booked_on,
        direction=Direction.CREDIT if indicator == "CRDT" else Direction.DEBIT,
        references=reference_candidates(
            creditor_references=creditor,
            end_to_end_id=tx.get("end_to_end_id"),
            remittance=[unstructured, *(tx.get("additional") or []), tx.get("entry_information")],
            bank_references=[tx.get("tx_bank_reference"), tx.get("entry_bank_reference")],
        ),
        remittance=unstructured,
        end_to_end_id=tx.get("end_to_end_id"),
        creditor_reference=creditor[0] if creditor else None,
        bank_reference=bank_reference,
        counterparty=tx.get("counterparty"),
        value_date=_date(tx.get("ValueDate"), where, "value date"),
        booked=(tx.get("Status") or "BOOK") == "BOOK",
        reversal=str(tx.get("ReversalIndicator") or "").lower() == "true",
        position=position,
    )


def _date(text: Any, where: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        raise InvalidBankStatement(f"{where}: the {what} {text!r} is not a date", field=("content",)) from None
