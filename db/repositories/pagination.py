"""Keyset pagination shared by every connection: opaque cursors over (sort key, id)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

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
    rows: bool = False,
) -> Page[Any]:
    """Run `stmt` (already filtered and scoped) one page at a time, ordered by `keys`. `with_total=False` skips
    counting every matching row (the page's `total_count` is then -1): the count costs more than the page.
    `total`: a statement that gives the same number as counting `stmt`'s rows, cheaper (a kept count).
    `rows`: the items are the result's rows (a Core select of several columns), not its first column."""
    size = page_size(first)
    if not with_total:
        total = -1
    elif total is not None:
        total = await session.scalar(total)
    else:
        total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ordered = stmt.order_by(*[k.desc() if descending else k.asc() for k in keys])
    if after is not None:
        raw = decode_cursor(after)
        if len(raw) != len(keys):
            raise InvalidCursor("the cursor is not one this API produced")
        try:
            typed = tuple(_parse(k, v) for k, v in zip(keys, raw, strict=True))
        except Exception as exc:
            raise InvalidCursor("the cursor is not one this API produced") from exc
        bound = tuple_(*keys)
        ordered = ordered.where(bound < typed if descending else bound > typed)
    result = await session.execute(ordered.limit(size + 1))
    found = result.all() if rows else result.scalars().all()
    items = [(encode_cursor(tuple(_key_values(row, keys))), row) for row in found[:size]]
    return Page(items, len(found) > size, after is not None, int(total or 0))


def _parse(key: Any, raw: str) -> Any:
    kind = key.type.python_type
    return datetime.fromisoformat(raw) if kind is datetime else kind(raw)


def _key_values(row: Any, keys: tuple[Any, ...]) -> list[Any]:
    return [getattr(row, k.key) for k in keys]
