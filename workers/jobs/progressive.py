"""Progressive billing jobs: a threshold check per customer (interim invoices, then the customer's usage alerts),
and the 5-minute scan that queues them."""

from __future__ import annotations

import uuid
from typing import Any

from db.repositories.alerts import UsageAlertRepository
from db.repositories.organizations import all_organization_ids
from db.repositories.subscriptions import SubscriptionRepository
from integrations.jobs import QUEUE_NAME
from services import usage_alerts
from services.billing import progressive, runs


async def check_usage_thresholds(ctx: dict[str, Any], organization_id: str, customer_id: str) -> int:
    """Progressive billing for one customer: an interim invoice per threshold reached, then its usage alerts
    (each fires once per period); idempotent. Returns the invoices and firings made."""
    org, customer = uuid.UUID(organization_id), uuid.UUID(customer_id)
    now = ctx["clock"].now()
    async with ctx["db"].unit_of_work() as uow:
        invoices = await progressive.check_usage_thresholds(uow, runs.job_actor(org), customer, now)
    async with ctx["db"].unit_of_work() as uow:
        fired = await usage_alerts.check_usage_alerts(uow, runs.job_actor(org), customer, now)
    return len(invoices) + len(fired)


async def scan_usage_thresholds(ctx: dict[str, Any]) -> int:
    """Every 5 minutes: one threshold check per customer whose plan can make interim invoices or who has a
    usage alert."""
    slot = ctx["clock"].now().replace(second=0, microsecond=0)
    targets: list[tuple[uuid.UUID, uuid.UUID]] = []
    async with ctx["db"].read() as session:
        for org in await all_organization_ids(session):
            interim = await SubscriptionRepository(session, org).customers_with_interim_billing(slot)
            alerted = await UsageAlertRepository(session, org).customers_with_alerts()
            targets.extend((org, customer) for customer in dict.fromkeys([*interim, *alerted]))
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
