"""Transaction-scoped advisory locks, one namespace per kind of serialized work."""

import enum
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class LockNamespace(enum.IntEnum):
    AUDIT_CHAIN = 1
    CUSTOMER_BILLING = 2
    INVOICE_NUMBERING = 3
    USAGE_PARTITIONS = 4  # creating usage_events' monthly partitions (one key: the parent table)


async def advisory_xact_lock(session: AsyncSession, namespace: LockNamespace, key: uuid.UUID | str) -> None:
    """Held until the transaction ends; the key is hashed into PostgreSQL's int4 space."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"),
        {"ns": int(namespace), "key": str(key)},
    )
