"""Reads that graph/ resolves one row (or one short list) at a time: a scoped lookup, no rule.

Each takes a read session (`Database.read()`, nothing written) and the caller's organization, so
that graph/ needs no repository of its own for them. Pages of a list and batched relations
(graph/queries.py, graph/catalog_queries.py, graph/billing_queries.py, graph/dataloaders.py) read
through db/repositories directly: see docs/architecture.md for that rule.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AuditEntry, CreditNote, Invoice, Organization
from db.repositories import audit as audit_repository
from db.repositories.audit import AuditRepository
from db.repositories.billing import InvoiceRepository
from db.repositories.credits import CreditRepository
from db.repositories.organizations import OrganizationRepository


async def organization(session: AsyncSession, organization_id: uuid.UUID) -> Organization | None:
    return await OrganizationRepository(session).get(organization_id)


async def audit_version(conn: Any, organization_id: uuid.UUID) -> int:
    """The organization's last audit sequence number, on an asyncpg connection (`Database.driver_read`): it moves
    with every change of its audited rows."""
    return await audit_repository.last_seq(conn, organization_id)


async def audit_entry(session: AsyncSession, organization_id: uuid.UUID, entry_id: int) -> AuditEntry | None:
    return await AuditRepository(session, organization_id).get(entry_id)


async def invoice(session: AsyncSession, organization_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice | None:
    return await InvoiceRepository(session, organization_id).get(invoice_id)


async def credit_notes_of_invoice(
    session: AsyncSession, organization_id: uuid.UUID, invoice_id: uuid.UUID
) -> list[CreditNote]:
    """Credit notes issued against an invoice, oldest first."""
    return await CreditRepository(session, organization_id).credit_notes_of_invoice(invoice_id)
