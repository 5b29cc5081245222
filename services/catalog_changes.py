"""What a use case calls when it changes what API processes cache of an organization: what ingestion checks
events against (services.usage.ingestion.CatalogCache) and the organization's rate limit (services.rate_limits)."""

from __future__ import annotations

import uuid
import weakref
from typing import Protocol

from db.catalog_changes import notify_catalog_changed
from db.session import UnitOfWork


class Forgetful(Protocol):
    def forget(self, organization_id: uuid.UUID) -> None: ...

    def forget_all(self) -> None: ...


_caches: weakref.WeakSet[Forgetful] = weakref.WeakSet()  # this process's catalog caches


def register(cache: Forgetful) -> None:
    """A cache of this process that must forget an organization's entries when its catalog changes."""
    _caches.add(cache)


def forget_here(organization_id: uuid.UUID) -> None:
    """Every cache of this process forgets the organization (a change committed here or in another process)."""
    for cache in list(_caches):
        cache.forget(organization_id)


def forget_all_here() -> None:
    """Every cache of this process forgets everything (notifications may have been missed)."""
    for cache in list(_caches):
        cache.forget_all()


async def catalog_changed(uow: UnitOfWork, organization_id: uuid.UUID) -> None:
    """A metric's filters changed, a metric archived or deleted, a customer deleted: once the transaction commits,
    every API process forgets what it cached of the organization (this one at once, the others when PostgreSQL's
    notification reaches them)."""
    await notify_catalog_changed(uow.session, organization_id)

    async def forget_now() -> None:
        forget_here(organization_id)

    uow.after_commit(forget_now)
