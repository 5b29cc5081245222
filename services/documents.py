"""Invoice PDFs (fpdf2) and the signed links that serve them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from fpdf import FPDF

from db.models import CreditNote, Invoice
from domain import money
from integrations.clock import utc_now
from services.wire import BankDetails, printed_reference

LINK_TTL_SECONDS = 3600


def _signature(kind: str, document_id: uuid.UUID, expires: int, secret: str) -> str:
    message = f"{kind}-pdf:{document_id}:{expires}".encode()
    return base64.urlsafe_b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode().rstrip("=")


def signed_pdf_path(document_id: uuid.UUID, secret: str, now: float | None = None, kind: str = "invoice") -> str:
    """A link to a document's PDF that works without credentials for an hour (kind: invoice, credit-note)."""
    expires = int((now or utc_now().timestamp()) + LINK_TTL_SECONDS)
    folder = "invoices" if kind == "invoice" else "credit-notes"
    return (
        f"/v1/{folder}/{document_id}/pdf?expires={expires}&signature={_signature(kind, document_id, expires, secret)}"
    )


EXPIRES = re.compile(r"[0-9]{1,12}")  # a Unix time in seconds, ASCII digits only ("²" is a digit to str.isdigit)


def link_refusal(
    document_id: uuid.UUID, expires: str, signature: str, secret: str, kind: str = "invoice", now: float | None = None
) -> str | None:
    """None when a signed link opens its document; otherwise "malformed", "expired" or "invalid"."""
    if not EXPIRES.fullmatch(expires) or not signature:
        return "malformed"
    if int(expires) < (now or utc_now().timestamp()):
        return "expired"
    expected = _signature(kind, document_id, int(expires), secret).encode()
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):  # bytes: any text compares
        return "invalid"
    return None


def link_is_valid(document_id: uuid.UUID, expires: str, signature: str, secret: str, kind: str = "invoice") -> bool:
    return link_refusal(document_id, expires, signature, secret, kind) is None


class PdfRenderer:
    """Renders documents on a thread of its own, so that the event loop goes on serving other requests while
    fpdf2 works: at most `threads` PDFs of this process at once, the others wait their turn in order. One thread:
    fpdf2 is pure Python and holds the GIL while it draws, so every extra rendering thread is one more contender
    for the interpreter that the event loop must wait for (docs/performance.md, "PDFs off the event loop").

    The rows handed over must be fully loaded (and their session closed): rendering reads attributes only."""

    def __init__(self, threads: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pdf")

    async def __call__(self, render: Callable[..., bytes], *rows: Any) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(self._pool, render, *rows)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _latin(text: str) -> str:
    """The PDF core fonts are Latin-1: other characters print as '?' rather than failing the document."""
    return text.replace("\u2014", "-").encode("latin-1", "replace").decode("latin-1")


def _money(minor: int, currency: str) -> str:
    return f"{money.from_minor_units(minor, currency):,} {currency}"


def _party(pdf: FPDF, title: str, party: dict[str, Any]) -> None:
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 5, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    lines = [party.get("name")]
    address = party.get("address")
    lines += address if isinstance(address, list) else [address]
    lines += [
        party.get("country"),
        f"Tax id: {party['taxIdentificationNumber']}" if party.get("taxIdentificationNumber") else None,
    ]
    for text in filter(None, lines):
        pdf.cell(0, 5, _latin(str(text)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def render_invoice(invoice: Invoice, bank: BankDetails | None = None) -> bytes:
    """A PDF with seller, buyer, lines with their math, tax summary, notes and totals; with `bank` (the
    organization's wire account), a "Pay by bank transfer" block with the invoice's payment reference."""
    c = invoice.currency
    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, f"Invoice {invoice.number or '(draft)'}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    issued = invoice.issued_at.date().isoformat() if invoice.issued_at else "-"
    due = invoice.due_at.date().isoformat() if invoice.due_at else "-"
    pdf.cell(0, 5, f"Issued {issued}  -  due {due}  -  status {invoice.status}", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0, 5, f"Period {invoice.period_start.date()} to {invoice.period_end.date()}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(4)
    _party(pdf, "From", invoice.seller)
    _party(pdf, "Bill to", invoice.buyer)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(110, 6, "Description", border="B")
    pdf.cell(25, 6, "Units", border="B", align="R")
    pdf.cell(25, 6, "Tax", border="B", align="R")
    pdf.cell(30, 6, "Amount", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    tax_summary: dict[str, int] = {}
    for line in invoice.lines:
        units = format(line.units.normalize(), "f") if line.units is not None else ""
        pdf.cell(110, 6, _latin(line.description[:70]))
        pdf.cell(25, 6, units, align="R")
        pdf.cell(25, 6, _money(line.tax_minor, c), align="R")
        pdf.cell(30, 6, _money(line.amount_minor, c), align="R", new_x="LMARGIN", new_y="NEXT")
        for step in line.breakdown:
            pdf.set_text_color(90, 90, 90)
            pdf.cell(0, 4, _latin("    " + _step(step)), new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0, 0, 0)
        for rate in line.tax_rates:
            label = f"{rate['name']} ({format(Decimal(rate['rate']).normalize(), 'f')}%)"
            tax_summary[label] = tax_summary.get(label, 0) + line.tax_minor
    pdf.ln(3)
    totals = [
        ("Subtotal", invoice.subtotal_minor),
        ("Discounts", -invoice.discount_minor),
        *[(f"Tax: {k}", v) for k, v in tax_summary.items()],
        ("Tax", invoice.tax_minor),
        ("Total", invoice.total_minor),
        ("Credit notes", -invoice.credit_notes_minor),
        ("Prepaid credits", -invoice.credits_minor),
        ("Amount due", invoice.amount_due_minor),
    ]
    for label, minor in totals:
        pdf.set_font("Helvetica", "B" if label in ("Total", "Amount due") else "", 10)
        pdf.cell(160, 6, _latin(label), align="R")
        pdf.cell(30, 6, _money(minor, c), align="R", new_x="LMARGIN", new_y="NEXT")
    if invoice.notes:
        pdf.ln(4)
        pdf.set_font("Helvetica", "I", 9)
        pdf.multi_cell(0, 5, _latin(invoice.notes))
    pdf.ln(4)
    reference = printed_reference(invoice.payment_reference or invoice.number or str(invoice.id))
    if bank is not None and invoice.amount_due_minor > 0:
        _bank_transfer(pdf, bank, reference, _money(invoice.amount_due_minor, c))
    else:
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin(f"Payment reference: {reference}"))
    return bytes(pdf.output())


def _bank_transfer(pdf: FPDF, bank: BankDetails, reference: str, amount: str) -> None:
    """The bank details block: where to send the amount due and the reference that names this invoice."""
    if pdf.will_page_break(9 * 5 + 12):
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Pay by bank transfer", new_x="LMARGIN", new_y="NEXT")
    rows = [*bank.rows(), ("Amount", amount), ("Reference", reference)]
    for label, value in rows:
        pdf.set_font("Helvetica", "", 9)
        pdf.cell(45, 5, _latin(label))
        pdf.set_font("Helvetica", "B" if label in ("Reference", "IBAN", "Account number") else "", 9)
        pdf.cell(0, 5, _latin(value), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(
        0,
        4,
        "Quote the reference exactly as shown (as a structured creditor reference where your bank offers "
        "one), so that your payment is matched to this invoice.",
    )
    pdf.rect(pdf.l_margin - 2, top - 2, pdf.epw + 4, pdf.get_y() - top + 4)


def render_credit_note(note: CreditNote, invoice: Invoice) -> bytes:
    """A credit note: who, which invoice, credit or refund, amount and reason."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin(f"Credit note {note.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(
        0, 5, _latin(f"Issued {note.created_at.date()} against invoice {invoice.number}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(4)
    _party(pdf, "From", invoice.seller)
    _party(pdf, "To", invoice.buyer)
    kind = "Refund" if note.kind == "REFUND" else "Credit"
    if note.items:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(130, 6, "Invoice line")
        pdf.cell(30, 6, "Amount", align="R")
        pdf.cell(30, 6, "Tax", align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for item in note.items:
            pdf.cell(130, 6, _latin(item.description[:70]))
            pdf.cell(30, 6, _money(item.amount_minor, note.currency), align="R")
            pdf.cell(30, 6, _money(item.tax_minor, note.currency), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(160, 7, kind, align="R")
    pdf.cell(30, 7, _money(note.amount_minor, note.currency), align="R", new_x="LMARGIN", new_y="NEXT")
    if note.reason:
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 5, _latin(f"Reason: {note.reason}"))
    return bytes(pdf.output())


def _step(step: dict[str, Any]) -> str:
    parts = [step.get("kind", "")]
    if step.get("fromValue") is not None:
        parts.append(f"{step['fromValue']}-{step.get('toValue') or 'inf'}")
    parts.append(f"{step.get('units', '')} units")
    if step.get("perUnitAmount") is not None:
        parts.append(f"x {step['perUnitAmount']}")
    if step.get("rate") is not None:
        parts.append(f"at {step['rate']}%")
    if step.get("flatAmount") not in (None, "0"):
        parts.append(f"+ {step['flatAmount']} flat")
    parts.append(f"= {step.get('amount', '')}")
    return " ".join(str(p) for p in parts)
