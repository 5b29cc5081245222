"""The organization's owners and admins are told by email when a webhook endpoint is disabled: the job the
disabling queues, its SMTP exchange with a local aiosmtpd server (recipients, subject, links), sent once."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.fakes.receiver import WebhookReceiver
from tests.graph import test_dunning_emails
from tests.graph.catalog_helpers import customer, uid
from tests.graph.test_dunning_emails import PUBLIC, body, ctx_for, received
from tests.graph.test_webhooks import ENDPOINTS, endpoint, settled
from workers.jobs.webhooks import send_staff_email

smtp = test_dunning_emails.smtp  # the local aiosmtpd server (a fixture)

STAFF = """mutation($email: String!, $role: Role!) { createStaffUser(input: {email: $email,
  password: "correct horse battery staple", role: $role}) { staffUser { id } userErrors { code message } } }"""


async def queued_key(stack, endpoint_id: str) -> str:
    """The key of the staff email the disabling queued (its arq job or result, by its deterministic id)."""
    client = aioredis.from_url(stack.redis_url)
    try:
        pattern = f"arq:*email:webhook_endpoint_disabled:{endpoint_id}:*"
        keys = [k.decode() async for k in client.scan_iter(match=pattern)]
    finally:
        await client.aclose()
    assert keys, "no staff email was queued"
    return keys[0].split("email:", 1)[1]


async def test_a_disabled_endpoint_is_told_to_the_owners_and_admins_once(tenant, stack, smtp, operator_db):
    api = tenant.api
    for email, role in [("ops@acme.test", "ADMIN"), ("books@acme.test", "FINANCE")]:
        made = (await api(STAFF, email=email, role=role))["createStaffUser"]
        assert made["userErrors"] == [], made
    async with WebhookReceiver(status=410, reply=b"gone") as gone:
        endpoint_id, _ = await endpoint(api, gone.url, ["customer.created"])
        await customer(api, uid("gone"))
        await settled(api, endpoint_id, 1)
    assert (await api(ENDPOINTS))["webhookEndpoints"]["nodes"][0]["enabled"] is False
    key = await queued_key(stack, endpoint_id)

    ctx = ctx_for(smtp, operator_db)
    assert await send_staff_email(ctx, tenant.organization_id, key) is True
    [message] = received(smtp)
    assert "ops@acme.test" in message["To"] and "books@acme.test" not in message["To"]  # admins, not finance
    assert message["Subject"].startswith("A webhook endpoint of ") and message["Subject"].endswith(" was disabled")
    text = body(message, "plain")
    assert gone.url in text and "410" in text
    assert f"{PUBLIC}/admin/webhook?id={endpoint_id}" in text
    assert f'href="{PUBLIC}/admin/webhook?id={endpoint_id}"' in body(message, "html")
    # The job run again (a retry, a second dispatch) sends nothing more.
    assert await send_staff_email(ctx, tenant.organization_id, key) is False
    assert len(smtp.envelopes) == 1
