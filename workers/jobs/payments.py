"""Collection jobs: one charge attempt of a finalized invoice (services/payments.py), idempotent by its attempt row;
dunning's retries and final action (services/dunning.py); the customer's emails (services/notifications.py)."""

from __future__ import annotations

import uuid
from typing import Any

from arq.worker import Retry

from services import dunning, notifications, payments, test_clocks
from services.billing import runs

EMAIL_TRIES = 5


async def collect_invoice(ctx: dict[str, Any], organization_id: str, invoice_id: str, attempt: int = 1) -> bool:
    """Charge attempt `attempt` of an invoice; run twice, it charges once (its row and idempotency key are unique).
    A customer on a test clock is charged by the clock's advance, at the clock's time."""
    org = uuid.UUID(organization_id)
    if await test_clocks.invoice_on_test_clock(ctx["db"], org, uuid.UUID(invoice_id)):
        return False
    return await payments.collect(
        ctx["db"], ctx["payments"], runs.job_actor(org), uuid.UUID(invoice_id), attempt=attempt
    )


async def retry_invoice_payment(ctx: dict[str, Any], organization_id: str, invoice_id: str, attempt: int) -> bool:
    """Dunning's retry `attempt` at its planned time: nothing when the invoice was paid, retried by hand, or the job
    already ran (the attempt row and its idempotency key are unique, so it never charges twice)."""
    org, invoice = uuid.UUID(organization_id), uuid.UUID(invoice_id)
    actor = runs.job_actor(org)
    if not await dunning.retry_is_due(ctx["db"], actor, invoice, attempt):
        return False
    return await payments.collect(ctx["db"], ctx["payments"], actor, invoice, attempt=attempt)


async def dunning_final_action(ctx: dict[str, Any], organization_id: str, invoice_id: str) -> bool:
    """The end of a hard decline's window: the campaign's final action unless the invoice was recovered."""
    org = uuid.UUID(organization_id)
    async with ctx["db"].unit_of_work() as uow:
        return await dunning.apply_final_action(uow, runs.job_actor(org), uuid.UUID(invoice_id))


async def send_email(ctx: dict[str, Any], organization_id: str, key: str) -> bool:
    """One customer email, once (its key is noted when sent); a passing SMTP failure is tried again later."""
    config = ctx.get("email")
    if config is None:
        return False
    result = await notifications.send(ctx["db"], config, uuid.UUID(organization_id), key)
    if result is not None and result.error and result.retryable and ctx.get("job_try", 1) < EMAIL_TRIES:
        raise Retry(defer=60 * ctx.get("job_try", 1))
    return bool(result and (result.sent or result.logged_only))
