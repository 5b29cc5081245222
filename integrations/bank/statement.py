"""A bank statement's lines in neutral terms: what reconciliation matches invoices against.

Amounts are positive decimals in the line's currency with `direction` telling credit
(money in) from debit. `references` holds every candidate a payer may have used to name the
invoice, most specific first: structured creditor references (RF…, `Strd/CdtrRefInf/Ref`),
the end-to-end id, the remittance text (`Ustrd`), RF references found inside that text, and
the bank's own references. Only booked lines (`booked`) are money on the account; pending
lines are listed for review.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from stdnum import iso11649

from domain.errors import BankStatementTooLarge, DomainError, InvalidBankStatement
from domain.money import currency_exponent, validate_currency

MAX_STATEMENT_BYTES = 10 * 1024 * 1024
MAX_STATEMENT_LINES = 100_000

# Values banks put where a payer gave no reference.
_NO_REFERENCE = {"NOTPROVIDED", "NONREF", "NONE", "N/A"}
_RF_START = re.compile(r"RF\d{2}[0-9A-Z]*$")
_SEPARATORS = re.compile(r"[\s\-_./]")


class Direction(enum.StrEnum):
    CREDIT = "CREDIT"  # money received
    DEBIT = "DEBIT"  # money paid out


@dataclass(frozen=True)
class StatementLine:
    amount: Decimal  # positive, in `currency`
    currency: str
    booked_on: date
    direction: Direction
    references: tuple[str, ...] = ()
    remittance: str | None = None  # the free text (Ustrd), joined
    end_to_end_id: str | None = None
    creditor_reference: str | None = None  # structured (RF… or another scheme's)
    bank_reference: str | None = None  # the bank's own (AcctSvcrRef)
    counterparty: str | None = None
    value_date: date | None = None
    booked: bool = True  # False for pending (PDNG) or informational entries
    reversal: bool = False
    position: int = 0  # 1-based: entry (and transaction) in the file, or CSV row

    @property
    def amount_minor(self) -> int:
        """The amount in the currency's minor units (statements carry exact amounts)."""
        return int(self.amount.scaleb(currency_exponent(self.currency)))

    def mentions(self, reference: str) -> bool:
        """Whether `reference` appears in any candidate, ignoring case, spaces and dashes."""
        wanted = _compact(reference)
        return bool(wanted) and any(wanted in _compact(candidate) for candidate in self.references)


@dataclass(frozen=True)
class BankStatement:
    format: str  # "CAMT053" or "CSV"
    lines: tuple[StatementLine, ...]
    account: str | None = None  # IBAN or account number, when the file names it
    currency: str | None = None
    version: str | None = None  # e.g. camt.053.001.08


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", text).upper()


def reference_candidates(
    *,
    creditor_references: Iterable[str | None] = (),
    end_to_end_id: str | None = None,
    remittance: Iterable[str | None] = (),
    bank_references: Iterable[str | None] = (),
) -> tuple[str, ...]:
    """Every distinct reference, most specific first; RF creditor references inside free text are added."""
    found: list[str] = []

    def add(value: str | None) -> None:
        if value is None:
            return
        value = " ".join(value.split())
        if value and value.upper() not in _NO_REFERENCE and value not in found:
            found.append(value)

    for value in creditor_references:
        add(value)
    add(end_to_end_id)
    texts = [t for t in remittance if t]
    for text in texts:
        add(text)
    for text in texts:
        for reference in creditor_references_in(text):
            add(reference)
    for value in bank_references:
        add(value)
    return tuple(found)


def creditor_references_in(text: str) -> list[str]:
    """Valid RF creditor references (ISO 11649) written in free text, also in groups of four (`RF18 5390 …`)."""
    words = [w.strip(".,;:()[]") for w in text.upper().split()]
    found: list[str] = []
    for start, word in enumerate(words):
        if not _RF_START.match(word):
            continue
        for end in range(min(len(words), start + 7), start, -1):  # the longest run of words that is valid
            candidate = "".join(words[start:end])
            if len(candidate) <= 25 and iso11649.is_valid(candidate):
                if candidate not in found:
                    found.append(candidate)
                break
    return found


def check_size(content: bytes | str) -> bytes:
    """The content as bytes, refused when empty or over the size limit."""
    data = content.encode() if isinstance(content, str) else content
    if not data.strip():
        raise InvalidBankStatement("the statement is empty", field=("content",))
    if len(data) > MAX_STATEMENT_BYTES:
        raise BankStatementTooLarge(
            f"the statement is {len(data)} bytes; at most {MAX_STATEMENT_BYTES} are read", field=("content",)
        )
    return data


def statement_currency(code: str | None, where: str) -> str:
    if not code:
        raise InvalidBankStatement(f"{where}: the currency is missing", field=("content",))
    try:
        return validate_currency(code.strip().upper())
    except DomainError:
        raise InvalidBankStatement(f"{where}: {code!r} is not an ISO 4217 currency", field=("content",)) from None


def check_places(amount: Decimal, currency: str, where: str) -> None:
    """Statement amounts are exact: more decimal places than the currency has is an error, not rounded."""
    exponent = currency_exponent(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-exponent)):
        raise InvalidBankStatement(
            f"{where}: {amount} has more decimal places than {currency} has ({exponent})", field=("content",)
        )
