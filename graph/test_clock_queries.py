"""Queries about a TEST organization's test clocks."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from db.models import Role
from db.repositories.test_clocks import TestClockRepository
from graph.context import Context
from graph.pagination import Connection, connection, fetch_page
from graph.permissions import require_role
from graph.types.test_clock import TestClock
from services import test_clocks
from services.errors import Invalid


@strawberry.type
class TestClockQueries:
    @strawberry.field(description="The organization's test clocks, oldest first (any staff role).")
    async def test_clocks(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[TestClock]:
        actor = require_role(info, Role.VIEWER)
        async with info.context.db.read() as session:
            repo = TestClockRepository(session, actor.organization_id)
            return connection(await fetch_page(lambda: repo.list(first=first, after=after)), TestClock.of)

    @strawberry.field(description="One test clock, or null when the organization has none with this id.")
    async def test_clock(self, info: Info[Context, None], id: strawberry.ID) -> TestClock | None:
        actor = require_role(info, Role.VIEWER)
        try:
            clock_id = test_clocks.parse_id(id)
        except Invalid:  # not an id: no clock has it
            return None
        async with info.context.db.read() as session:
            row = await TestClockRepository(session, actor.organization_id).get(clock_id)
        return TestClock.of(row) if row is not None else None
