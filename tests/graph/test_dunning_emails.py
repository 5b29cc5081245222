"""Customer emails of collection and dunning, rendered from their templates and received by a local aiosmtpd
server: recipient, subject, links (PUBLIC_URL based, the provider's 3-D Secure page) and the invoice PDF."""

from __future__ import annotations

import asyncio
import re
from email import message_from_bytes, policy

import pytest
from aiosmtpd.smtp import SMTP

from integrations.email import Mailer
from services.notifications import EmailConfig
from tests.client import TransportQueryError
from tests.graph.test_payments import INVOICE, invoice_of, settled, stripe_tenant
from workers.jobs.payments import send_email

PUBLIC = "https://billing.example.test"


class Sink:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
async def smtp():
    sink = Sink()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(sink, hostname="mail.test"), "127.0.0.1", 0)
    sink.port = server.sockets[0].getsockname()[1]
    yield sink
    server.close()
    await server.wait_closed()


def ctx_for(smtp, db) -> dict:
    mailer = Mailer(f"smtp://127.0.0.1:{smtp.port}?starttls=off", "Acme Billing <billing@acme.test>")
    return {"db": db, "email": EmailConfig(mailer=mailer, public_url=PUBLIC)}


def received(smtp) -> list:
    return [message_from_bytes(e.content, policy=policy.default) for e in smtp.envelopes]


def body(message, subtype: str) -> str:
    return message.get_body(preferencelist=(subtype,)).get_content()


async def test_a_failed_payment_tells_the_customer_with_a_link_to_fix_the_method(tenant, smtp, operator_db):
    await stripe_tenant(tenant, "pm_card_chargeDeclinedInsufficientFunds")
    invoice = await settled(tenant, (await invoice_of(tenant, "50"))["id"])
    shown = await tenant.api("query($id: ID!) { invoice(id: $id) { number } }", id=invoice["id"])
    number = shown["invoice"]["number"]
    ctx = ctx_for(smtp, operator_db)

    assert await send_email(ctx, tenant.organization_id, f"invoice_issued:{invoice['id']}:0") is True
    assert await send_email(ctx, tenant.organization_id, f"payment_failed:{invoice['id']}:1") is True
    # One email per event: the same job run again sends nothing.
    assert await send_email(ctx, tenant.organization_id, f"payment_failed:{invoice['id']}:1") is False
    issued, failed = received(smtp)
    assert [e.rcpt_tos for e in smtp.envelopes] == [["ap@acme.test"], ["ap@acme.test"]]

    assert issued["Subject"] == f"Invoice {number} from Acme Analytics"
    assert issued["From"] == "Acme Billing <billing@acme.test>"
    [pdf] = list(issued.iter_attachments())
    assert pdf.get_content_type() == "application/pdf" and pdf.get_filename() == f"invoice-{number}.pdf"
    assert pdf.get_content().startswith(b"%PDF")
    assert "50.00 USD" in body(issued, "plain") and number in body(issued, "html")

    assert str(failed["Subject"]).strip() == f"Payment failed for invoice {number} from Acme Analytics"
    # A portal link of the customer's own (7 days): it opens the customer's invoices, where the invoice is paid.
    [link] = re.findall(rf"{re.escape(PUBLIC)}/portal/session#vvp_[\w-]+", body(failed, "plain"))
    assert f'href="{link}"' in body(failed, "html")
    token = link.split("#", 1)[1]
    seen = await tenant.api.as_(token)(
        "query($id: ID!) { invoice(id: $id) { id status } portalSession { customer { externalId } expiresAt } }",
        id=invoice["id"],
    )
    assert seen["invoice"] == {"id": invoice["id"], "status": "OPEN"}
    assert seen["portalSession"]["customer"]["externalId"] == "acme"
    assert "insufficient funds" in body(failed, "plain") and "try again" in body(failed, "plain")
    assert list(failed.iter_attachments()) == []


async def test_a_card_that_needs_3d_secure_gets_the_provider_link(test_tenant, smtp, operator_db, stack):
    """Stripe gives a page to authenticate on when the charge names where to come back (PUBLIC_URL); the stack's
    API has none, so the charge is made here with one (a test-clock customer: the worker leaves it alone)."""
    import uuid

    from services import payments
    from services.billing.runs import job_actor
    from tests.graph.test_dunning import clock_customer
    from valueverse.settings import Settings

    api = test_tenant.api
    _clock, who, _sub, _key = await clock_customer(test_tenant, "pm_card_authenticationRequired")
    opened = await invoice_of(test_tenant, "50", external_id=who)
    config = Settings(secret_key=stack.secret_key, stripe_api_base=stack.stripe_url, public_url=PUBLIC).payment_config()
    org = uuid.UUID(test_tenant.organization_id)
    assert await payments.collect(operator_db, config, job_actor(org), uuid.UUID(opened["id"]), attempt=1)
    shown = await api("query($id: ID!) { invoice(id: $id) { paymentAttempts { status } } }", id=opened["id"])
    assert [a["status"] for a in shown["invoice"]["paymentAttempts"]] == ["REQUIRES_ACTION"]

    ctx = ctx_for(smtp, operator_db)
    assert await send_email(ctx, test_tenant.organization_id, f"action_required:{opened['id']}:1") is True
    [message] = received(smtp)
    assert str(message["Subject"]).strip().startswith("Confirm your payment for invoice")
    assert smtp.envelopes[0].rcpt_tos == ["ap@example.test"]
    text = body(message, "plain")
    assert "3-D Secure" in text
    assert f"{stack.stripe_url}/3ds/pi_" in text and f'href="{stack.stripe_url}/3ds/pi_' in body(message, "html")


async def test_a_paid_invoice_sends_a_receipt(tenant, smtp, operator_db):
    await stripe_tenant(tenant, "pm_card_visa")
    invoice = await settled(tenant, (await invoice_of(tenant, "20"))["id"])
    assert (await tenant.api(INVOICE, id=invoice["id"]))["invoice"]["status"] == "PAID"
    ctx = ctx_for(smtp, operator_db)
    assert await send_email(ctx, tenant.organization_id, f"payment_receipt:{invoice['id']}:0") is True
    [message] = received(smtp)
    assert str(message["Subject"]).strip().startswith("Receipt for invoice") and "20.00 USD" in body(message, "plain")


async def test_without_smtp_url_an_email_is_logged_not_sent(tenant, operator_db, caplog):
    await stripe_tenant(tenant, "pm_card_visa")
    invoice = await settled(tenant, (await invoice_of(tenant, "20"))["id"])
    ctx = {"db": operator_db, "email": EmailConfig(mailer=Mailer(None, "billing@acme.test"), public_url=PUBLIC)}
    with caplog.at_level("INFO", logger="valueverse.email"):
        assert await send_email(ctx, tenant.organization_id, f"payment_receipt:{invoice['id']}:0") is True
    assert any("email not sent (no SMTP_URL)" in r.getMessage() and "ap@acme.test" in r.getMessage()
               for r in caplog.records)


RESEND = """mutation($id: ID!) { resendInvoiceEmail(input: {invoiceId: $id}) {
  invoice { id status } userErrors { field code message } } }"""


async def queued_or_done(stack, job_id: str, within: float = 10.0) -> bool:
    """Whether arq holds the job (queued, or its result once the stack's worker ran it)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(stack.redis_url)
    try:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            if await redis.exists(f"arq:job:{job_id}", f"arq:result:{job_id}"):
                return True
            await asyncio.sleep(0.1)
        return False
    finally:
        await redis.aclose()


async def test_staff_resend_the_invoice_email_with_its_pdf_each_time_a_new_email(tenant, smtp, operator_db, stack):
    from tests.graph.catalog_helpers import customer

    await customer(tenant.api, "acme", currency="USD", email="ap@acme.test")
    invoice = await invoice_of(tenant, "35")
    number = (await tenant.api("query($id: ID!) { invoice(id: $id) { number } }", id=invoice["id"]))["invoice"][
        "number"
    ]
    for resend in (1, 2):
        answer = (await tenant.api(RESEND, id=invoice["id"]))["resendInvoiceEmail"]
        assert answer == {"invoice": {"id": invoice["id"], "status": "OPEN"}, "userErrors": []}
        assert await queued_or_done(stack, f"email:invoice_issued:{invoice['id']}:{resend}")

    ctx = ctx_for(smtp, operator_db)
    assert await send_email(ctx, tenant.organization_id, f"invoice_issued:{invoice['id']}:1") is True
    assert await send_email(ctx, tenant.organization_id, f"invoice_issued:{invoice['id']}:2") is True
    first, second = received(smtp)
    for message in (first, second):
        assert message["Subject"] == f"Invoice {number} from Acme Analytics"
        [pdf] = list(message.iter_attachments())
        assert pdf.get_filename() == f"invoice-{number}.pdf" and pdf.get_content().startswith(b"%PDF")
    entries = await tenant.api(
        'query($id: String!) { auditLogs(action: "invoice.email_resent", targetId: $id) { nodes { after } } }',
        id=invoice["id"],
    )
    assert [e["after"]["resend"] for e in entries["auditLogs"]["nodes"]] == [2, 1]


async def test_a_void_draft_or_unaddressed_invoice_is_not_sent_again_and_viewers_may_not(tenant):
    from datetime import UTC, datetime, timedelta

    from tests.graph.catalog_helpers import customer, plan, subscribe, uid

    api = tenant.api
    await customer(api, "acme", currency="USD", email="ap@acme.test")
    voided = await invoice_of(tenant, "10")
    await api("mutation($id: ID!) { voidInvoice(input: {id: $id}) { userErrors { code } } }", id=voided["id"])
    answer = (await api(RESEND, id=voided["id"]))["resendInvoiceEmail"]
    assert answer["invoice"] is None
    assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [(["input", "invoiceId"], "INVOICE_VOID")]

    await api("mutation { updateOrganization(input: {invoiceGracePeriodDays: 3}) { userErrors { code } } }")
    plan_code = uid("monthly")
    await plan(api, plan_code, [], amount="30")
    started = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    await subscribe(api, "acme", plan_code, uid("sub"), startedAt=started)
    run = await api("mutation { runBilling(input: {}) { invoices { id status } userErrors { code } } }")
    [draft] = [i for i in run["runBilling"]["invoices"] if i["status"] == "DRAFT"][:1]
    answer = (await api(RESEND, id=draft["id"]))["resendInvoiceEmail"]
    assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [(["input", "invoiceId"], "INVOICE_NOT_ISSUED")]

    await customer(api, "mute", currency="USD")  # no email address
    silent = await invoice_of(tenant, "10", external_id="mute")
    answer = (await api(RESEND, id=silent["id"]))["resendInvoiceEmail"]
    assert [e["code"] for e in answer["userErrors"]] == ["CUSTOMER_HAS_NO_EMAIL"]

    answer = (await api(RESEND, id="not-an-id"))["resendInvoiceEmail"]
    assert [e["code"] for e in answer["userErrors"]] == ["INVALID_ID"]

    created = await api('mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret } }')
    with pytest.raises(TransportQueryError) as refused:
        await api.as_(created["createApiKey"]["secret"])(RESEND, id=voided["id"])
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
