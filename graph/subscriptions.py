"""The Subscription root (named Live: `Subscription` is the billing object)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator

import orjson
import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import PublicError
from graph.permissions import portal_customer, require_role
from graph.types.audit_log import AuditLog
from graph.types.invoice import Invoice
from graph.types.usage import CustomerUsage
from integrations.live import Subscriber, SubscriberLagged
from services import invoice_state, reads
from services.audit import audit_channel
from services.usage import cache, ingestion, rating

# A burst of usage yields one push per window, not one per event.
COALESCE_SECONDS = 0.1


@contextlib.asynccontextmanager
async def _subscribe(info: Info[Context, None], channel: str, *, resync: bool = False) -> AsyncIterator[Subscriber]:
    """The live hub's subscription; a subscriber that fell behind gets a clear error and may subscribe again."""
    try:
        async with info.context.services.broadcast.subscribe(channel, resync=resync) as subscriber:
            yield subscriber
    except SubscriberLagged:
        raise PublicError("this subscription fell too far behind its live updates: subscribe again",
                          "LIVE_UPDATES_LAGGED") from None


async def _usage(info: Info[Context, None], customer: str, subscription: str | None) -> CustomerUsage:
    actor, _ = portal_customer(info, customer)
    async with info.context.db.read() as session:
        try:
            report = await cache.current_usage(
                session, actor.organization_id, customer, subscription, info.context.clock.now()
            )
        except rating.UsageUnavailable as exc:
            raise PublicError(exc.message, exc.code) from None
    return CustomerUsage.of(report)


@strawberry.type(name="Live")
class Live:
    @strawberry.subscription(description="Audit entries as they are committed (FINANCE or stronger).")
    async def audit_trail(self, info: Info[Context, None]) -> AsyncGenerator[AuditLog, None]:
        actor = require_role(info, Role.FINANCE)
        async with _subscribe(info, audit_channel(actor.organization_id)) as subscriber:
            async for event in subscriber:
                entry_id = orjson.loads(event.message)["id"]
                async with info.context.db.read() as session:
                    entry = await reads.audit_entry(session, actor.organization_id, entry_id)
                if entry is not None:
                    yield AuditLog.of(entry)

    @strawberry.subscription(description="Invoices as they are created, finalized, paid or voided; of one customer "
                                         "or of all.")
    async def invoice_updated(self, info: Info[Context, None],
                              customer_external_id: str | None = None) -> AsyncGenerator[Invoice, None]:
        actor, customer_external_id = portal_customer(info, customer_external_id)
        channel = invoice_state.invoice_channel(actor.organization_id, customer_external_id)
        async with _subscribe(info, channel) as subscriber:
            async for event in subscriber:
                invoice_id = uuid.UUID(orjson.loads(event.message)["id"])
                async with info.context.db.read() as session:
                    row = await reads.invoice(session, actor.organization_id, invoice_id)
                    if row is not None:
                        yield Invoice.of(row)

    @strawberry.subscription(description="The customer's current usage: sent once at once, then again after new "
                                         "usage is stored (a burst is coalesced into one push).")
    async def usage_updated(self, info: Info[Context, None], customer_external_id: str,
                            subscription_external_id: str | None = None) -> AsyncGenerator[CustomerUsage, None]:
        actor, _ = portal_customer(info, customer_external_id)
        channel = ingestion.usage_channel(actor.organization_id, customer_external_id)
        # resync: after Redis comes back, usage stored while it was away is pushed without waiting for new events.
        async with _subscribe(info, channel, resync=True) as subscriber:
            yield await _usage(info, customer_external_id, subscription_external_id)
            loop = asyncio.get_running_loop()
            while True:
                await subscriber.get()
                deadline = loop.time() + COALESCE_SECONDS
                while (left := deadline - loop.time()) > 0:
                    try:
                        await asyncio.wait_for(subscriber.get(), timeout=left)
                    except TimeoutError:
                        break
                yield await _usage(info, customer_external_id, subscription_external_id)
