"""Emails to an organization's own people (its active owners and admins) about what needs a person: for now, a
webhook endpoint that was disabled (410 Gone, or failing for five days), as Stripe tells an account's owners.

A use case queues the email in its transaction (`queue_endpoint_disabled`): a `send_staff_email` job after
commit, with a deterministic id from its key, `webhook_endpoint_disabled:<endpoint>:<unix time>`; the job renders
`services/email_templates/staff/` (text and HTML) and sends one email to all of them through the customer emails'
mailer (services/notifications.EmailConfig); a sent email is noted under its key in `email_deliveries`, so a job
run again sends nothing more. No SMTP_URL: logged, not sent.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from db.models import WebhookEndpoint
from db.repositories.dunning import DunningRepository
from db.repositories.organizations import OrganizationRepository, StaffUserRepository
from db.session import Database, UnitOfWork
from integrations.email import OutgoingEmail, SendResult
from services.notifications import EmailConfig

log = logging.getLogger("valueverse.notifications")

SEND_JOB = "send_staff_email"
ENDPOINT_DISABLED = "webhook_endpoint_disabled"

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "email_templates" / "staff"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def endpoint_disabled_key(endpoint_id: uuid.UUID, at: datetime) -> str:
    return f"{ENDPOINT_DISABLED}:{endpoint_id}:{int(at.timestamp())}"


def queue_endpoint_disabled(uow: UnitOfWork, endpoint: WebhookEndpoint) -> str:
    """Tell the organization's owners and admins, once this change commits, that `endpoint` was disabled."""
    key = endpoint_disabled_key(endpoint.id, uow.wall_clock.now())
    uow.enqueue_after_commit(SEND_JOB, str(endpoint.organization_id), key, job_id=f"email:{key}")
    return key


@dataclass(frozen=True)
class _Parsed:
    kind: str
    subject_id: uuid.UUID


def _parse(key: str) -> _Parsed:
    kind, subject_id, _ = key.split(":")
    if kind != ENDPOINT_DISABLED:
        raise ValueError(f"no staff email of kind {kind!r}")
    return _Parsed(kind, uuid.UUID(subject_id))


async def send(db: Database, config: EmailConfig, organization_id: uuid.UUID, key: str) -> SendResult | None:
    """The `send_staff_email` job: None when there is nothing to send (sent before, the endpoint deleted, or
    nobody to tell)."""
    parsed = _parse(key)
    async with db.read() as session:
        if await DunningRepository(session, organization_id).email_sent(key):
            return None
        endpoint = await session.get(WebhookEndpoint, parsed.subject_id)
        if endpoint is None or endpoint.organization_id != organization_id:
            return None
        organization = await OrganizationRepository(session).existing(organization_id)
        recipients = [u.email for u in await StaffUserRepository(session, organization_id).active_admins()]
    if not recipients:
        log.info("nobody to tell that webhook endpoint %s was disabled: no active owner or admin", endpoint.id)
        return None
    origin = config.public_url or "http://localhost:8000"
    values = {
        "organization": organization.name,
        "url": endpoint.url,
        "reason": endpoint.disabled_reason or "",
        "page": f"{origin}/admin/webhook?id={endpoint.id}",
    }
    subject = f"A webhook endpoint of {organization.name} was disabled"
    values["subject"] = subject
    result = await config.mailer.send(
        OutgoingEmail(
            to=recipients,
            subject=subject,
            text=_TEMPLATES.get_template("endpoint_disabled.txt").render(values),
            html=_TEMPLATES.get_template("endpoint_disabled.html").render(values),
            headers={"X-ValueVerse-Email": parsed.kind, "X-ValueVerse-Webhook-Endpoint": str(endpoint.id)},
        )
    )
    if result.sent:
        async with db.unit_of_work() as uow:
            await DunningRepository(uow.session, organization_id).keep_email({
                "key": key, "kind": parsed.kind, "recipient": ", ".join(recipients)[:320],
                "subject": subject[:300], "message_id": result.message_id[:300], "logged_only": result.logged_only,
            })
    return result
