"""Email over SMTP with aiosmtplib: plain text with an HTML alternative and attachments.

`SMTP_URL` says where: `smtp://[user:password@]host[:port]` (STARTTLS when the server
offers it; `?starttls=require` insists, `?starttls=off` never tries) or
`smtps://[user:password@]host[:port]` (TLS from the first byte, port 465 by default).
`?timeout=10` bounds each step in seconds; `?verify=false` skips certificate checks (for a
relay on this machine only). User and password are URL-decoded (`%40` for `@`). Unset, a
message is logged (recipients and subject, never the body) and not sent. A failed send is
an answer (`SendResult.error`, `retryable` for what may work later), not an exception.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

log = logging.getLogger("valueverse.email")

DEFAULT_TIMEOUT_SECONDS = 10.0


class InvalidSmtpUrl(ValueError):
    """SMTP_URL cannot be used (a configuration mistake, found at start-up)."""


@dataclass(frozen=True)
class SmtpSettings:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False  # TLS from the start (smtps://)
    start_tls: bool | None = None  # None: when offered; True: required; False: never
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    validate_certs: bool = True

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise InvalidSmtpUrl(f"SMTP_URL is not a URL: {error}") from None
        if parts.scheme not in ("smtp", "smtps"):
            raise InvalidSmtpUrl("SMTP_URL starts with smtp:// or smtps://")
        if not parts.hostname:
            raise InvalidSmtpUrl("SMTP_URL names no host")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"starttls", "timeout", "verify"}
        if unknown:
            raise InvalidSmtpUrl(f"SMTP_URL has unknown options: {', '.join(sorted(unknown))}")
        start_tls = {"require": True, "required": True, "true": True, "off": False, "false": False, "auto": None}
        if query.get("starttls", "auto").lower() not in start_tls:
            raise InvalidSmtpUrl("starttls is require, off or auto")
        try:
            timeout = float(query.get("timeout", DEFAULT_TIMEOUT_SECONDS))
        except ValueError:
            raise InvalidSmtpUrl("timeout is a number of seconds") from None
        if not 0 < timeout <= 300:
            raise InvalidSmtpUrl("timeout is between 0 and 300 seconds")
        implicit = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            start_tls=False if implicit else start_tls[query.get("starttls", "auto").lower()],
            timeout=timeout,
            validate_certs=query.get("verify", "true").lower() != "false",
        )


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/pdf"


@dataclass(frozen=True)
class OutgoingEmail:
    to: Sequence[str]
    subject: str
    text: str
    html: str | None = None
    attachments: Sequence[Attachment] = ()
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. {"X-ValueVerse-Invoice": "VV-1"}


@dataclass(frozen=True)
class SendResult:
    sent: bool
    message_id: str
    recipients: tuple[str, ...]
    logged_only: bool = False  # no SMTP_URL: logged instead of sent
    error: str | None = None
    retryable: bool = False  # the failure may pass later (connection, timeout, a 4xx answer)


def build_message(message: OutgoingEmail, *, sender: str, message_id: str | None = None) -> EmailMessage:
    """The MIME message: text/plain, an optional text/html alternative, then the attachments."""
    if not message.to:
        raise ValueError("an email needs at least one recipient")
    built = EmailMessage()
    built["From"] = sender
    built["To"] = ", ".join(message.to)
    built["Subject"] = message.subject
    built["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    domain = _domain(sender)
    built["Message-ID"] = message_id or email.utils.make_msgid(domain=domain)
    if message.reply_to:
        built["Reply-To"] = message.reply_to
    for name, value in message.headers.items():
        built[name] = value
    built.set_content(message.text)
    if message.html is not None:
        built.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        built.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype or "octet-stream", filename=attachment.filename
        )
    return built


class Mailer:
    """Sends email through the configured SMTP server, or logs it when there is none."""

    def __init__(self, smtp_url: str | None, email_from: str) -> None:
        self.settings = SmtpSettings.from_url(smtp_url) if smtp_url else None
        try:
            Address(addr_spec=email.utils.parseaddr(email_from)[1] or email_from)
        except (ValueError, IndexError) as error:
            raise InvalidSmtpUrl(f"EMAIL_FROM is not an address: {error}") from None
        self.email_from = email_from

    async def send(self, message: OutgoingEmail) -> SendResult:
        built = build_message(message, sender=self.email_from)
        message_id = str(built["Message-ID"])
        recipients = tuple(message.to)
        if self.settings is None:
            log.info("email not sent (no SMTP_URL): to=%s subject=%r", ", ".join(recipients), message.subject)
            return SendResult(False, message_id, recipients, logged_only=True)
        smtp = self.settings
        try:
            refused, _ = await aiosmtplib.send(
                built,
                hostname=smtp.hostname,
                port=smtp.port,
                username=smtp.username,
                password=smtp.password,
                use_tls=smtp.use_tls,
                start_tls=smtp.start_tls,
                timeout=smtp.timeout,
                validate_certs=smtp.validate_certs,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            return SendResult(
                False,
                message_id,
                recipients,
                error=f"every recipient was refused: {error}",
                retryable=_temporary(codes),
            )
        except aiosmtplib.SMTPResponseException as error:
            return SendResult(
                False,
                message_id,
                recipients,
                error=f"the SMTP server answered {error.code}: {error.message}",
                retryable=_temporary([error.code]),
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            return SendResult(False, message_id, recipients, error=f"{type(error).__name__}: {error}", retryable=True)
        if refused:
            log.warning("email partly refused: %s", ", ".join(refused))
        return SendResult(True, message_id, tuple(r for r in recipients if r not in refused))


def _temporary(codes: Sequence[int]) -> bool:
    return any(400 <= code < 500 for code in codes)


def _domain(sender: str) -> str | None:
    address = email.utils.parseaddr(sender)[1]
    return address.rsplit("@", 1)[1] if "@" in address else None
