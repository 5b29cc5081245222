"""What every repository of one organization's rows has in common.

A repository is made for one session and one organization and never reads another
organization's rows: `_scoped()` is where that filter is written, once. `get_or(id, missing)`
is the get-or-404 of the use cases: the row, or the error they chose raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

M = TypeVar("M")


def contains_pattern(search: str) -> str:
    """An ILIKE pattern matching text that contains `search` as typed (its % and _ are not wildcards)."""
    return "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class OrganizationScoped:
    """A session and the organization whose rows it reads and writes."""

    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        self.session = session
        self.organization_id = organization_id


class ScopedRepository(OrganizationScoped, Generic[M]):
    """Rows of one model (with `id` and `organization_id` columns) of one organization."""

    model: type[M]

    def _scoped(self) -> Select[tuple[M]]:
        model: Any = self.model
        return select(model).where(model.organization_id == self.organization_id)

    def stage(self, row: M) -> M:
        """Add without writing yet (it goes out with the next flush), as this organization's."""
        row.organization_id = self.organization_id  # type: ignore[attr-defined]
        self.session.add(row)
        return row

    async def add(self, row: M) -> M:
        self.stage(row)
        await self.session.flush()
        return row

    async def get(self, row_id: uuid.UUID | int, *, for_update: bool = False) -> M | None:
        model: Any = self.model
        stmt = self._scoped().where(model.id == row_id)
        if for_update:
            stmt = stmt.with_for_update(of=model)  # the row alone, not what is eagerly joined to it
        return await self.session.scalar(stmt)

    async def get_or(self, row_id: uuid.UUID | int, missing: Exception, *, for_update: bool = False) -> M:
        """The row with this id, or `missing` raised (e.g. `NotFound(…)` of the use case)."""
        row = await self.get(row_id, for_update=for_update)
        if row is None:
            raise missing
        return row

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, M]:
        model: Any = self.model
        rows = await self.session.scalars(self._scoped().where(model.id.in_(list(ids))))
        return {row.id: row for row in rows}  # type: ignore[attr-defined]

    async def delete(self, row: M) -> None:
        await self.session.delete(row)
        await self.session.flush()
