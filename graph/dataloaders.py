"""Batch loaders for relations, so that a list of N objects costs one query per relation, not N."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from strawberry.dataloader import DataLoader

from db.models import Customer, Organization, Payment, PaymentAttempt, PaymentMethod, Subscription
from db.repositories.organizations import OrganizationRepository, StaffSecondFactorRepository
from db.repositories.payments import PaymentRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.test_clocks import TestClockRepository
from db.session import Database
from domain.payments import PaymentProvider
from services import payment_setup


class Loaders:
    """One set per request, scoped to the caller's organization."""

    def __init__(self, db: Database, organization_id: uuid.UUID) -> None:
        self.db = db
        self.organization_id = organization_id
        self.subscriptions_of_customer = DataLoader(load_fn=self._subscriptions_of_customers)
        self.organization = DataLoader(load_fn=self._organizations)
        self.test_clock_time = DataLoader(load_fn=self._test_clock_times)
        self.payments_of_invoice = DataLoader(load_fn=self._payments_of_invoices)
        self.attempts_of_invoice = DataLoader(load_fn=self._attempts_of_invoices)
        self.payment_methods_of_customer = DataLoader(load_fn=self._methods_of_customers)
        self.second_factor_on = DataLoader(load_fn=self._second_factors_on)
        # Keyed by organization (only the caller's): every portal session of a list shares one read.
        self.hosted_setup_providers = DataLoader(load_fn=self._hosted_setup_providers)

    async def _subscriptions_of_customers(self, ids: Sequence[uuid.UUID]) -> list[list[Subscription]]:
        async with self.db.read() as session:
            grouped = await SubscriptionRepository(session, self.organization_id).of_customers(ids)
        return [grouped.get(i, []) for i in ids]

    async def _organizations(self, ids: Sequence[uuid.UUID]) -> list[Organization | None]:
        async with self.db.read() as session:
            repo = OrganizationRepository(session)
            return [await repo.get(i) if i == self.organization_id else None for i in ids]

    async def _test_clock_times(self, ids: Sequence[uuid.UUID]) -> list[datetime | None]:
        async with self.db.read() as session:
            repo = TestClockRepository(session, self.organization_id)
            return [await repo.frozen_time(i) for i in ids]

    async def _payments_of_invoices(self, ids: Sequence[uuid.UUID]) -> list[list[Payment]]:
        async with self.db.read() as session:
            grouped = await PaymentRepository(session, self.organization_id).payments_of_invoices(ids)
        return [grouped.get(i, []) for i in ids]

    async def _attempts_of_invoices(self, ids: Sequence[uuid.UUID]) -> list[list[PaymentAttempt]]:
        async with self.db.read() as session:
            grouped = await PaymentRepository(session, self.organization_id).attempts_of_invoices(ids)
        return [grouped.get(i, []) for i in ids]

    async def _methods_of_customers(self, ids: Sequence[uuid.UUID]) -> list[list[PaymentMethod]]:
        async with self.db.read() as session:
            grouped = await PaymentRepository(session, self.organization_id).methods_of_customers(ids)
        return [grouped.get(i, []) for i in ids]

    async def _second_factors_on(self, ids: Sequence[uuid.UUID]) -> list[bool]:
        async with self.db.read() as session:
            on = await StaffSecondFactorRepository(session, self.organization_id).users_with_factor_on(ids)
        return [i in on for i in ids]

    async def _hosted_setup_providers(self, ids: Sequence[uuid.UUID]) -> list[list[PaymentProvider]]:
        async with self.db.read() as session:
            found = await payment_setup.hosted_providers(session, self.organization_id)
        return [found if i == self.organization_id else [] for i in ids]


async def customer_now(info: Any, customer: Customer) -> datetime:
    """The time a customer's fields are read at: its test clock's (once per request), or the request's clock."""
    now = info.context.clock.now()
    if customer.test_clock_id is None:
        return now
    return await info.context.loaders.test_clock_time.load(customer.test_clock_id) or now
