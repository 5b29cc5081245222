"""Webhook endpoints, events and deliveries of one organization, and the due deliveries of every one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from db.repositories.base import ScopedRepository
from db.repositories.pagination import Page, paginate


class WebhookEndpointRepository(ScopedRepository[WebhookEndpoint]):
    model = WebhookEndpoint

    async def list(self, *, first: int | None, after: str | None, with_total: bool = True) -> Page[WebhookEndpoint]:
        return await paginate(
            self.session, self._scoped(), (WebhookEndpoint.created_at, WebhookEndpoint.id),
            first=first, after=after, with_total=with_total,
        )

    async def subscribed(self, event_types: Sequence[str]) -> Sequence[WebhookEndpoint]:
        """The enabled endpoints that want any of these event types."""
        stmt = self._scoped().where(
            WebhookEndpoint.enabled.is_(True), WebhookEndpoint.event_types.overlap(list(event_types))
        )
        return list(await self.session.scalars(stmt.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)))


class WebhookDeliveryRepository(ScopedRepository[WebhookDelivery]):
    model = WebhookDelivery

    async def list(
        self,
        *,
        first: int | None,
        after: str | None,
        endpoint_id: uuid.UUID | None = None,
        event_type: str | None = None,
        with_total: bool = True,
    ) -> Page[WebhookDelivery]:
        """Newest first."""
        stmt = self._scoped()
        if endpoint_id is not None:
            stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
        if event_type is not None:
            stmt = stmt.where(WebhookDelivery.event_type == event_type)
        return await paginate(
            self.session, stmt, (WebhookDelivery.created_at, WebhookDelivery.id),
            first=first, after=after, descending=True, with_total=with_total,
        )

    async def last_attempt(self, endpoint_id: uuid.UUID, event_id: str) -> int:
        stmt = select(WebhookDelivery.attempt).where(
            WebhookDelivery.organization_id == self.organization_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.event_id == event_id,
        )
        return max(await self.session.scalars(stmt), default=0)


async def add_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(WebhookEvent).values(list(rows)).on_conflict_do_nothing())


async def add_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert attempts; an (endpoint, event, attempt) that exists already is left as it is. The new ids."""
    if not rows:
        return []
    stmt = insert(WebhookDelivery).values(list(rows)).on_conflict_do_nothing().returning(WebhookDelivery.id)
    return list((await session.execute(stmt)).scalars())


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    stale_before: datetime,
    limit: int,
    ids: Sequence[uuid.UUID] | None = None,
    organization_id: uuid.UUID | None = None,
    test_clock_id: uuid.UUID | None = None,
) -> list[WebhookDelivery]:
    """Take up to `limit` due attempts (PENDING and due, or SENDING since before `stale_before`: its worker died),
    marking them SENDING, so that no two workers send the same attempt. Attempts of a test clock are due by its
    time: taken only when `test_clock_id` names it, and then only its own."""
    due = or_(
        (WebhookDelivery.status == "PENDING") & (WebhookDelivery.next_attempt_at <= now),
        (WebhookDelivery.status == "SENDING") & (WebhookDelivery.claimed_at < stale_before),
    )
    pick = select(WebhookDelivery.id).where(due)
    if test_clock_id is None:
        pick = pick.where(WebhookDelivery.test_clock_id.is_(None))
    else:
        pick = pick.where(WebhookDelivery.test_clock_id == test_clock_id)
    if ids is not None:
        pick = pick.where(WebhookDelivery.id.in_(list(ids)))
    if organization_id is not None:
        pick = pick.where(WebhookDelivery.organization_id == organization_id)
    pick = pick.order_by(WebhookDelivery.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
    stmt = (
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(pick.scalar_subquery()))
        .values(status="SENDING", claimed_at=now)
        .returning(WebhookDelivery)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars())
