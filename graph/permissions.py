"""Role checks: one call at the top of every resolver that needs one.

A customer portal token (an Actor of kind "portal") is refused by `current_actor` and `require_role`, so
every field is closed to it unless its resolver asks `portal_customer` instead: the few reads the portal
needs, each scoped to the token's own customer.
"""

from __future__ import annotations

import asyncio

from graphql import OperationType
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import AccessDenied, NotAuthenticated
from services.actors import Actor

PORTAL_REFUSED = "a customer portal link reads only its own customer's usage, invoices, plan and payment methods"


def _authenticated(info: Info[Context, None]) -> Actor:
    actor = info.context.actor
    if actor is None:
        raise NotAuthenticated("authentication required: send 'Authorization: Bearer <API key or session token>'")
    return actor


def current_actor(info: Info[Context, None]) -> Actor:
    """The staff user or API key calling; a portal token is refused here."""
    actor = _authenticated(info)
    if actor.is_portal:
        raise AccessDenied(PORTAL_REFUSED)
    return actor


def portal_customer(info: Info[Context, None], customer_external_id: str | None) -> tuple[Actor, str | None]:
    """For the fields a portal token may reach: (the caller, the customer to read).

    Staff and API keys read what they ask for. A portal token reads its own customer: another customer's
    id is refused; no id means its own."""
    actor = _authenticated(info)
    if not actor.is_portal:
        return actor, customer_external_id
    if customer_external_id is not None and customer_external_id != actor.customer_external_id:
        raise AccessDenied(PORTAL_REFUSED)
    return actor, actor.customer_external_id


def require_role(info: Info[Context, None], role: Role) -> Actor:
    actor = current_actor(info)
    if not actor.has_role(role):
        raise AccessDenied(f"this needs the {role} role or stronger; the caller is {actor.role}")
    if info.operation.operation == OperationType.SUBSCRIPTION and (task := asyncio.current_task()) is not None:
        # A live subscription keeps needing the role: the socket's credential watcher closes it (4403)
        # when the caller's role drops below (graph/live_credentials.py).
        info.context.live_roles[task] = role
    return actor


def portal_or_role(info: Info[Context, None], role: Role) -> Actor:
    """For the one action a portal link may take (paying its own invoices, scoped by the use case): a portal
    token, or staff with `role`."""
    actor = _authenticated(info)
    return actor if actor.is_portal else require_role(info, role)
