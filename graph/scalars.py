"""Scalars: exact decimals as strings, JSON for free-form documents."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, NewType

import strawberry
from graphql import (
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)


def _serialize_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _serialize_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_serialize_json(v) for v in value]
    return value


NUMBER_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError('send decimals as strings ("12.50") so that no precision is lost')
    if isinstance(value, str) and not NUMBER_TEXT.fullmatch(value):
        raise ValueError(f"{value!r} is not a decimal number (JSON number text such as \"12.50\")")
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a decimal number") from exc
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal number")
    return result


JSON = NewType("JSON", object)


def _exact_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    """A literal as a value, with numbers read exactly as written (Decimal, never float)."""
    if isinstance(node, FloatValueNode):
        return Decimal(node.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _exact_literal(f.value, variables) for f in node.fields}
    if isinstance(node, ListValueNode):
        return [_exact_literal(v, variables) for v in node.values]
    if isinstance(node, VariableNode):
        return (variables or {}).get(node.name.value)
    return value_from_ast_untyped(node, variables)


def _decimal_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Decimal:
    if isinstance(node, FloatValueNode | IntValueNode | StringValueNode):
        return _parse_decimal(node.value)
    return _parse_decimal(_exact_literal(node, variables))


SCALAR_MAP = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description='An exact decimal number, serialized as a string such as "12.50".',
        serialize=lambda v: format(v, "f"),
        parse_value=_parse_decimal,
        parse_literal=_decimal_literal,
    ),
    JSON: strawberry.scalar(
        name="JSON",
        description="A JSON value; numbers are read exactly (as decimals).",
        serialize=_serialize_json,
        parse_value=lambda v: v,
        parse_literal=_exact_literal,
    ),
}


def price(value: Decimal | None) -> Decimal | None:
    """A price read from a NUMERIC(38, 12) column without its storage padding ("10", not "10.000000000000")."""
    if value is None:
        return None
    return Decimal(format(value.normalize(), "f"))
