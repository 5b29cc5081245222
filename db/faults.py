"""What a database error means for the caller: storage unavailable, a passing conflict, or refused data.

Only `UNAVAILABLE` may become "503, retry later": the database cannot be reached or cannot work
now (connection lost, shutting down, out of resources, read-only) or is not in a state to work
at all (a failure of our own SQL or schema). `DATA` means PostgreSQL (or the driver, while
encoding) refused the rows themselves: retrying them can never succeed. `TRANSIENT` is a
deadlock or serialization failure: the same work may succeed at once.
"""

from __future__ import annotations

import enum

import asyncpg
from sqlalchemy import exc as sa_exc


class Fault(enum.Enum):
    UNAVAILABLE = "unavailable"
    TRANSIENT = "transient"
    DATA = "data"


# SQLSTATE classes: 22 data exception (e.g. numeric value out of range, invalid text), 23 integrity
# constraint violation (e.g. a check constraint), 54 program limit exceeded (e.g. a row too large).
_DATA_CLASSES = frozenset({"22", "23", "54"})
_TRANSIENT_CLASSES = frozenset({"40"})


def _driver_error(error: BaseException) -> BaseException:
    """The asyncpg (or OS) error behind a SQLAlchemy one."""
    if isinstance(error, sa_exc.DBAPIError):
        original = error.orig
        cause = getattr(original, "__cause__", None)
        return cause if isinstance(cause, BaseException) else (original or error)
    return error


def fault(error: BaseException) -> Fault:
    """What `error`, raised while reading or writing, says about the database or the data."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return Fault.UNAVAILABLE
    error = _driver_error(error)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(error, asyncpg.PostgresError) and isinstance(sqlstate, str):
        if sqlstate[:2] in _DATA_CLASSES:
            return Fault.DATA
        if sqlstate[:2] in _TRANSIENT_CLASSES:
            return Fault.TRANSIENT
        return Fault.UNAVAILABLE
    # Raised by the driver while encoding a value (its client-side DataError is an InterfaceError and a
    # ValueError, e.g. "invalid input for query argument"), or by Python's codecs: the row's fault.
    if isinstance(error, ValueError | TypeError | OverflowError):
        return Fault.DATA
    return Fault.UNAVAILABLE


def storage_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached or cannot work now (connection, shutdown, …)."""
    error = _driver_error(error)
    if isinstance(error, OSError | TimeoutError | asyncpg.PostgresConnectionError | sa_exc.TimeoutError):
        return True
    if isinstance(error, asyncpg.InterfaceError) and not isinstance(error, ValueError):
        return True  # e.g. the connection was closed (a ValueError is a value the driver could not encode)
    sqlstate = getattr(error, "sqlstate", None)
    # 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown),
    # 58 system error, 25006 read-only transaction (a standby), 3D000 no such database, 28 authorization.
    if not isinstance(sqlstate, str):
        return False
    return sqlstate[:2] in {"08", "53", "57", "58", "28"} or sqlstate in {"25006", "3D000"}
