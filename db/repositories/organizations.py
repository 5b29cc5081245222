"""Organizations and the credentials that act for them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApiKey, Organization, StaffUser
from db.repositories.pagination import Page, paginate


class OrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, organization: Organization) -> Organization:
        self.session.add(organization)
        await self.session.flush()
        return organization

    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        return await self.session.get(Organization, organization_id)

    async def first(self) -> Organization | None:
        return await self.session.scalar(select(Organization).order_by(Organization.created_at))


async def all_organization_ids(session: AsyncSession) -> list[uuid.UUID]:
    """For jobs that visit every tenant (each then works scoped to one)."""
    return list(await session.scalars(select(Organization.id).order_by(Organization.created_at)))


class ApiKeyRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session = session
        self.organization_id = organization_id

    async def add(self, key: ApiKey) -> ApiKey:
        key.organization_id = self.organization_id
        self.session.add(key)
        await self.session.flush()
        return key

    async def get(self, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.scalar(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.organization_id == self.organization_id)
        )

    async def list(self, *, first: int | None, after: str | None) -> Page[ApiKey]:
        stmt = select(ApiKey).where(ApiKey.organization_id == self.organization_id)
        return await paginate(self.session, stmt, (ApiKey.created_at, ApiKey.id), first=first, after=after)


async def find_api_key_by_hash(session: AsyncSession, secret_hash: str) -> ApiKey | None:
    """The one unscoped read: a key's hash is what tells us its organization."""
    return await session.scalar(select(ApiKey).where(ApiKey.secret_hash == secret_hash))


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID, at: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


async def find_staff_users_by_email(session: AsyncSession, email: str) -> list[StaffUser]:
    """Login is by email across organizations; the caller picks one by password and id."""
    rows = await session.scalars(select(StaffUser).where(StaffUser.email == email.lower()))
    return list(rows)


class StaffUserRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session = session
        self.organization_id = organization_id

    async def add(self, user: StaffUser) -> StaffUser:
        user.organization_id = self.organization_id
        self.session.add(user)
        await self.session.flush()
        return user

    async def get(self, user_id: uuid.UUID) -> StaffUser | None:
        return await self.session.scalar(
            select(StaffUser).where(StaffUser.id == user_id, StaffUser.organization_id == self.organization_id)
        )

    async def by_email(self, email: str) -> StaffUser | None:
        return await self.session.scalar(
            select(StaffUser).where(StaffUser.email == email.lower(), StaffUser.organization_id == self.organization_id)
        )

    async def list(self, *, first: int | None, after: str | None) -> Page[StaffUser]:
        stmt = select(StaffUser).where(StaffUser.organization_id == self.organization_id)
        return await paginate(self.session, stmt, (StaffUser.created_at, StaffUser.id), first=first, after=after)
