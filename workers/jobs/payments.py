"""Collection jobs: one charge attempt of a finalized invoice (services/payments.py), idempotent by its attempt row."""

from __future__ import annotations

import uuid
from typing import Any

from services import payments
from services.billing import runs


async def collect_invoice(ctx: dict[str, Any], organization_id: str, invoice_id: str, attempt: int = 1) -> bool:
    """Charge attempt `attempt` of an invoice; run twice, it charges once (its row and idempotency key are unique)."""
    org = uuid.UUID(organization_id)
    return await payments.collect(
        ctx["db"], ctx["payments"], runs.job_actor(org), uuid.UUID(invoice_id), attempt=attempt
    )
