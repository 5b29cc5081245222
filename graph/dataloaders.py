"""Batch loaders for relations, so that a list of N objects costs one query per relation, not N."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from db.models import Organization, Subscription
from db.repositories.organizations import OrganizationRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.session import Database


class Loaders:
    """One set per request, scoped to the caller's organization."""

    def __init__(self, db: Database, organization_id: uuid.UUID) -> None:
        self.db = db
        self.organization_id = organization_id
        self.subscriptions_of_customer = DataLoader(load_fn=self._subscriptions_of_customers)
        self.organization = DataLoader(load_fn=self._organizations)

    async def _subscriptions_of_customers(self, ids: Sequence[uuid.UUID]) -> list[list[Subscription]]:
        async with self.db.read() as session:
            grouped = await SubscriptionRepository(session, self.organization_id).of_customers(ids)
        return [grouped.get(i, []) for i in ids]

    async def _organizations(self, ids: Sequence[uuid.UUID]) -> list[Organization | None]:
        async with self.db.read() as session:
            repo = OrganizationRepository(session)
            return [await repo.get(i) if i == self.organization_id else None for i in ids]
