"""What a use case calls when it changes what ingestion checks events against (see services.usage.CatalogCache)."""

from __future__ import annotations

import uuid
import weakref
from typing import Protocol

from db.catalog_changes import notify_catalog_changed
from db.session import UnitOfWork


class Forgetful(Protocol):
    def forget(self, organization_id: uuid.UUID) -> None: ...


_caches: weakref.WeakSet[Forgetful] = weakref.WeakSet()  # this process's catalog caches


def register(cache: Forgetful) -> None:
    """A cache of this process that must forget an organization's entries when its catalog changes."""
    _caches.add(cache)


async def catalog_changed(uow: UnitOfWork, organization_id: uuid.UUID) -> None:
    """A metric's filters changed, a metric archived or deleted, a customer deleted: once the transaction commits,
    every API process forgets what it cached of the organization (this one at once, the others when PostgreSQL's
    notification reaches them)."""
    await notify_catalog_changed(uow.session, organization_id)

    async def forget_here() -> None:
        for cache in list(_caches):
            cache.forget(organization_id)

    uow.after_commit(forget_here)
