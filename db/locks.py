"""Transaction-scoped advisory locks, one namespace per kind of serialized work."""

import enum
import uuid
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class LockNamespace(enum.IntEnum):
    AUDIT_CHAIN = 1
    CUSTOMER_BILLING = 2
    INVOICE_NUMBERING = 3
    USAGE_PARTITIONS = 4  # creating usage_events' monthly partitions (one key: the parent table)
    CUSTOMER_USAGE_ALERTS = 5  # a customer's usage alerts counted and added one change at a time
    INVOICE_COUNTS = 6  # folding an organization's invoice_counts rows (migration 0024's triggers: tried, never waited)


async def advisory_xact_lock(session: AsyncSession, namespace: LockNamespace, key: uuid.UUID | str) -> None:
    """Held until the transaction ends; the key is hashed into PostgreSQL's int4 space."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))"),
        {"ns": int(namespace), "key": str(key)},
    )


async def advisory_xact_locks(session: AsyncSession, namespace: LockNamespace, keys: Iterable[uuid.UUID]) -> None:
    """`advisory_xact_lock` on many keys in one round trip, always in the same order (no deadlock between two
    holders of overlapping sets)."""
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(:ns, h) FROM "
            "(SELECT DISTINCT hashtext(k) AS h FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS ordered"
        ),
        {"ns": int(namespace), "keys": [str(k) for k in keys]},
    )
