"""Bank statements as CSV: one booked transaction per row, for banks (or exports) without camt.053.

The first row names the columns (any order, case and surrounding spaces ignored); the
delimiter is `,` or `;` (whichever the header uses); a UTF-8 byte order mark is skipped.

| column | required | content |
| --- | --- | --- |
| `booking_date` | yes | `YYYY-MM-DD` |
| `amount` | yes | a decimal with `.` (`1250.00`); negative means money paid out unless `direction` is given |
| `currency` | yes | ISO 4217 code (`EUR`) |
| `direction` | no | `CRDT`/`DBIT`, `C`/`D` or `credit`/`debit` |
| `reference` | no | what the payer wrote (remittance text, the invoice's payment reference) |
| `end_to_end_id` | no | the payer's end-to-end id |
| `bank_reference` | no | the bank's own id of the transaction |
| `counterparty` | no | who paid (or was paid) |
| `value_date` | no | `YYYY-MM-DD` |

Other columns are ignored. A row that cannot be read refuses the whole file, naming the row.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal, InvalidOperation

from domain.errors import InvalidBankStatement
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

REQUIRED_COLUMNS = ("booking_date", "amount", "currency")
OPTIONAL_COLUMNS = ("direction", "reference", "end_to_end_id", "bank_reference", "counterparty", "value_date")
_DIRECTIONS = {
    "CRDT": Direction.CREDIT,
    "C": Direction.CREDIT,
    "CREDIT": Direction.CREDIT,
    "DBIT": Direction.DEBIT,
    "D": Direction.DEBIT,
    "DEBIT": Direction.DEBIT,
}


def parse_csv_statement(content: bytes | str) -> BankStatement:
    """The lines of a CSV statement (columns above); anything unreadable is INVALID_BANK_STATEMENT."""
    data = check_size(content)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidBankStatement(
            f"the statement is not UTF-8 text (byte {error.start})", field=("content",)
        ) from None
    if "\x00" in text:
        raise InvalidBankStatement("the statement contains NUL characters", field=("content",))
    header_line = text.splitlines()[0] if text.splitlines() else ""
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise InvalidBankStatement(
                f"row 1: the header lacks {', '.join(missing)} "
                f"(columns: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})",
                field=("content",),
            )
        duplicated = sorted({name for name in header if name and header.count(name) > 1})
        if duplicated:
            raise InvalidBankStatement(f"row 1: columns named twice: {', '.join(duplicated)}", field=("content",))
        lines: list[StatementLine] = []
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(lines) >= MAX_STATEMENT_LINES:
                raise InvalidBankStatement(
                    f"the statement has more than {MAX_STATEMENT_LINES} rows", field=("content",)
                )
            if len(row) > len(header):
                raise InvalidBankStatement(
                    f"row {number}: {len(row)} fields but the header names {len(header)}", field=("content",)
                )
            values = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header)}
            lines.append(_line(values, number, len(lines) + 1))
    except csv.Error as error:
        raise InvalidBankStatement(f"row {reader.line_num}: {error}", field=("content",)) from None
    return BankStatement(format="CSV", lines=tuple(lines))


def _line(values: dict[str, str], row: int, position: int) -> StatementLine:
    where = f"row {row}"
    currency = statement_currency(values.get("currency"), where)
    text = values.get("amount", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or not text or any(c not in "+-0123456789." for c in text):
        raise InvalidBankStatement(f"{where}: the amount {text!r} is not a decimal such as 1250.00", field=("content",))
    given = values.get("direction", "").upper()
    if given:
        if given not in _DIRECTIONS:
            raise InvalidBankStatement(
                f"{where}: direction must be CRDT or DBIT (or C/D, credit/debit), not {given!r}", field=("content",)
            )
        direction = _DIRECTIONS[given]
        if amount < 0:
            raise InvalidBankStatement(f"{where}: with a direction the amount must be positive", field=("content",))
    else:
        direction = Direction.DEBIT if amount < 0 else Direction.CREDIT
    booked_on = _date(values.get("booking_date"), where, "booking_date")
    if booked_on is None:
        raise InvalidBankStatement(f"{where}: booking_date is empty", field=("content",))
    reference = values.get("reference") or None
    check_places(abs(amount), currency, where)
    return StatementLine(
        amount=abs(amount),
        currency=currency,
        booked_on=booked_on,
        direction=direction,
        references=reference_candidates(
            end_to_end_id=values.get("end_to_end_id") or None,
            remittance=[reference],
            bank_references=[values.get("bank_reference") or None],
        ),
        remittance=reference,
        end_to_end_id=values.get("end_to_end_id") or None,
        bank_reference=values.get("bank_reference") or None,
        counterparty=values.get("counterparty") or None,
        value_date=_date(values.get("value_date"), where, "value_date"),
        position=position,
    )


def _date(text: str | None, where: str, column: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidBankStatement(
            f"{where}: {column} {text!r} is not a date (YYYY-MM-DD)", field=("content",)
        ) from None
