"""Subscriptions (with their phases) of one organization."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import joinedload

from db import driver_sql
from db.driver_sql import Plain
from db.models import Charge, Customer, Plan, Subscription, SubscriptionPhase
from db.repositories.base import ScopedRepository
from db.repositories.pagination import Page, paginate
from db.session import driver_connection


class SubscriptionRepository(ScopedRepository[Subscription]):
    model = Subscription

    async def add(self, subscription: Subscription) -> Subscription:
        subscription.organization_id = self.organization_id
        for phase in subscription.phases:
            phase.organization_id = self.organization_id
        self.session.add(subscription)
        await self.session.flush()
        return subscription

    async def add_phase(self, subscription: Subscription, phase: SubscriptionPhase) -> SubscriptionPhase:
        phase.organization_id = self.organization_id
        subscription.phases.append(phase)
        await self.session.flush()
        return phase

    async def remove_phase(self, subscription: Subscription, phase: SubscriptionPhase) -> None:
        subscription.phases.remove(phase)
        await self.session.flush()

    async def by_external_id(self, external_id: str, *, for_update: bool = False) -> Subscription | None:
        stmt = self._scoped().where(Subscription.external_id == external_id)
        if for_update:
            stmt = stmt.with_for_update(of=Subscription)
        return await self.session.scalar(stmt)

    async def by_external_ids(self, external_ids: Iterable[str]) -> dict[str, Subscription]:
        rows = await self.session.scalars(self._scoped().where(Subscription.external_id.in_(list(external_ids))))
        return {s.external_id: s for s in rows}

    async def of_customer(self, customer_id: uuid.UUID) -> list[Subscription]:
        rows = await self.session.scalars(
            self._scoped().where(Subscription.customer_id == customer_id).order_by(Subscription.started_at)
        )
        return list(rows)

    async def of_customer_with_plans(self, customer_id: uuid.UUID) -> list[Subscription]:
        """`of_customer` in one round trip: phases, their plans and the plans' charges joined in (a customer's
        usage view reads all of them; a batch of customers is better served by `of_customers`' separate reads)."""
        rows = await self.session.scalars(
            self._scoped()
            .where(Subscription.customer_id == customer_id)
            .options(joinedload(Subscription.phases).joinedload(SubscriptionPhase.plan).joinedload(Plan.charges))
            .order_by(Subscription.started_at)
        )
        return list(rows.unique())

    async def of_customer_with_kept_plans(
        self, customer_external_id: str, plan_of: Callable[[uuid.UUID], Awaitable[Plan]]
    ) -> list[Any]:
        """The subscriptions of the customer (not deleted) with this external id, each with its customer and phases in
        one statement, as plain read-only objects with the attributes of their rows (`subscription.customer`,
        `subscription.phases` by start, `phase.plan`): no ORM objects are made, the statement is sent as it is
        (db/driver_sql.py). The phases' plans are `plan_of(plan_id)`'s, plans the caller keeps, not read again.
        Empty when the customer has no subscription or does not exist (the caller reads the customer to tell
        which)."""
        rows = await driver_sql.fetch(await driver_connection(self.session), "subscriptions of a customer",
                                      _subscriptions_of_customer, org=self.organization_id,
                                      customer=customer_external_id)
        subscriptions: dict[uuid.UUID, Any] = {}
        customer = None
        for row in rows:
            subscription = subscriptions.get(row["id"])
            if subscription is None:
                if customer is None:
                    customer = Plain({attr: row[f"customer__{key}"] for key, attr in _CUSTOMER_ATTRS})
                subscription = subscriptions[row["id"]] = Plain({attr: row[key] for key, attr in _SUBSCRIPTION_ATTRS})
                subscription.customer = customer
                subscription.phases = []
            if row["phase__id"] is not None:
                phase = Plain({attr: row[f"phase__{key}"] for key, attr in _PHASE_ATTRS})
                phase.plan = await plan_of(phase.plan_id)
                subscription.phases.append(phase)
        return list(subscriptions.values())

    async def of_customers(self, customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Subscription]]:
        rows = await self.session.scalars(
            self._scoped().where(Subscription.customer_id.in_(list(customer_ids))).order_by(Subscription.started_at)
        )
        grouped: dict[uuid.UUID, list[Subscription]] = {}
        for row in rows:
            grouped.setdefault(row.customer_id, []).append(row)
        return grouped

    async def list(
        self, *, first: int | None, after: str | None, customer_external_id: str | None = None
    ) -> Page[Subscription]:
        stmt = self._scoped()
        if customer_external_id is not None:
            stmt = stmt.join(Customer, Customer.id == Subscription.customer_id).where(
                Customer.external_id == customer_external_id, Customer.deleted_at.is_(None)
            )
        return await paginate(self.session, stmt, (Subscription.created_at, Subscription.id), first=first, after=after)

    async def customers_with_interim_billing(
        self, now: datetime, test_clock_id: uuid.UUID | None = None
    ) -> builtins.list[uuid.UUID]:
        """Customers with a subscription not ended by `now` on a plan (in any phase) with usage
        thresholds or a charge paid in advance: the only ones that can get an interim invoice.

        Customers on a test clock are not among them (their scans run when their clock is advanced), unless
        `test_clock_id` asks for that clock's customers."""
        interim = or_(
            func.jsonb_array_length(Plan.usage_thresholds) > 0,
            select(Charge.id).where(Charge.plan_id == Plan.id, Charge.pay_in_advance.is_(True)).exists(),
        )
        rows = await self.session.scalars(
            select(Subscription.customer_id)
            .join(SubscriptionPhase, SubscriptionPhase.subscription_id == Subscription.id)
            .join(Plan, Plan.id == SubscriptionPhase.plan_id)
            .where(
                Subscription.organization_id == self.organization_id,
                Subscription.terminated_at.is_(None),
                or_(Subscription.ending_at.is_(None), Subscription.ending_at > now),
                interim,
                Subscription.customer_id.in_(_on_clock(self.organization_id, test_clock_id)),
            )
            .distinct()
        )
        return list(rows)

    async def customers_with_subscriptions(
        self, test_clock_id: uuid.UUID | None = None
    ) -> builtins.list[tuple[uuid.UUID, str]]:  # (builtins: the class has a method named list)
        """(id, external id) of every customer that has or had a subscription, oldest first: those on real time,
        or those on the test clock `test_clock_id` (a test clock's customers are billed when it is advanced)."""
        clock = Customer.test_clock_id.is_(None) if test_clock_id is None else Customer.test_clock_id == test_clock_id
        rows = await self.session.execute(
            select(Customer.id, Customer.external_id)
            .where(
                Customer.organization_id == self.organization_id,
                clock,
                Customer.id.in_(
                    select(Subscription.customer_id).where(Subscription.organization_id == self.organization_id)
                ),
            )
            .order_by(Customer.created_at)
        )
        return [(customer_id, external_id) for customer_id, external_id in rows]


def _on_clock(organization_id: uuid.UUID, test_clock_id: uuid.UUID | None):
    """The organization's customers on real time (no test clock), or on the test clock `test_clock_id`."""
    clock = Customer.test_clock_id.is_(None) if test_clock_id is None else Customer.test_clock_id == test_clock_id
    return select(Customer.id).where(Customer.organization_id == organization_id, clock)


_CUSTOMER_ATTRS = [(prop.columns[0].key, prop.key) for prop in sa_inspect(Customer).column_attrs]  # metadata_
_SUBSCRIPTION_ATTRS = [(prop.columns[0].key, prop.key) for prop in sa_inspect(Subscription).column_attrs]
_PHASE_ATTRS = [(prop.columns[0].key, prop.key) for prop in sa_inspect(SubscriptionPhase).column_attrs]


def _subscriptions_of_customer() -> Any:
    subscriptions, customers = Subscription.__table__, Customer.__table__
    phases = SubscriptionPhase.__table__
    return (
        select(subscriptions,
               *(column.label(f"customer__{column.key}") for column in customers.c),
               *(column.label(f"phase__{column.key}") for column in phases.c))
        .select_from(subscriptions.join(customers, customers.c.id == subscriptions.c.customer_id)
                     .outerjoin(phases, phases.c.subscription_id == subscriptions.c.id))
        .where(subscriptions.c.organization_id == bindparam("org"), customers.c.organization_id == bindparam("org"),
               customers.c.external_id == bindparam("customer"), customers.c.deleted_at.is_(None))
        .order_by(subscriptions.c.started_at, subscriptions.c.id, phases.c.starts_at)
    )
