"""Customers of one organization."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Customer, PortalSession, Subscription
from db.repositories.base import ScopedRepository, contains_pattern
from db.repositories.pagination import Page, paginate


class CustomerRepository(ScopedRepository[Customer]):
    model = Customer

    def _live(self):
        return select(Customer).where(Customer.organization_id == self.organization_id, Customer.deleted_at.is_(None))

    async def by_external_id(self, external_id: str) -> Customer | None:
        return await self.session.scalar(self._live().where(Customer.external_id == external_id))

    async def by_external_ids(self, external_ids: Iterable[str]) -> dict[str, Customer]:
        rows = await self.session.scalars(self._live().where(Customer.external_id.in_(list(external_ids))))
        return {c.external_id: c for c in rows}

    async def external_ids(self, ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, str]]:
        """(id, external id) of these customers, in the order given (unknown ids keep their id as name)."""
        rows = await self.session.execute(
            select(Customer.id, Customer.external_id).where(
                Customer.organization_id == self.organization_id, Customer.id.in_(list(ids))
            )
        )
        names: dict[uuid.UUID, str] = {customer_id: external_id for customer_id, external_id in rows}
        return [(i, names.get(i, str(i))) for i in ids]

    async def has_subscriptions(self, customer_id: uuid.UUID) -> bool:
        return bool(
            await self.session.scalar(
                select(
                    exists().where(
                        Subscription.customer_id == customer_id, Subscription.organization_id == self.organization_id
                    )
                )
            )
        )

    async def list(self, *, first: int | None, after: str | None, search: str | None) -> Page[Customer]:
        stmt = self._live()
        if search:
            pattern = contains_pattern(search)
            stmt = stmt.where(
                or_(
                    Customer.name.ilike(pattern),
                    Customer.external_id.ilike(pattern),
                    Customer.email.ilike(pattern),
                    Customer.legal_name.ilike(pattern),
                )
            )
        return await paginate(self.session, stmt, (Customer.created_at, Customer.id), first=first, after=after)


class PortalSessionRepository(ScopedRepository[PortalSession]):
    """Customer portal sessions of one organization."""

    model = PortalSession

    async def list_of_customer(
        self, customer_external_id: str, *, first: int | None, after: str | None, with_total: bool = True
    ) -> Page[PortalSession]:
        """A live customer's portal sessions, newest first (none for an unknown or deleted customer)."""
        customer = select(Customer.id).where(
            Customer.organization_id == self.organization_id,
            Customer.external_id == customer_external_id,
            Customer.deleted_at.is_(None),
        )
        stmt = self._scoped().where(PortalSession.customer_id.in_(customer))
        return await paginate(
            self.session, stmt, (PortalSession.created_at, PortalSession.id),
            first=first, after=after, descending=True, with_total=with_total,
        )


async def find_portal_session_by_hash(session: AsyncSession, token_hash: str) -> tuple[PortalSession, Customer] | None:
    """The one unscoped read of portal sessions: a token's hash tells its organization; with its customer (live)."""
    row = (
        await session.execute(
            select(PortalSession, Customer)
            .join(Customer, Customer.id == PortalSession.customer_id)
            .where(PortalSession.token_hash == token_hash, Customer.deleted_at.is_(None))
        )
    ).first()
    return (row[0], row[1]) if row else None
