"""Test clocks (ADMIN): create, advance, delete."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from db.models import Role
from domain.errors import DomainError
from graph.context import Context
from graph.errors import UserError, user_error
from graph.mutations.common import run_use_case
from graph.permissions import require_role
from graph.types.test_clock import TestClock
from services import test_clocks


@strawberry.input
class CreateTestClockInput:
    name: str
    frozen_time: datetime = strawberry.field(description="The clock's time to start with (with a UTC offset).")


@strawberry.input
class AdvanceTestClockInput:
    test_clock_id: strawberry.ID
    frozen_time: datetime = strawberry.field(
        description="Later than the clock's time. Asking again for the time of an interrupted advance resumes it."
    )


@strawberry.input
class DeleteTestClockInput:
    test_clock_id: strawberry.ID


@strawberry.type
class TestClockPayload:
    test_clock: TestClock | None
    user_errors: list[UserError]


def _payload(clock: object, errors: list[UserError]) -> TestClockPayload:
    return TestClockPayload(test_clock=TestClock.of(clock) if clock is not None else None, user_errors=errors)  # type: ignore[arg-type]


@strawberry.type
class TestClockMutations:
    @strawberry.mutation(description="A test clock at frozenTime (ADMIN; TEST organizations only).")
    async def create_test_clock(self, info: Info[Context, None], input: CreateTestClockInput) -> TestClockPayload:
        clock, errors = await run_use_case(
            info, Role.ADMIN, lambda uow, a: test_clocks.create_test_clock(uow, a, input.name, input.frozen_time)
        )
        return _payload(clock, errors)

    @strawberry.mutation(
        description="Move a test clock forward (ADMIN): everything that falls due for its customers in between "
        "(billing dates, threshold checks and pay-in-advance charges, draft grace periods, collection, dunning "
        "retries and final actions, outbound webhook deliveries and their retries) runs in order, as real time "
        "would run it. The clock is ADVANCING until done, then READY, at frozenTime."
    )
    async def advance_test_clock(self, info: Info[Context, None], input: AdvanceTestClockInput) -> TestClockPayload:
        actor = require_role(info, Role.ADMIN)
        try:
            clock_id = test_clocks.parse_id(input.test_clock_id)
            clock = await test_clocks.advance_test_clock(
                info.context.db,
                actor,
                clock_id,
                input.frozen_time,
                info.context.services.payments,
                webhook_config=info.context.services.webhooks,
            )
        except DomainError as exc:
            return _payload(None, [user_error(exc)])
        return _payload(clock, [])

    @strawberry.mutation(description="Delete a test clock and all its customers' data (ADMIN).")
    async def delete_test_clock(self, info: Info[Context, None], input: DeleteTestClockInput) -> TestClockPayload:
        clock, errors = await run_use_case(
            info,
            Role.ADMIN,
            lambda uow, a: test_clocks.delete_test_clock(uow, a, test_clocks.parse_id(input.test_clock_id)),
        )
        return _payload(clock, errors)
