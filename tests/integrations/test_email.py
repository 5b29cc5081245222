"""Email over SMTP, received by a real local aiosmtpd server in the test's own event loop."""

from __future__ import annotations

import asyncio
import logging
import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from integrations.email import Attachment, InvalidSmtpUrl, Mailer, OutgoingEmail, SmtpSettings, build_message

PDF = b"%PDF-1.4\n% a tiny invoice\n%%EOF\n"


class Sink:
    """An SMTP handler that keeps what it is given; recipients in `refuse` get `refusal`."""

    def __init__(self) -> None:
        self.envelopes: list = []
        self.refuse: set[str] = set()
        self.refusal = "550 5.1.1 no such mailbox"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"billing", b"p@ss word")
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture
async def smtp():
    sink = Sink()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="mail.acme.test", authenticator=authenticator, auth_require_tls=False),
        "127.0.0.1",
        0,
    )
    sink.port = server.sockets[0].getsockname()[1]
    yield sink
    server.close()
    await server.wait_closed()


def invoice_email(**changes) -> OutgoingEmail:
    fields = {
        "to": ["ap@globex.test"],
        "subject": "Invoice VV-2025-0042 from Acme",
        "text": "Your invoice is attached. Pay at https://billing.acme.test/pay/inv_42",
        "html": '<p>Your invoice is attached. <a href="https://billing.acme.test/pay/inv_42">Pay now</a></p>',
        "attachments": [Attachment("VV-2025-0042.pdf", PDF)],
        "headers": {"X-ValueVerse-Invoice": "VV-2025-0042"},
    }
    return OutgoingEmail(**{**fields, **changes})


async def test_message_arrives_with_text_html_and_attachment(smtp):
    mailer = Mailer(f"smtp://127.0.0.1:{smtp.port}", "Acme Billing <billing@acme.test>")
    result = await mailer.send(invoice_email())
    assert (result.sent, result.recipients, result.error) == (True, ("ap@globex.test",), None)
    envelope = smtp.envelopes[0]
    assert (envelope.mail_from, envelope.rcpt_tos) == ("billing@acme.test", ["ap@globex.test"])
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received["Subject"] == "Invoice VV-2025-0042 from Acme"
    assert received["From"] == "Acme Billing <billing@acme.test>"
    assert received["Message-ID"] == result.message_id and result.message_id.endswith("@acme.test>")
    assert received["X-ValueVerse-Invoice"] == "VV-2025-0042"
    assert "https://billing.acme.test/pay/inv_42" in received.get_body(("plain",)).get_content()
    assert 'href="https://billing.acme.test/pay/inv_42"' in received.get_body(("html",)).get_content()
    (attached,) = list(received.iter_attachments())
    assert (attached.get_filename(), attached.get_content_type(), attached.get_content()) == (
        "VV-2025-0042.pdf",
        "application/pdf",
        PDF,
    )


async def test_login_with_url_encoded_credentials(smtp):
    mailer = Mailer(f"smtp://billing:p%40ss%20word@127.0.0.1:{smtp.port}", "billing@acme.test")
    assert (await mailer.send(invoice_email(html=None, attachments=[]))).sent
    wrong = Mailer(f"smtp://billing:guess@127.0.0.1:{smtp.port}", "billing@acme.test")
    result = await wrong.send(invoice_email())
    assert (result.sent, result.retryable) == (False, False) and "535" in result.error
    assert len(smtp.envelopes) == 1


async def test_refused_recipients(smtp):
    mailer = Mailer(f"smtp://127.0.0.1:{smtp.port}", "billing@acme.test")
    smtp.refuse = {"gone@globex.test"}
    partly = await mailer.send(invoice_email(to=["ap@globex.test", "gone@globex.test"]))
    assert (partly.sent, partly.recipients) == (True, ("ap@globex.test",))
    permanent = await mailer.send(invoice_email(to=["gone@globex.test"]))
    assert (permanent.sent, permanent.retryable) == (False, False)
    smtp.refusal = "451 4.3.0 try again later"
    temporary = await mailer.send(invoice_email(to=["gone@globex.test"]))
    assert (temporary.sent, temporary.retryable) == (False, True)


async def test_unreachable_server_is_a_retryable_result():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await Mailer(f"smtp://127.0.0.1:{port}?timeout=2", "billing@acme.test").send(invoice_email())
    assert (result.sent, result.retryable) == (False, True) and result.error


async def test_required_starttls_is_not_skipped(smtp):
    result = await Mailer(f"smtp://127.0.0.1:{smtp.port}?starttls=require", "billing@acme.test").send(invoice_email())
    assert not result.sent and smtp.envelopes == []


async def test_without_smtp_url_the_message_is_logged_not_sent(caplog):
    with caplog.at_level(logging.INFO, logger="valueverse.email"):
        result = await Mailer(None, "billing@acme.test").send(invoice_email())
    assert (result.sent, result.logged_only) == (False, True)
    logged = caplog.text
    assert "Invoice VV-2025-0042 from Acme" in logged and "ap@globex.test" in logged
    assert "Pay at" not in logged


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.acme.test", SmtpSettings("mail.acme.test", 25)),
        (
            "smtp://u%40x:s%3Ae@mail.acme.test:587?starttls=require&timeout=5",
            SmtpSettings("mail.acme.test", 587, "u@x", "s:e", start_tls=True, timeout=5),
        ),
        ("smtps://mail.acme.test", SmtpSettings("mail.acme.test", 465, use_tls=True, start_tls=False)),
        (
            "smtp://127.0.0.1:2525?starttls=off&verify=false",
            SmtpSettings("127.0.0.1", 2525, start_tls=False, validate_certs=False),
        ),
    ],
)
def test_smtp_url_settings(url, expected):
    assert SmtpSettings.from_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.acme.test",
        "smtp://",
        "smtp://mail:99999",
        "smtp://m?starttls=maybe",
        "smtp://m?timeout=x",
        "smtp://m?foo=1",
    ],
)
def test_bad_smtp_urls_are_refused_at_start(url):
    with pytest.raises(InvalidSmtpUrl):
        Mailer(url, "billing@acme.test")


def test_headers_cannot_be_injected():
    with pytest.raises(ValueError):
        build_message(invoice_email(subject="Hi\r\nBcc: everyone@evil.test"), sender="billing@acme.test")
