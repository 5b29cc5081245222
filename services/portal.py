"""Customer portal sessions: the link a tenant gives one of its customers, and what its token stands for.

A portal token is 256 random bits behind the `vvp_` prefix, shown once (inside the link) and stored as its
SHA-256 only, as API keys are: a lookup is one index probe, a tampered token matches nothing, and a session
ends early when revoked. It acts as that one customer (an Actor of kind "portal"): graph/permissions.py
refuses it everywhere except the few reads and the one action that are scoped to its customer.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Customer, PortalSession
from db.repositories.customers import CustomerRepository, PortalSessionRepository
from db.repositories.organizations import OrganizationRepository
from db.repositories.pagination import Page
from db.session import UnitOfWork
from services import audit
from services.actors import Actor
from services.auth import PORTAL_TOKEN_PREFIX, announce_change, hash_secret
from services.errors import Invalid, NotFound, Resource

DEFAULT_PORTAL_TTL_SECONDS = 12 * 3600
MAX_PORTAL_TTL_SECONDS = 7 * 24 * 3600
# The page the link opens; the token rides in the fragment, which browsers never send to a server.
PORTAL_PATH = "/portal/session"


class PortalCode:
    INVALID_PORTAL_LIFETIME = "INVALID_PORTAL_LIFETIME"


@dataclass(frozen=True)
class PortalSessionView:
    """A portal session with what it is shown with: its customer and the organization that issued it."""

    session: PortalSession
    customer: Customer
    organization_name: str


@dataclass(frozen=True)
class IssuedPortalSession:
    view: PortalSessionView
    token: str
    url: str

    @property
    def session(self) -> PortalSession:
        return self.view.session


def portal_url(origin: str, token: str) -> str:
    """`origin` is PUBLIC_URL (or the origin the request came to)."""
    return f"{origin.rstrip('/')}{PORTAL_PATH}#{token}"


async def create_portal_session(
    uow: UnitOfWork,
    actor: Actor,
    *,
    customer_external_id: str,
    origin: str,
    expires_in_seconds: int | None = None,
) -> IssuedPortalSession:
    """A new portal link for one customer, valid 12 hours unless asked for less (or up to 7 days)."""
    ttl = DEFAULT_PORTAL_TTL_SECONDS if expires_in_seconds is None else expires_in_seconds
    if not 60 <= ttl <= MAX_PORTAL_TTL_SECONDS:
        raise Invalid(
            f"a portal link lasts between 60 and {MAX_PORTAL_TTL_SECONDS} seconds",
            field=("expiresInSeconds",),
            code=PortalCode.INVALID_PORTAL_LIFETIME,
        )
    customer = await CustomerRepository(uow.session, actor.organization_id).by_external_id(customer_external_id)
    if customer is None:
        raise NotFound(Resource.CUSTOMER, f"no customer with external id {customer_external_id!r}",
                       field=("customerExternalId",))
    token = PORTAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = uow.clock.now()  # made and expiring by the same clock (the database's could differ from the use case's)
    expires_at = now + timedelta(seconds=ttl)
    record = await PortalSessionRepository(uow.session, actor.organization_id).add(
        PortalSession(
            customer_id=customer.id,
            token_hash=hash_secret(token),
            created_at=now,
            expires_at=expires_at,
            created_by=actor.name[:300],
        )
    )
    await audit.record(
        uow, actor, "portal_session.created", "customer", customer.id,
        after={"portalSessionId": record.id, "customerExternalId": customer.external_id, "expiresAt": expires_at},
    )
    view = await _view(uow.session, actor.organization_id, record)
    return IssuedPortalSession(view, token, portal_url(origin, token))


async def revoke_portal_session(uow: UnitOfWork, actor: Actor, session_id: uuid.UUID) -> PortalSessionView:
    """Ends a portal link before it expires; its open pages are refused at their next request or within seconds."""
    record = await PortalSessionRepository(uow.session, actor.organization_id).get_or(
        session_id, NotFound("no portal session with this id", field=("id",))
    )
    if record.revoked_at is None:
        record.revoked_at = uow.clock.now()
        await audit.record(
            uow, actor, "portal_session.revoked", "customer", record.customer_id,
            after={"portalSessionId": record.id, "revokedAt": record.revoked_at},
        )
        announce_change(uow, actor.organization_id, "portalSession", record.id)
    return await _view(uow.session, actor.organization_id, record)


async def own_session(session: AsyncSession, actor: Actor) -> PortalSessionView | None:
    """The portal session a portal link's request comes with (None for every other caller)."""
    if not actor.is_portal or actor.id is None:
        return None
    record = await PortalSessionRepository(session, actor.organization_id).get(uuid.UUID(actor.id))
    return await _view(session, actor.organization_id, record) if record is not None else None


async def sessions_of_customer(
    session: AsyncSession,
    actor: Actor,
    customer_external_id: str,
    *,
    first: int | None,
    after: str | None,
    with_total: bool = True,
) -> Page[PortalSessionView]:
    """A customer's portal links, newest first, revoked and expired ones too (none for an unknown customer).

    For staff: a portal token is refused before this (graph/permissions.py)."""
    page = await PortalSessionRepository(session, actor.organization_id).list_of_customer(
        customer_external_id, first=first, after=after, with_total=with_total
    )
    if not page.items:
        return Page([], page.has_next_page, page.has_previous_page, page.total_count)
    # Every session of the page is of the same customer and organization: each is read once.
    customer = await CustomerRepository(session, actor.organization_id).by_external_id(customer_external_id)
    if customer is None:  # deleted since the page was read (reads are not one transaction)
        return Page([], False, page.has_previous_page, 0)
    organization = await OrganizationRepository(session).existing(actor.organization_id)
    return Page(
        [(cursor, PortalSessionView(record, customer, organization.name)) for cursor, record in page.items],
        page.has_next_page,
        page.has_previous_page,
        page.total_count,
    )


async def _view(session: AsyncSession, organization_id: uuid.UUID, record: PortalSession) -> PortalSessionView:
    customer = await CustomerRepository(session, organization_id).get(record.customer_id)
    organization = await OrganizationRepository(session).existing(organization_id)
    assert customer is not None  # a customer's portal sessions go with it (ON DELETE CASCADE)
    return PortalSessionView(record, customer, organization.name)


def is_live(record: PortalSession, now: datetime) -> bool:
    return record.revoked_at is None and record.expires_at > now
