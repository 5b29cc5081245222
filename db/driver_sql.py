"""Statements built with SQLAlchemy Core, compiled once per shape and sent on an asyncpg connection as they are.

For a hot read that a session would cost several times over (`Database.driver_read`): SQLAlchemy still writes the
SQL, from the same tables and columns as everywhere else, but only once per shape (the filters a request uses), and
each request then costs one asyncpg statement, prepared once per connection by asyncpg's own statement cache.

Every value of a statement is a named `bindparam` given at each call: a shape that would bake a value in (a
literal, an anonymous parameter) is refused when it is compiled, so no request can be answered with another's
values. Rows are asyncpg's records: columns by their labels, values as asyncpg decodes them (JSONB through the
engine's deserializer, which the pool's connections were set up with).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from types import SimpleNamespace
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import ClauseElement

_DIALECT = asyncpg_dialect()
_MAX_SHAPES = 256
_compiled: dict[Hashable, tuple[str, tuple[str, ...]]] = {}


class UnboundValue(TypeError):
    """A statement holds a value that is not a named bindparam given at each call."""


def compiled(shape: Hashable, build: Callable[[], ClauseElement]) -> tuple[str, tuple[str, ...]]:
    """The SQL of `build()` for asyncpg, and the names of its parameters in order: compiled on the first call of
    each `shape` (which must name everything `build` depends on)."""
    found = _compiled.get(shape)
    if found is None:
        statement = build().compile(dialect=_DIALECT)
        names = tuple(statement.positiontup or ())
        for name in names:
            bind = statement.binds[name]
            if bind.unique or bind.value is not None or bind.callable is not None:
                raise UnboundValue(f"{name}: every value of a driver statement is a named bindparam")
            if bind.type._cached_bind_processor(_DIALECT) is not None:
                raise UnboundValue(f"{name}: its type converts values ({bind.type}): send it through a session")
        if len(_compiled) >= _MAX_SHAPES:
            _compiled.clear()
        found = _compiled[shape] = (statement.string, names)
    return found


async def fetch(conn: Any, shape: Hashable, build: Callable[[], ClauseElement], **values: Any) -> list[Any]:
    """The rows of `build()`'s statement with these values, on the asyncpg connection `conn`."""
    sql, names = compiled(shape, build)
    return await conn.fetch(sql, *(values[name] for name in names))


class Plain(SimpleNamespace):
    """A row's values as attributes (what the rules and the GraphQL types read of an ORM object), read-only by
    convention: nothing of it is ever written back."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
