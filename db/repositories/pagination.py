"""Keyset pagination shared by every connection: opaque cursors over (sort key, id)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, bindparam, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from db import driver_sql

T = TypeVar("T")
MAX_PAGE = 200
DEFAULT_PAGE = 50


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]  # (cursor, item)
    has_next_page: bool
    has_previous_page: bool
    total_count: int


def encode_cursor(values: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([str(v) for v in values])).decode()


def decode_cursor(cursor: str) -> list[str]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except Exception as exc:
        raise InvalidCursor("the cursor is not one this API produced") from exc
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidCursor("the cursor is not one this API produced")
    return values


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise ValueError(f"first must be between 0 and {MAX_PAGE}")
    return first


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    keys: tuple[Any, ...],
    *,
    first: int | None,
    after: str | None,
    descending: bool = False,
    with_total: bool = True,
    total: Any = None,
) -> Page[Any]:
    """Run `stmt` (already filtered and scoped) one page at a time, ordered by `keys`. `with_total=False` skips
    counting every matching row (the page's `total_count` is then -1): the count costs more than the page.
    `total`: a statement that gives the same number as counting `stmt`'s rows, cheaper (a kept count)."""
    size = page_size(first)
    if not with_total:
        total = -1
    elif total is not None:
        total = await session.scalar(total)
    else:
        total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ordered = stmt.order_by(*[k.desc() if descending else k.asc() for k in keys])
    if after is not None:
        typed = cursor_values(keys, after)
        bound = tuple_(*keys)
        ordered = ordered.where(bound < typed if descending else bound > typed)
    result = await session.execute(ordered.limit(size + 1))
    found = result.scalars().all()
    items = [(encode_cursor(tuple(_key_values(row, keys))), row) for row in found[:size]]
    return Page(items, len(found) > size, after is not None, int(total or 0))


async def paginate_on(
    conn: Any,
    shape: Hashable,
    build: Callable[[], Select[Any]],
    keys: tuple[Any, ...],
    values: dict[str, Any],
    *,
    first: int | None,
    after: str | None,
    descending: bool = False,
    total: Callable[[], Any] | None = None,
) -> Page[Any]:
    """`paginate` of a Core select of several columns, on an asyncpg connection (db/driver_sql.py): `build()` makes
    the statement of `shape` with its values as named bindparams, `values` gives them; the page's rows are asyncpg
    records.
    `total`: a statement giving the number of matching rows (None: not counted, `total_count` -1)."""
    size = page_size(first)
    typed = cursor_values(keys, after) if after is not None else None
    bounds = {f"after_{i}": value for i, value in enumerate(typed or ())}

    def page() -> Select[Any]:
        ordered = build().order_by(*[k.desc() if descending else k.asc() for k in keys])
        if typed is not None:
            bound = tuple_(*keys)
            cursor = tuple_(*(bindparam(f"after_{i}", type_=k.type) for i, k in enumerate(keys)))
            ordered = ordered.where(bound < cursor if descending else bound > cursor)
        return ordered.limit(bindparam("page_rows"))

    found = await driver_sql.fetch(conn, ("page", shape, typed is not None, descending), page,
                                   **values, **bounds, page_rows=size + 1)
    count = -1
    if total is not None:
        sql, names = driver_sql.compiled(("total", shape), total)
        count = int(await conn.fetchval(sql, *(values[name] for name in names)) or 0)
    names = [k.key for k in keys]
    items = [(encode_cursor(tuple(row[name] for name in names)), row) for row in found[:size]]
    return Page(items, len(found) > size, after is not None, count)


def cursor_values(keys: tuple[Any, ...], after: str) -> tuple[Any, ...]:
    """The sort key values a cursor holds, typed as `keys` (InvalidCursor if it is not one of ours)."""
    raw = decode_cursor(after)
    if len(raw) != len(keys):
        raise InvalidCursor("the cursor is not one this API produced")
    try:
        return tuple(_parse(k, v) for k, v in zip(keys, raw, strict=True))
    except Exception as exc:
        raise InvalidCursor("the cursor is not one this API produced") from exc


def _parse(key: Any, raw: str) -> Any:
    kind = key.type.python_type
    return datetime.fromisoformat(raw) if kind is datetime else kind(raw)


def _key_values(row: Any, keys: tuple[Any, ...]) -> list[Any]:
    return [getattr(row, k.key) for k in keys]
