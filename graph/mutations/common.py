"""The one way a mutation runs: role check, one transaction, errors as values."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from strawberry.types import Info

from db.models import Role
from db.session import UnitOfWork
from domain.errors import DomainError
from graph.context import Context
from graph.errors import UserError, user_error
from graph.permissions import require_role
from services.actors import Actor
from services.errors import Forbidden

R = TypeVar("R")


async def run_use_case(
    info: Info[Context, None], role: Role, use_case: Callable[[UnitOfWork, Actor], Awaitable[R]]
) -> tuple[R | None, list[UserError]]:
    """Commit when the use case succeeds; on bad input nothing is written and userErrors say why."""
    return await _run(info, role, use_case, rehearse=False)


async def run_rehearsal(
    info: Info[Context, None], role: Role, use_case: Callable[[UnitOfWork, Actor], Awaitable[R]]
) -> tuple[R | None, list[UserError]]:
    """Run a use case as `run_use_case` would, then roll it back (`Database.rehearsal`): a preview that cannot
    disagree with the real thing. `use_case` must return plain values: the rows are gone once it returns."""
    return await _run(info, role, use_case, rehearse=True)


async def _run(
    info: Info[Context, None], role: Role, use_case: Callable[[UnitOfWork, Actor], Awaitable[R]], *, rehearse: bool
) -> tuple[R | None, list[UserError]]:
    actor = require_role(info, role)
    db = info.context.db
    try:
        async with db.rehearsal() if rehearse else db.unit_of_work() as uow:
            return await use_case(uow, actor), []
    except DomainError as exc:
        return None, [user_error(exc)]
    except Forbidden as exc:
        return None, [UserError(field=["input"], message=exc.reason, code="FORBIDDEN")]
    except IntegrityError:
        # A concurrent request won the race for a unique value.
        return None, [
            UserError(field=["input"], message="this conflicts with a concurrent change; retry", code="CONFLICT")
        ]
