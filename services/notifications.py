"""Emails to an organization's customers about their invoices: one email per event, sent by a worker job.

A use case says what happened (`queue(uow, kind, invoice, n)`): a `send_email` job is queued after commit with
a deterministic id (`email:<kind>:<invoice>:<n>`), so a second dispatch of the outbox row queues nothing. The
job renders the Jinja2 templates of `services/email_templates/` (plain text and HTML) and sends through
`integrations.email.Mailer` (no SMTP_URL: logged, not sent); a sent email is noted in `email_deliveries` under
its key, so a job that runs again sends nothing more. Links that leave the system start at PUBLIC_URL.

Kinds: INVOICE_ISSUED (the PDF attached), PAYMENT_RECEIPT, PAYMENT_FAILED (a link to fix the payment method),
ACTION_REQUIRED (the provider's 3-D Secure link), DUNNING_REMINDER, FINAL_NOTICE; and USAGE_ALERT, about a usage
alert that fired (services/usage_alerts.py): its key names the firing (`usage_alert:<firing>:0`), not an invoice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from db.models import Invoice
from db.repositories.alerts import UsageAlertRepository
from db.repositories.billing import InvoiceRepository
from db.repositories.customers import CustomerRepository
from db.repositories.dunning import DunningRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.payments import PaymentRepository
from db.session import Database, UnitOfWork
from domain import money
from integrations.email import Attachment, Mailer, OutgoingEmail, SendResult
from services import audit, documents, portal
from services.actors import Actor, system_actor
from services.errors import Invalid, NotFound

log = logging.getLogger("valueverse.notifications")

SEND_JOB = "send_email"


class EmailKind(StrEnum):
    INVOICE_ISSUED = "invoice_issued"
    PAYMENT_RECEIPT = "payment_receipt"
    PAYMENT_FAILED = "payment_failed"
    ACTION_REQUIRED = "action_required"
    DUNNING_REMINDER = "dunning_reminder"
    FINAL_NOTICE = "final_notice"
    USAGE_ALERT = "usage_alert"


_SUBJECTS = {
    EmailKind.INVOICE_ISSUED: "Invoice {number} from {organization}",
    EmailKind.PAYMENT_RECEIPT: "Receipt for invoice {number} from {organization}",
    EmailKind.PAYMENT_FAILED: "Payment failed for invoice {number} from {organization}",
    EmailKind.ACTION_REQUIRED: "Confirm your payment for invoice {number} from {organization}",
    EmailKind.DUNNING_REMINDER: "Reminder: invoice {number} from {organization} is unpaid",
    EmailKind.FINAL_NOTICE: "Final notice: invoice {number} from {organization}",
    EmailKind.USAGE_ALERT: "Usage alert from {organization}: {alert} reached",
}

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "email_templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def email_key(kind: EmailKind, invoice_id: uuid.UUID, n: int = 0) -> str:
    """What names one email: the event it tells of (an invoice, and the attempt for collection's emails)."""
    return f"{kind.value}:{invoice_id}:{n}"


def queue(uow: UnitOfWork, kind: EmailKind, invoice: Invoice, n: int = 0) -> None:
    """Send the customer the email of `kind` about `invoice` once this change commits (once per key)."""
    key = email_key(kind, invoice.id, n)
    uow.enqueue_after_commit(SEND_JOB, str(invoice.organization_id), key, job_id=f"email:{key}")


def queue_usage_alert(uow: UnitOfWork, organization_id: uuid.UUID, firing_id: uuid.UUID) -> None:
    """Tell the customer that a usage alert fired (once per firing) once this change commits."""
    key = email_key(EmailKind.USAGE_ALERT, firing_id)
    uow.enqueue_after_commit(SEND_JOB, str(organization_id), key, job_id=f"email:{key}")


class NotificationCode(StrEnum):
    INVOICE_NOT_ISSUED = "INVOICE_NOT_ISSUED"  # a draft: nothing was sent, there is nothing to send again
    INVOICE_VOID = "INVOICE_VOID"  # a void invoice is not the customer's to pay
    CUSTOMER_HAS_NO_EMAIL = "CUSTOMER_HAS_NO_EMAIL"  # nowhere to send it: the customer needs an email first


async def resend_invoice_email(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> Invoice:
    """Queue the invoice email (with its PDF) again: open, paid or uncollectible invoices of a customer with an email
    address, never drafts or void ones.

    Each resend is an email of its own: its key ends with the invoice's resend count, taken under the row lock."""
    invoice = await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFound("no invoice with this id", field=("invoiceId",))
    if invoice.status == "DRAFT":
        raise Invalid(
            "a draft invoice is not issued yet: finalize it to send it",
            field=("invoiceId",),
            code=NotificationCode.INVOICE_NOT_ISSUED,
        )
    if invoice.status == "VOID":
        raise Invalid("a void invoice is not sent again", field=("invoiceId",), code=NotificationCode.INVOICE_VOID)
    if not (invoice.customer.email or "").strip():
        raise Invalid(
            "the customer has no email address: add one to the customer, then send the invoice again",
            field=("invoiceId",),
            code=NotificationCode.CUSTOMER_HAS_NO_EMAIL,
        )
    invoice.issued_email_resends += 1
    queue(uow, EmailKind.INVOICE_ISSUED, invoice, invoice.issued_email_resends)
    await audit.record(
        uow,
        actor,
        "invoice.email_resent",
        "invoice",
        invoice.id,
        after={"number": invoice.number, "resend": invoice.issued_email_resends, "to": invoice.customer.email},
    )
    return invoice


@dataclass(frozen=True)
class EmailConfig:
    mailer: Mailer
    public_url: str | None = None  # PUBLIC_URL: the origin of every link in an email


# The emails that send the customer to the portal (to pay the invoice, or see why it failed) carry a portal link
# of their own: a customer portal session for that customer, as long-lived as a link may be (7 days).
_PORTAL_KINDS = frozenset(
    {EmailKind.PAYMENT_FAILED, EmailKind.ACTION_REQUIRED, EmailKind.DUNNING_REMINDER, EmailKind.FINAL_NOTICE}
)


async def _portal_link(db: Database, organization_id: uuid.UUID, customer_external_id: str, origin: str) -> str:
    """A fresh customer portal link (services/portal.py): the customer opens it, sees the invoice and pays it."""
    actor = system_actor(organization_id, name="customer emails", kind="job")
    async with db.unit_of_work() as uow:
        issued = await portal.create_portal_session(
            uow,
            actor,
            customer_external_id=customer_external_id,
            origin=origin,
            expires_in_seconds=portal.MAX_PORTAL_TTL_SECONDS,
        )
    return issued.url


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(kind: EmailKind, context: dict[str, Any]) -> RenderedEmail:
    subject = _SUBJECTS[kind].format(
        number=context.get("invoice_number"), organization=context["organization"], alert=context.get("alert")
    )
    values = {**context, "subject": subject}
    text = _TEMPLATES.get_template(f"{kind.value}.txt").render(values)
    html = _TEMPLATES.get_template(f"{kind.value}.html").render(values)
    return RenderedEmail(subject, text, html)


def _plain(value: Decimal) -> str:
    """A quantity as people write it: 80, 1250.5 (no trailing zeros, no exponent)."""
    return format(value.normalize(), "f")


def _amount(minor: int, currency: str) -> str:
    return f"{money.from_minor_units(minor, currency)} {currency}"


def _day(at: datetime | None) -> str | None:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at is not None else None


def _parse_key(key: str) -> tuple[EmailKind, uuid.UUID, int]:
    kind, invoice_id, n = key.split(":")
    return EmailKind(kind), uuid.UUID(invoice_id), int(n)


async def send(db: Database, config: EmailConfig, organization_id: uuid.UUID, key: str) -> SendResult | None:
    """The `send_email` job: render and send the email `key` names, once; None when there is nothing to send
    (sent before, no such invoice, a customer without an email address)."""
    kind, invoice_id, n = _parse_key(key)
    if kind is EmailKind.USAGE_ALERT:
        return await _send_usage_alert(db, config, organization_id, key, invoice_id)
    async with db.read() as session:
        if await DunningRepository(session, organization_id).email_sent(key):
            return None
        invoice = await InvoiceRepository(session, organization_id).get(invoice_id)
        if invoice is None:
            return None
        organization = await OrganizationRepository(session).existing(organization_id)
        customer = invoice.customer
        recipient = (customer.email or "").strip()
        if not recipient:  # before any work: rendering the PDF is most of an email's cost
            log.info("no email for %s of invoice %s: the customer has no email address", kind.value, invoice_id)
            return None
        attempts = await PaymentRepository(session, organization_id).attempts(invoice_id)
        attempt = next((a for a in attempts if a.number == n), attempts[-1] if attempts else None)
        has_method = await PaymentRepository(session, organization_id).default_payment_method(invoice.customer_id)
        pdf = await asyncio.to_thread(documents.render_invoice, invoice) if kind is EmailKind.INVOICE_ISSUED else None
        subscriptions = await DunningRepository(session, organization_id).subscriptions_of_invoice(invoice_id)
    portal_link = ""
    if kind in _PORTAL_KINDS:
        origin = config.public_url or "http://localhost:8000"
        portal_link = await _portal_link(db, organization_id, customer.external_id, origin)
    context = {
        "organization": organization.legal_name or organization.name,
        "customer_name": customer.name or customer.external_id,
        "invoice_number": invoice.number or "(draft)",
        "amount": _amount(invoice.amount_due_minor, invoice.currency),
        "paid": _amount(invoice.paid_minor, invoice.currency),
        "due_at": _day(invoice.due_at),
        "automatic": has_method is not None,
        "attempt": n,
        "reason": (attempt.decline_code or "").replace("_", " ") if attempt is not None else "",
        "next_attempt_at": _day(invoice.next_payment_attempt_at),
        "update_url": portal_link,
        "action_url": (attempt.action_url if attempt is not None else None) or portal_link,
        "uncollectible": invoice.status == "UNCOLLECTIBLE",
        "canceled": any(s.ended_status == "CANCELED" for s in subscriptions),
    }
    rendered = render(kind, context)
    attachments = (
        [Attachment(f"invoice-{invoice.number or invoice.id}.pdf", pdf, "application/pdf")] if pdf is not None else []
    )
    result = await config.mailer.send(
        OutgoingEmail(
            to=[recipient],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            attachments=attachments,
            headers={"X-ValueVerse-Invoice": str(invoice.id), "X-ValueVerse-Email": kind.value},
        )
    )
    await _note_sent(db, organization_id, key, kind, recipient, rendered, result)
    return result


async def _note_sent(
    db: Database, organization_id: uuid.UUID, key: str, kind: EmailKind, recipient: str, rendered: RenderedEmail,
    result: SendResult,
) -> None:
    if result.sent:  # a logged email (no SMTP_URL) is not noted: logging it again harms nobody
        async with db.unit_of_work() as uow:
            await DunningRepository(uow.session, organization_id).keep_email(
                {
                    "key": key,
                    "kind": kind.value,
                    "recipient": recipient[:320],
                    "subject": rendered.subject[:300],
                    "message_id": result.message_id[:300],
                    "logged_only": result.logged_only,
                }
            )


async def _send_usage_alert(
    db: Database, config: EmailConfig, organization_id: uuid.UUID, key: str, firing_id: uuid.UUID
) -> SendResult | None:
    async with db.read() as session:
        if await DunningRepository(session, organization_id).email_sent(key):
            return None
        repo = UsageAlertRepository(session, organization_id)
        firing = await repo.firing(firing_id)
        if firing is None:  # the alert was deleted since
            return None
        alert = await repo.get(firing.alert_id)
        customer = (await CustomerRepository(session, organization_id).by_ids([firing.customer_id])).get(
            firing.customer_id
        )
        organization = await OrganizationRepository(session).existing(organization_id)
        codes = await repo.metric_codes([alert.billable_metric_id] if alert and alert.billable_metric_id else [])
    if alert is None or customer is None:
        return None
    recipient = (customer.email or "").strip()
    if not recipient:
        log.info("no usage alert email for %s: the customer has no email address", customer.external_id)
        return None
    metric = codes.get(alert.billable_metric_id) if alert.billable_metric_id else None
    if alert.threshold_type == "UNITS":
        threshold, value = f"{_plain(firing.threshold)} {metric}", f"{_plain(firing.value)} {metric}"
        what = f"Your usage of {metric}"
    else:
        threshold = f"{money.round_minor(firing.threshold, firing.currency)} {firing.currency}"
        value = f"{money.round_minor(firing.value, firing.currency)} {firing.currency}"
        what = f"Your usage charges for {metric}" if metric else "Your usage charges"
    origin = config.public_url or "http://localhost:8000"
    context = {
        "organization": organization.legal_name or organization.name,
        "customer_name": customer.name or customer.external_id,
        "alert": alert.name or threshold,
        "what": what,
        "threshold": threshold,
        "value": value,
        "period_start": _day(firing.period_start),
        "period_end": _day(firing.period_end),
        "portal_url": await _portal_link(db, organization_id, customer.external_id, origin),
    }
    rendered = render(EmailKind.USAGE_ALERT, context)
    result = await config.mailer.send(
        OutgoingEmail(
            to=[recipient],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            attachments=[],
            headers={"X-ValueVerse-Usage-Alert": str(alert.id), "X-ValueVerse-Email": EmailKind.USAGE_ALERT.value},
        )
    )
    await _note_sent(db, organization_id, key, EmailKind.USAGE_ALERT, recipient, rendered, result)
    return result
