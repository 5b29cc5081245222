"""The time of a customer: its test clock's frozen time, or the unit of work's (real) time.

Every use case that asks for "now" for one customer asks here (`customer_now`), or first puts the unit of
work on the customer's time (`on_customer_time`) so that all it calls reads that time through `uow.clock`.
The audit chain keeps the database's own clock (`uow.wall_clock`). See services/test_clocks.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Customer
from db.repositories.test_clocks import TestClockRepository
from db.session import UnitOfWork
from integrations.clock import Clock, ManualClock


async def customer_clock(uow: UnitOfWork, customer: Customer) -> Clock:
    """The clock a use case reads "now" from for this customer: its test clock's, or the unit of work's. A unit of
    work already put on another time than the database's (a test clock's advance, at one of its moments) keeps it."""
    if customer.test_clock_id is None or uow.clock is not uow.wall_clock:
        return uow.clock
    at = await TestClockRepository(uow.session, customer.organization_id).frozen_time(customer.test_clock_id)
    return uow.clock if at is None else ManualClock(at)


async def customer_time(session: AsyncSession, customer: Customer) -> Clock | None:
    """For a use case that opens its own units of work: the customer's test clock's time, None for real time."""
    if customer.test_clock_id is None:
        return None
    at = await TestClockRepository(session, customer.organization_id).frozen_time(customer.test_clock_id)
    return None if at is None else ManualClock(at)


async def customer_now(uow: UnitOfWork, customer: Customer) -> datetime:
    return (await customer_clock(uow, customer)).now()


async def on_customer_time(uow: UnitOfWork, customer: Customer) -> None:
    """The rest of this use case reads the customer's time from `uow.clock` (a no-op off test clocks)."""
    if customer.test_clock_id is not None:
        uow.clock = await customer_clock(uow, customer)
