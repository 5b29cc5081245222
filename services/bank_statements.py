"""Importing a bank statement: credit lines matched to open invoices become payments, the rest is kept for review.

- The file is parsed whole first (`integrations/bank`: camt.053 or CSV); a file that cannot be read is a userError
  and nothing is written.
- A line names an invoice by its `paymentReference` (the RF creditor reference: structured `CdtrRefInf/Ref`,
  the end-to-end id, or written in the remittance text `Ustrd`, also in groups of four) or by its number
  (`PREFIX-YYYYMM-NNNN`, in any of those). The most specific reference that names a finalized invoice wins.
- A matched line is recorded as a payment exactly as `recordPayment` records one (`services.payments.record_payment`):
  part of what is due, all of it, or more (the excess becomes prepaid credit in the customer's wallet).
- Not matched, with a reason, and kept for review (`bankTransactions(status: UNMATCHED)`): money paid out (DEBIT),
  pending entries (NOT_BOOKED), reversals (REVERSAL), lines without a reference (NO_REFERENCE) or naming no invoice
  (UNKNOWN_REFERENCE), an invoice in another currency (CURRENCY_MISMATCH), an invoice that is not open for payment
  — paid, void (INVOICE_NOT_OPEN).
- An UNMATCHED line that is money received can be matched by hand to an invoice staff choose (`matchBankTransaction`,
  `match_transaction`): the same check (`unpayable`) and the same recording (`_pay`) as a line that names the invoice.
  The line's row is locked first, so it pays once however many matches race.
- An UNMATCHED line that will never be matched (a supplier's refund, a transfer between own accounts, a duplicate)
  can be dismissed (`ignoreBankTransaction`, `ignore_transaction`): IGNORED, its reason kept, with who ignored it,
  when and an optional note; `restoreBankTransaction` (`restore_transaction`) makes it UNMATCHED again. Both lock the
  line's row as a match does, so an ignore and a match of one line cannot both win; an IGNORED line is not matched.
- Every line is stored once per organization under a fingerprint of what the bank says about it (account, date,
  direction, amount, currency, the bank's and the payer's references, counterparty, and which occurrence of such a
  line it is in the file): importing the same statement again, or a later statement that repeats its entries,
  records nothing twice (`alreadyImported` counts those lines).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import BankTransaction, Invoice, Payment
from db.repositories.bank import BankTransactionRepository
from db.repositories.billing import InvoiceRepository
from db.repositories.pagination import Page
from db.session import UnitOfWork
from domain.money import from_minor_units
from domain.payments import ManualPaymentMethod
from integrations.bank.camt053 import parse_camt053
from integrations.bank.csv_statement import parse_csv_statement
from integrations.bank.statement import BankStatement, Direction, StatementLine, creditor_references_in
from services import audit
from services.actors import Actor
from services.errors import BankTransactionCode, Invalid, NotFound, Resource, found
from services.payments import OPEN_FOR_PAYMENT, record_payment


class StatementFormat(StrEnum):
    CAMT053 = "CAMT053"
    CSV = "CSV"


class UnmatchedReason(StrEnum):
    DEBIT = "DEBIT"  # money paid out, not a customer's payment
    NOT_BOOKED = "NOT_BOOKED"  # pending or informational: not money on the account yet
    REVERSAL = "REVERSAL"  # the bank reversed an earlier entry
    NO_REFERENCE = "NO_REFERENCE"
    UNKNOWN_REFERENCE = "UNKNOWN_REFERENCE"  # no finalized invoice has this reference or number
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"  # the invoice is in another currency
    INVOICE_NOT_OPEN = "INVOICE_NOT_OPEN"  # paid already, or void: nothing is owed on it


class TransactionStatus(StrEnum):
    MATCHED = "MATCHED"
    UNMATCHED = "UNMATCHED"
    IGNORED = "IGNORED"  # dismissed by staff: never to be matched (restoreBankTransaction undoes it)


# Lines that are no customer's payment: matched by hand to nothing either.
NOT_PAYMENTS = frozenset({UnmatchedReason.DEBIT, UnmatchedReason.NOT_BOOKED, UnmatchedReason.REVERSAL})


def _money_received(row: BankTransaction) -> bool:
    """Whether a stored line is a credit that may pay an invoice (not paid out, pending, reversed, or of nothing)."""
    return row.direction == Direction.CREDIT.value and row.reason not in NOT_PAYMENTS and row.amount_minor > 0


@dataclass(frozen=True)
class Matched:
    transaction: BankTransaction
    invoice: Invoice
    payment: Payment


@dataclass
class ImportResult:
    import_id: uuid.UUID
    format: StatementFormat
    account: str | None
    matched: list[Matched] = field(default_factory=list)
    unmatched: list[BankTransaction] = field(default_factory=list)
    already_imported: int = 0


_INVOICE_NUMBER = re.compile(r"\b[A-Z0-9]{2,12}-\d{6}-\d{4,}\b")


def parse(statement_format: StatementFormat, content: str) -> BankStatement:
    """The statement's lines, or INVALID_BANK_STATEMENT / UNSUPPORTED_BANK_STATEMENT naming what is wrong."""
    if statement_format is StatementFormat.CAMT053:
        return parse_camt053(content)
    return parse_csv_statement(content)


def _tokens(candidate: str) -> list[str]:
    """What one reference candidate may name an invoice by: itself, without spaces (an RF reference typed in groups
    of four), RF references and invoice numbers written inside it."""
    text = " ".join(candidate.upper().split())
    found = [text, text.replace(" ", "")]
    found += creditor_references_in(text)
    found += _INVOICE_NUMBER.findall(text)
    return list(dict.fromkeys(t for t in found if t))


def fingerprints(statement: BankStatement) -> list[str]:
    """One key per line: what the bank says about it, and which occurrence of an identical line it is."""
    seen: Counter[str] = Counter()
    keys = []
    for line in statement.lines:
        parts = [
            statement.account or "",
            line.direction.value,
            line.booked_on.isoformat(),
            str(line.amount),
            line.currency,
            line.bank_reference or "",
            line.end_to_end_id or "",
            "\x1f".join(line.references),
            line.counterparty or "",
            "booked" if line.booked else "pending",
        ]
        body = "\x1e".join(parts)
        seen[body] += 1
        keys.append(hashlib.sha256(f"{body}\x1d{seen[body]}".encode()).hexdigest())
    return keys


def _named_invoice(line: StatementLine, by_token: dict[str, Invoice]) -> tuple[Invoice | None, str | None]:
    for candidate in line.references:
        for token in _tokens(candidate):
            if token in by_token:
                return by_token[token], token
    return None, None


def _decide(
    line: StatementLine, by_token: dict[str, Invoice]
) -> tuple[Invoice | None, str | None, UnmatchedReason | None]:
    """(invoice, the reference that named it, None) for a line to record, else (invoice or None, reference, why not)."""
    if line.direction is Direction.DEBIT:
        return None, None, UnmatchedReason.DEBIT
    if not line.booked:
        return None, None, UnmatchedReason.NOT_BOOKED
    if line.reversal:
        return None, None, UnmatchedReason.REVERSAL
    if not line.references:
        return None, None, UnmatchedReason.NO_REFERENCE
    invoice, reference = _named_invoice(line, by_token)
    if invoice is None:
        return None, None, UnmatchedReason.UNKNOWN_REFERENCE
    return invoice, reference, unpayable(invoice, currency=line.currency, amount_minor=line.amount_minor)


def unpayable(invoice: Invoice, *, currency: str, amount_minor: int) -> UnmatchedReason | None:
    """Why a credit of `amount_minor` in `currency` cannot pay `invoice` (None: it can), whether the line named the
    invoice or staff chose it: the invoice's currency, and an invoice open for payment (OPEN or UNCOLLECTIBLE)."""
    if invoice.currency != currency:
        return UnmatchedReason.CURRENCY_MISMATCH
    if invoice.status not in OPEN_FOR_PAYMENT or amount_minor <= 0:
        return UnmatchedReason.INVOICE_NOT_OPEN
    return None


async def _pay(uow: UnitOfWork, actor: Actor, line: BankTransaction, invoice: Invoice) -> Payment:
    """The stored line recorded as a payment of `invoice`, as `recordPayment` records one (partial, exact, or over:
    the excess is wallet credit), paid on its booking date; the line is then MATCHED to it."""
    payment = await record_payment(
        uow,
        actor,
        invoice_id=invoice.id,
        amount=amount_of(line),
        method=ManualPaymentMethod.WIRE,
        currency=line.currency,
        paid_at=datetime.combine(line.booked_on, time(), tzinfo=UTC),
        reference=line.reference,
    )
    line.status = TransactionStatus.MATCHED.value
    line.reason = None
    line.invoice_id = invoice.id
    line.payment_id = payment.id
    await uow.session.flush()
    return payment


async def import_statement(
    uow: UnitOfWork, actor: Actor, *, statement_format: StatementFormat, content: str
) -> ImportResult:
    """`importBankStatement`: one transaction; a file that cannot be read writes nothing."""
    statement = parse(statement_format, content)
    repo = BankTransactionRepository(uow.session, actor.organization_id)
    result = ImportResult(import_id=uuid.uuid4(), format=statement_format, account=statement.account)
    keys = fingerprints(statement)
    known = await repo.known(keys)
    fresh = [(line, key) for line, key in zip(statement.lines, keys, strict=True) if key not in known]
    result.already_imported = len(statement.lines) - len(fresh)
    tokens = {t for line, _ in fresh for candidate in line.references for t in _tokens(candidate)}
    by_token: dict[str, Invoice] = {}
    for named in await repo.invoices_named(tokens):
        for name in (named.payment_reference, named.number):
            if name:
                by_token[name.upper()] = named
    for line, key in fresh:
        invoice, reference, reason = _decide(line, by_token)
        claimed = await repo.claim(
            {
                "import_id": result.import_id,
                "fingerprint": key,
                "statement_format": statement_format.value,
                "account": (statement.account or "")[:64] or None,
                "position": line.position,
                "booked_on": line.booked_on,
                "direction": line.direction.value,
                "amount_minor": line.amount_minor,
                "currency": line.currency,
                "reference": (reference or (line.references[0] if line.references else "") or "")[:200] or None,
                "references": list(line.references),
                "remittance": line.remittance,
                "counterparty": (line.counterparty or "")[:200] or None,
                "status": (TransactionStatus.UNMATCHED if reason else TransactionStatus.MATCHED).value,
                "reason": reason.value if reason else None,
                "invoice_id": invoice.id if invoice is not None else None,
            }
        )
        if claimed is None:  # a concurrent import of the same statement stored this line first
            result.already_imported += 1
            continue
        row = await repo.existing(claimed)
        if reason is not None or invoice is None:
            result.unmatched.append(row)
            continue
        result.matched.append(Matched(row, invoice, await _pay(uow, actor, row, invoice)))
    await audit.record(
        uow,
        actor,
        "bank_statement.imported",
        "bank_statement",
        result.import_id,
        after={
            "format": statement_format.value,
            "account": statement.account,
            "lines": len(statement.lines),
            "matched": len(result.matched),
            "unmatched": len(result.unmatched),
            "alreadyImported": result.already_imported,
            "matchedAmounts": [
                {"invoiceId": str(m.invoice.id), "amountMinor": m.transaction.amount_minor} for m in result.matched
            ],
        },
    )
    return result


def amount_of(row: BankTransaction) -> Decimal:
    return from_minor_units(row.amount_minor, row.currency)


async def list_transactions(
    session: AsyncSession,
    actor: Actor,
    *,
    status: TransactionStatus | None,
    first: int | None,
    after: str | None,
    with_total: bool,
) -> Page[BankTransaction]:
    """Imported statement lines, newest first: `status: UNMATCHED` is what is left to review."""
    return await BankTransactionRepository(session, actor.organization_id).list(
        status=status.value if status else None, first=first, after=after, with_total=with_total
    )


async def match_transaction(
    uow: UnitOfWork, actor: Actor, *, transaction_id: uuid.UUID, invoice_id: uuid.UUID
) -> Matched:
    """`matchBankTransaction`: an UNMATCHED credit line recorded as a payment of the invoice staff chose, exactly as
    an import records a line that names it (`unpayable`, `_pay`), with an audit entry of its own.

    The line's row is locked first: a second match of the same line waits, then finds it MATCHED (one payment)."""
    row = await BankTransactionRepository(uow.session, actor.organization_id).get_or(
        transaction_id, NotFound(Resource.BANK_TRANSACTION, field=("id",)), for_update=True
    )
    _refuse_unless_unmatched(row)
    if not _money_received(row):
        raise Invalid(
            f"this line is not a payment received ({row.reason or row.direction}): nothing to match",
            field=("id",),
            code=BankTransactionCode.BANK_TRANSACTION_NOT_A_PAYMENT,
        )
    invoice = found(
        await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True),
        NotFound(Resource.INVOICE, field=("invoiceId",)),
    )
    why_not = unpayable(invoice, currency=row.currency, amount_minor=row.amount_minor)
    if why_not is UnmatchedReason.CURRENCY_MISMATCH:
        raise Invalid(
            f"the line is in {row.currency} but the invoice is in {invoice.currency}",
            field=("invoiceId",),
            code=BankTransactionCode.CURRENCY_MISMATCH,
        )
    if why_not is not None:
        raise Invalid(
            f"the invoice is {invoice.status}: only an open invoice can be paid",
            field=("invoiceId",),
            code=BankTransactionCode.INVOICE_NOT_OPEN,
        )
    before = {"status": row.status, "reason": row.reason, "invoiceId": str(row.invoice_id) if row.invoice_id else None}
    payment = await _pay(uow, actor, row, invoice)
    await audit.record(
        uow,
        actor,
        "bank_transaction.matched",
        "bank_transaction",
        row.id,
        before=before,
        after={
            "status": row.status,
            "invoiceId": str(invoice.id),
            "invoiceNumber": invoice.number,
            "paymentId": str(payment.id),
            "amountMinor": row.amount_minor,
            "currency": row.currency,
        },
    )
    return Matched(row, invoice, payment)


def _refuse_unless_unmatched(row: BankTransaction) -> None:
    """BANK_TRANSACTION_ALREADY_MATCHED or BANK_TRANSACTION_IGNORED (at `id`) for a line not left to review."""
    if row.status == TransactionStatus.MATCHED.value:
        raise Invalid(
            "this line is matched already: it paid an invoice once",
            field=("id",),
            code=BankTransactionCode.BANK_TRANSACTION_ALREADY_MATCHED,
        )
    if row.status == TransactionStatus.IGNORED.value:
        raise Invalid(
            "this line is ignored: restore it first (restoreBankTransaction)",
            field=("id",),
            code=BankTransactionCode.BANK_TRANSACTION_IGNORED,
        )


def _ignored(row: BankTransaction) -> dict[str, str | None]:
    return {
        "status": row.status,
        "reason": row.reason,
        "ignoredAt": row.ignored_at.isoformat() if row.ignored_at else None,
        "ignoredBy": row.ignored_by,
        "ignoreNote": row.ignore_note,
    }


async def ignore_transaction(
    uow: UnitOfWork, actor: Actor, *, transaction_id: uuid.UUID, note: str | None
) -> BankTransaction:
    """`ignoreBankTransaction`: an UNMATCHED line dismissed (IGNORED), its reason kept, with who, when and the note.

    The line's line is locked first, as `match_transaction` locks it: of an ignore and a match (or two ignores) at
    once, the second waits, then finds the line MATCHED or IGNORED and is refused."""
    line = await BankTransactionRepository(uow.session, actor.organization_id).get_or(
        transaction_id, NotFound(Resource.BANK_TRANSACTION, field=("id",)), for_update=True
    )
    if line.status == TransactionStatus.IGNORED.value:
        raise Invalid(
            "this line is ignored already",
            field=("id",),
            code=BankTransactionCode.BANK_TRANSACTION_ALREADY_IGNORED,
        )
    _refuse_unless_unmatched(line)
    before = _ignored(line)
    line.status = TransactionStatus.IGNORED.value
    line.ignored_at = uow.clock.now()
    line.ignored_by = actor.name[:300]
    line.ignore_note = (note or "").strip() or None
    await uow.session.flush()
    await audit.record(
        uow, actor, "bank_transaction.ignored", "bank_transaction", line.id, before=before, after=_ignored(line)
    )
    return line


async def restore_transaction(uow: UnitOfWork, actor: Actor, *, transaction_id: uuid.UUID) -> BankTransaction:
    """`restoreBankTransaction`: an IGNORED line UNMATCHED again (left to review, its reason as it was), the ignore's
    who, when and note cleared (the audit entry keeps them). Locked as an ignore or a match locks it."""
    line = await BankTransactionRepository(uow.session, actor.organization_id).get_or(
        transaction_id, NotFound(Resource.BANK_TRANSACTION, field=("id",)), for_update=True
    )
    if line.status != TransactionStatus.IGNORED.value:
        raise Invalid(
            f"this line is {line.status}, not ignored: nothing to restore",
            field=("id",),
            code=BankTransactionCode.BANK_TRANSACTION_NOT_IGNORED,
        )
    before = _ignored(line)
    line.status = TransactionStatus.UNMATCHED.value
    line.ignored_at = None
    line.ignored_by = None
    line.ignore_note = None
    await uow.session.flush()
    await audit.record(
        uow, actor, "bank_transaction.restored", "bank_transaction", line.id, before=before, after=_ignored(line)
    )
    return line


async def invoices_to_match(
    session: AsyncSession, actor: Actor, *, transaction_id: uuid.UUID, search: str | None, first: int
) -> list[Invoice]:
    """The invoices an UNMATCHED line could pay (open, in its currency, something left to pay), those owing
    exactly its amount first; none for a line that is matched or no payment. An unknown line: not found."""
    repo = BankTransactionRepository(session, actor.organization_id)
    row = await repo.get_or(transaction_id, NotFound(Resource.BANK_TRANSACTION, field=("transactionId",)))
    if row.status != TransactionStatus.UNMATCHED.value or not _money_received(row):
        return []
    found_rows = await repo.invoices_to_match(
        statuses=OPEN_FOR_PAYMENT,
        currency=row.currency,
        amount_minor=row.amount_minor,
        search=(search or "").strip() or None,
        first=first,
    )
    return list(found_rows)
