"""Progressive billing jobs: a threshold check per customer, and the 5-minute scan that queues them."""

from __future__ import annotations

import uuid
from typing import Any

from db.repositories.organizations import all_organization_ids
from db.repositories.subscriptions import SubscriptionRepository
from integrations.jobs import QUEUE_NAME
from services.billing import progressive, runs


async def check_usage_thresholds(ctx: dict[str, Any], organization_id: str, customer_id: str) -> int:
    """Progressive billing for one customer: an interim invoice per threshold reached (idempotent)."""
    org = uuid.UUID(organization_id)
    async with ctx["db"].unit_of_work() as uow:
        invoices = await progressive.check_usage_thresholds(
            uow, runs.job_actor(org), uuid.UUID(customer_id), ctx["clock"].now()
        )
    return len(invoices)


async def scan_usage_thresholds(ctx: dict[str, Any]) -> int:
    """Every 5 minutes: one threshold check per customer whose plan can make interim invoices."""
    slot = ctx["clock"].now().replace(second=0, microsecond=0)
    async with ctx["db"].read() as session:
        targets = [
            (org, customer)
            for org in await all_organization_ids(session)
            for customer in await SubscriptionRepository(session, org).customers_with_interim_billing(slot)
        ]
    queued = 0
    for org, customer in targets:
        job = await ctx["redis"].enqueue_job(
            "check_usage_thresholds",
            str(org),
            str(customer),
            _job_id=f"check_usage_thresholds:{customer}:{slot:%Y%m%d%H%M}",
            _queue_name=QUEUE_NAME,
        )
        queued += job is not None
    return queued
