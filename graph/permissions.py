"""Role checks: one call at the top of every resolver that needs one."""

from __future__ import annotations

import asyncio

from graphql import OperationType
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import AccessDenied, NotAuthenticated
from services.actors import Actor


def current_actor(info: Info[Context, None]) -> Actor:
    actor = info.context.actor
    if actor is None:
        raise NotAuthenticated("authentication required: send 'Authorization: Bearer <API key or session token>'")
    return actor


def require_role(info: Info[Context, None], role: Role) -> Actor:
    actor = current_actor(info)
    if not actor.has_role(role):
        raise AccessDenied(f"this needs the {role} role or stronger; the caller is {actor.role}")
    if info.operation.operation == OperationType.SUBSCRIPTION and (task := asyncio.current_task()) is not None:
        # A live subscription keeps needing the role: the socket's credential watcher closes it (4403)
        # when the caller's role drops below (graph/live_credentials.py).
        info.context.live_roles[task] = role
    return actor
