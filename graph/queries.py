"""Queries about the organization, its credentials and its audit trail."""

from __future__ import annotations

import uuid

import strawberry
from strawberry.types import Info

from db.models import Role
from db.repositories.audit import AuditRepository
from db.repositories.organizations import (
    ApiKeyRepository,
    OrganizationRepository,
    StaffSessionRepository,
    StaffUserRepository,
)
from graph.context import Context
from graph.errors import AccessDenied, PublicError
from graph.pagination import Connection, connection, fetch_page, selects_total
from graph.permissions import current_actor, require_role
from graph.types.api_key import ApiKey
from graph.types.audit_log import AuditChainVerification, AuditLog
from graph.types.organization import Organization
from graph.types.portal_session import PortalSession
from graph.types.staff_session import StaffSession
from graph.types.staff_user import StaffUser
from graph.types.viewer import PrincipalKind, Viewer
from services import audit, portal


@strawberry.type
class AccessQueries:
    @strawberry.field(description="The caller, or null for an anonymous request.")
    def viewer(self, info: Info[Context, None]) -> Viewer | None:
        actor = info.context.actor
        if actor is None:
            return None
        return Viewer(
            kind=PrincipalKind(actor.kind),
            id=strawberry.ID(actor.id or ""),
            name=actor.name,
            role=actor.role,
            organization_id=str(actor.organization_id),
        )

    @strawberry.field(description="A customer portal link's own session (its customer, its expiry); null for "
                      "every other caller.")
    async def portal_session(self, info: Info[Context, None]) -> PortalSession | None:
        actor = info.context.actor
        if actor is None:
            return None
        async with info.context.db.read() as session:
            view = await portal.own_session(session, actor)
        return PortalSession.of(view, info.context.clock.now()) if view else None

    @strawberry.field(
        description="A customer's portal links, newest first, ended ones too (FINANCE; not for a portal link): "
        "when each was made, by whom, until when, whether it was revoked. Never the link or its token (shown once). "
        "An unknown customer has none."
    )
    async def customer_portal_sessions(
        self,
        info: Info[Context, None],
        customer_external_id: str,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[PortalSession]:
        actor = require_role(info, Role.FINANCE)
        with_total = selects_total(info)
        now = info.context.clock.now()
        async with info.context.db.read() as session:
            page = await fetch_page(
                lambda: portal.sessions_of_customer(
                    session, actor, customer_external_id, first=first, after=after, with_total=with_total
                )
            )
        return connection(page, lambda view: PortalSession.of(view, now))

    @strawberry.field(description="The caller's organization.")
    async def organization(self, info: Info[Context, None]) -> Organization:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            return Organization.of(await OrganizationRepository(session).get(actor.organization_id))

    @strawberry.field(description="API keys of the organization (ADMIN).")
    async def api_keys(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[ApiKey]:
        actor = require_role(info, Role.ADMIN)
        async with info.context.db.read() as session:
            repo = ApiKeyRepository(session, actor.organization_id)
            return connection(await fetch_page(lambda: repo.list(first=first, after=after)), ApiKey.of)

    @strawberry.field(description="Staff users of the organization (ADMIN).")
    async def staff_users(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[StaffUser]:
        actor = require_role(info, Role.ADMIN)
        async with info.context.db.read() as session:
            repo = StaffUserRepository(session, actor.organization_id)
            return connection(await fetch_page(lambda: repo.list(first=first, after=after)), StaffUser.of)

    @strawberry.field(
        description="Staff sessions, newest first: the caller's own; for an ADMIN or OWNER every session of the "
        "organization (or of `staffUserId`). Only live ones unless `includeEnded`."
    )
    async def sessions(
        self,
        info: Info[Context, None],
        staff_user_id: strawberry.ID | None = None,
        include_ended: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[StaffSession]:
        actor = current_actor(info)
        try:
            wanted = uuid.UUID(str(staff_user_id)) if staff_user_id is not None else None
        except ValueError:
            raise PublicError("staffUserId is not a valid id", "INVALID_ID") from None
        if not actor.has_role(Role.ADMIN):
            if actor.kind != "user":
                raise AccessDenied("an API key has no sessions; the organization's sessions need the ADMIN role")
            own = uuid.UUID(str(actor.id))
            if wanted not in (None, own):
                raise AccessDenied("the sessions of another user need the ADMIN role")
            wanted = own
        async with info.context.db.read() as session:
            repo = StaffSessionRepository(session, actor.organization_id)
            active_at = None if include_ended else info.context.clock.now()
            page = await fetch_page(
                lambda: repo.list(first=first, after=after, staff_user_id=wanted, active_at=active_at)
            )
            return connection(page, lambda record: StaffSession.of(record, actor.session_id, info.context.clock.now()))

    @strawberry.field(description="The audit trail, newest first (FINANCE or stronger).")
    async def audit_logs(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
    ) -> Connection[AuditLog]:
        actor = require_role(info, Role.FINANCE)
        async with info.context.db.read() as session:
            repo = AuditRepository(session, actor.organization_id)
            page = await fetch_page(
                lambda: repo.list(first=first, after=after, action=action, target_type=target_type, target_id=target_id)
            )
            return connection(page, AuditLog.of)

    @strawberry.field(description="Recompute the audit hash chain and report the first broken link.")
    async def verify_audit_chain(self, info: Info[Context, None]) -> AuditChainVerification:
        actor = require_role(info, Role.FINANCE)
        async with info.context.db.unit_of_work() as uow:
            result = await audit.verify_chain(uow, actor.organization_id)
        return AuditChainVerification(
            valid=result.valid,
            checked_entries=result.checked,
            first_broken_seq=result.first_broken_seq,
            reason=result.reason,
        )
