"""Organizations and the credentials that act for them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import (
    ApiKey,
    Organization,
    Role,
    StaffRecoveryCode,
    StaffSecondFactor,
    StaffSession,
    StaffUser,
)
from db.repositories.base import ScopedRepository
from db.repositories.pagination import Page, paginate


class OrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, organization: Organization) -> Organization:
        self.session.add(organization)
        await self.session.flush()
        return organization

    async def timezone(self, organization_id: uuid.UUID) -> str | None:
        return await self.session.scalar(select(Organization.timezone).where(Organization.id == organization_id))

    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        return await self.session.get(Organization, organization_id)

    async def existing(self, organization_id: uuid.UUID) -> Organization:
        """The organization of an authenticated actor: it exists (LookupError otherwise, a bug)."""
        organization = await self.get(organization_id)
        if organization is None:
            raise LookupError(f"no organization {organization_id}")
        return organization

    async def first(self) -> Organization | None:
        return await self.session.scalar(select(Organization).order_by(Organization.created_at))

    async def rate_limit_override(self, organization_id: uuid.UUID) -> tuple[int | None, int | None] | None:
        """(per second, burst) set for the organization, None when there is no organization."""
        row = (
            await self.session.execute(
                select(Organization.rate_limit_per_second, Organization.rate_limit_burst).where(
                    Organization.id == organization_id
                )
            )
        ).first()
        return None if row is None else (row[0], row[1])


async def all_organization_ids(session: AsyncSession) -> list[uuid.UUID]:
    """For jobs that visit every tenant (each then works scoped to one)."""
    return list(await session.scalars(select(Organization.id).order_by(Organization.created_at)))


class ApiKeyRepository(ScopedRepository[ApiKey]):
    model = ApiKey

    async def list(self, *, first: int | None, after: str | None) -> Page[ApiKey]:
        return await paginate(self.session, self._scoped(), (ApiKey.created_at, ApiKey.id), first=first, after=after)


async def find_api_key_by_hash(session: AsyncSession, secret_hash: str) -> Row | None:
    """The one unscoped read: a key's hash is what tells us its organization. Every API request makes it, so it
    reads the columns authentication needs as a plain row (id, organization_id, role, name, revoked_at), no ORM
    object."""
    stmt = select(ApiKey.id, ApiKey.organization_id, ApiKey.role, ApiKey.name, ApiKey.revoked_at).where(
        ApiKey.secret_hash == secret_hash
    )
    return (await session.execute(stmt)).first()


async def touch_api_key(session: AsyncSession, key_id: uuid.UUID, at: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


async def find_staff_users_by_email(session: AsyncSession, email: str) -> list[StaffUser]:
    """Login is by email across organizations; the caller picks one by password and id."""
    rows = await session.scalars(select(StaffUser).where(StaffUser.email == email.lower()))
    return list(rows)


class StaffUserRepository(ScopedRepository[StaffUser]):
    model = StaffUser

    async def by_email(self, email: str) -> StaffUser | None:
        return await self.session.scalar(self._scoped().where(StaffUser.email == email.lower()))

    async def get_for_update(self, user_id: uuid.UUID) -> StaffUser | None:
        return await self.get(user_id, for_update=True)

    async def active_admins(self) -> list[StaffUser]:
        """The organization's active owners and admins (who is told what needs a person: services/staff_emails.py)."""
        stmt = self._scoped().where(StaffUser.active.is_(True), StaffUser.role.in_((Role.OWNER, Role.ADMIN)))
        return list(await self.session.scalars(stmt.order_by(StaffUser.created_at, StaffUser.id)))

    async def count_active_owners(self) -> int:
        """Locks the organization's active owners, so two demotions cannot both leave none."""
        rows = await self.session.scalars(
            select(StaffUser.id)
            .where(
                StaffUser.organization_id == self.organization_id,
                StaffUser.role == Role.OWNER,
                StaffUser.active.is_(True),
            )
            .with_for_update()
        )
        return len(list(rows))

    async def list(self, *, first: int | None, after: str | None) -> Page[StaffUser]:
        return await paginate(
            self.session, self._scoped(), (StaffUser.created_at, StaffUser.id), first=first, after=after
        )


class StaffSessionRepository(ScopedRepository[StaffSession]):
    """Sessions come with their user (one query: the user is joined)."""

    model = StaffSession

    async def revoke_of_user(self, user_id: uuid.UUID, at: datetime) -> list[uuid.UUID]:
        """Ends every live session of a user; returns their ids."""
        rows = await self.session.scalars(
            update(StaffSession)
            .where(
                StaffSession.organization_id == self.organization_id,
                StaffSession.staff_user_id == user_id,
                StaffSession.revoked_at.is_(None),
                StaffSession.expires_at > at,
            )
            .values(revoked_at=at)
            .returning(StaffSession.id)
        )
        return list(rows)

    async def touch(self, session_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(StaffSession)
            .where(StaffSession.id == session_id, StaffSession.organization_id == self.organization_id)
            .values(last_seen_at=at)
        )

    async def list(
        self,
        *,
        first: int | None,
        after: str | None,
        staff_user_id: uuid.UUID | None,
        active_at: datetime | None,
    ) -> Page[StaffSession]:
        """Newest first; `active_at` keeps the sessions not revoked and not expired at that moment."""
        stmt = self._scoped()
        if staff_user_id is not None:
            stmt = stmt.where(StaffSession.staff_user_id == staff_user_id)
        if active_at is not None:
            stmt = stmt.where(StaffSession.revoked_at.is_(None), StaffSession.expires_at > active_at)
        return await paginate(
            self.session, stmt, (StaffSession.created_at, StaffSession.id), first=first, after=after, descending=True
        )


class StaffSecondFactorRepository(ScopedRepository[StaffSecondFactor]):
    """A staff user's TOTP factor (one at most) and their recovery codes."""

    model = StaffSecondFactor

    async def of_user(self, user_id: uuid.UUID, *, for_update: bool = False) -> StaffSecondFactor | None:
        stmt = self._scoped().where(StaffSecondFactor.staff_user_id == user_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def users_with_factor_on(self, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these users have a confirmed second factor."""
        rows = await self.session.scalars(
            select(StaffSecondFactor.staff_user_id).where(
                StaffSecondFactor.organization_id == self.organization_id,
                StaffSecondFactor.staff_user_id.in_(list(user_ids)),
                StaffSecondFactor.confirmed_at.is_not(None),
            )
        )
        return set(rows)

    async def use_step(self, factor_id: uuid.UUID, step: int) -> bool:
        """Remember `step` as the last one used, unless it (or a later one) was used already: False then."""
        done = await self.session.scalar(
            update(StaffSecondFactor)
            .where(
                StaffSecondFactor.id == factor_id,
                StaffSecondFactor.organization_id == self.organization_id,
                or_(StaffSecondFactor.last_used_step.is_(None), StaffSecondFactor.last_used_step < step),
            )
            .values(last_used_step=step)
            .returning(StaffSecondFactor.id)
        )
        return done is not None

    async def remove_of_user(self, user_id: uuid.UUID) -> None:
        """The factor and every recovery code of the user."""
        await self.session.execute(
            delete(StaffRecoveryCode).where(
                StaffRecoveryCode.organization_id == self.organization_id, StaffRecoveryCode.staff_user_id == user_id
            )
        )
        await self.session.execute(
            delete(StaffSecondFactor).where(
                StaffSecondFactor.organization_id == self.organization_id, StaffSecondFactor.staff_user_id == user_id
            )
        )

    async def replace_recovery_codes(self, user_id: uuid.UUID, hashes: list[str]) -> None:
        await self.session.execute(
            delete(StaffRecoveryCode).where(
                StaffRecoveryCode.organization_id == self.organization_id, StaffRecoveryCode.staff_user_id == user_id
            )
        )
        for code_hash in hashes:
            self.session.add(
                StaffRecoveryCode(organization_id=self.organization_id, staff_user_id=user_id, code_hash=code_hash)
            )
        await self.session.flush()

    async def use_recovery_code(self, user_id: uuid.UUID, code_hash: str, at: datetime) -> bool:
        """Marks the unused code with this hash used; False when there is none (wrong, or used already)."""
        done = await self.session.scalar(
            update(StaffRecoveryCode)
            .where(
                StaffRecoveryCode.organization_id == self.organization_id,
                StaffRecoveryCode.staff_user_id == user_id,
                StaffRecoveryCode.code_hash == code_hash,
                StaffRecoveryCode.used_at.is_(None),
            )
            .values(used_at=at)
            .returning(StaffRecoveryCode.id)
        )
        return done is not None

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(StaffRecoveryCode)
                .where(
                    StaffRecoveryCode.organization_id == self.organization_id,
                    StaffRecoveryCode.staff_user_id == user_id,
                    StaffRecoveryCode.used_at.is_(None),
                )
            )
            or 0
        )


async def confirmed_second_factor_users(session: AsyncSession, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these staff users have a second factor turned on (any organization: a login asks)."""
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(StaffSecondFactor.staff_user_id).where(
            StaffSecondFactor.staff_user_id.in_(user_ids), StaffSecondFactor.confirmed_at.is_not(None)
        )
    )
    return set(rows)
