"""Scalars: exact decimals as strings, JSON for free-form documents."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, NewType

import strawberry


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError('send decimals as strings ("12.50") so that no precision is lost')
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a decimal number") from exc
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal number")
    return result


JSON = NewType("JSON", object)

SCALAR_MAP = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description='An exact decimal number, serialized as a string such as "12.50".',
        serialize=lambda v: format(v, "f"),
        parse_value=_parse_decimal,
    ),
    JSON: strawberry.scalar(name="JSON", description="A JSON value.", serialize=lambda v: v, parse_value=lambda v: v),
}
