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
from graph.errors import AccessDenied, UserError, user_error
from graph.permissions import PORTAL_REFUSED, portal_customer, portal_or_role, require_role
from services.actors import Actor
from services.errors import Forbidden

R = TypeVar("R")


async def run_use_case(
    info: Info[Context, None], role: Role, use_case: Callable[[UnitOfWork, Actor], Awaitable[R]]
) -> tuple[R | None, list[UserError]]:
    """Commit when the use case succeeds; on bad input nothing is written and userErrors say why."""
    return await _run(info, require_role(info, role), use_case, rehearse=False)


async def run_rehearsal(
    info: Info[Context, None], role: Role, use_case: Callable[[UnitOfWork, Actor], Awaitable[R]]
) -> tuple[R | None, list[UserError]]:
    """Run a use case as `run_use_case` would, then roll it back (`Database.rehearsal`): a preview that cannot
    disagree with the real thing. `use_case` must return plain values: the rows are gone once it returns."""
    return await _run(info, require_role(info, role), use_case, rehearse=True)


async def run_customer_use_case(
    info: Info[Context, None],
    role: Role,
    customer_external_id: str,
    use_case: Callable[[UnitOfWork, Actor], Awaitable[R]],
) -> tuple[R | None, list[UserError]]:
    """`run_use_case` for the actions a customer portal link may take on its own customer: staff with `role`,
    or a portal token whose customer is `customer_external_id` (another customer's is refused)."""
    actor = portal_or_role(info, role)
    if actor.is_portal and customer_external_id != actor.customer_external_id:
        raise AccessDenied(PORTAL_REFUSED)
    return await run_as(info, actor, use_case)


async def run_as(
    info: Info[Context, None], actor: Actor, use_case: Callable[[UnitOfWork, Actor], Awaitable[R]]
) -> tuple[R | None, list[UserError]]:
    """`run_use_case` for a caller already checked (e.g. `portal_or_role`: the use case scopes a portal link)."""
    return await _run(info, actor, use_case, rehearse=False)


async def run_for_customer(
    info: Info[Context, None],
    role: Role,
    customer_external_id: str | None,
    use_case: Callable[[UnitOfWork, Actor, str], Awaitable[R]],
) -> tuple[R | None, list[UserError]]:
    """`run_use_case` for the few actions a customer portal link may take on its own customer: staff with
    `role` act on the customer they name; a portal token on its own (another customer's id is refused)."""
    portal_or_role(info, role)
    actor, customer = portal_customer(info, customer_external_id)
    if customer is None:
        return None, [UserError(field=["input", "customerExternalId"], message="name the customer", code="REQUIRED")]
    return await run_as(info, actor, lambda uow, a: use_case(uow, a, customer))


async def _run(
    info: Info[Context, None], actor: Actor, use_case: Callable[[UnitOfWork, Actor], Awaitable[R]], *, rehearse: bool
) -> tuple[R | None, list[UserError]]:
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


def request_origin(info: Info[Context, None]) -> str:
    """Where links to this deployment start: PUBLIC_URL, else the origin this request came to."""
    payments = info.context.services.payments
    if payments is not None and payments.public_url:
        return payments.public_url
    return info.context.base_url
