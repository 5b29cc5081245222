"""How the schema's fields are executed: graphql-core's executor, with plain leaf fields read directly.

graphql-core executes every field the same way: it builds a resolve info (fourteen values), calls the field's
resolver (Strawberry's, which reads the attribute of the same Python name) and completes the value through the
type's layers (non-null, list, leaf). For a list of invoices that is about 8 µs per field, a third of the list's
CPU. Most fields of the types a list shows are plain: a Strawberry field without a resolver, permission or
extension, whose value is an attribute holding a scalar or enum (or a list of them). For those the attribute is
read and coerced here, without a resolve info: the same value, by the same rules (`complete_leaf_value`).

Anything unusual about the value (None where the type forbids it, an exception, an awaitable, a value the scalar
refuses, a list that isn't one) is left to graphql-core: the field is executed again the ordinary way, so errors
and their paths are exactly graphql-core's. Reading an attribute twice changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
)
from graphql.type.definition import is_leaf_type
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

Complete = Callable[[Any, Callable[[Any], bool]], Any]


class _Ordinary(Exception):
    """The value needs graphql-core's own completion (to raise its error, or to await it)."""


_ORDINARY = _Ordinary()


def _leaf(type_: GraphQLOutputType) -> tuple[GraphQLLeafType, bool] | None:
    """(the leaf type, whether it is non-null), if `type_` is a leaf type, nullable or not."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    return (inner, non_null) if is_leaf_type(inner) else None


def _coerced(value: Any, coerce: Callable[[Any], Any], non_null: bool, is_awaitable: Callable[[Any], bool]) -> Any:
    """`value` as graphql-core completes a leaf of its type, or _Ordinary when its own path must handle it."""
    if value is None:
        if non_null:
            raise _ORDINARY
        return None
    if isinstance(value, Exception) or is_awaitable(value):
        raise _ORDINARY
    coerced = coerce(value)
    if coerced is None or coerced is Undefined:
        raise _ORDINARY
    return coerced


def _completion(field: GraphQLField) -> Complete | None:
    """How to read and complete `field` directly, if it is a plain leaf field (or a list of leaves)."""
    if not getattr(field.resolve, "_is_default", False):  # Strawberry's marker of a field without a resolver
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or definition.base_resolver is not None or definition.extensions:
        return None
    name, get = definition.python_name, definition.default_resolver
    leaf = _leaf(field.type)
    if leaf is not None:
        coerce, non_null = leaf[0].coerce_output_value, leaf[1]

        def complete_leaf(source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
            return _coerced(get(source, name), coerce, non_null, is_awaitable)

        return complete_leaf
    non_null = isinstance(field.type, GraphQLNonNull)
    list_type = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(list_type, GraphQLList):
        return None
    item = _leaf(list_type.of_type)
    if item is None:
        return None
    coerce_item, item_non_null = item[0].coerce_output_value, item[1]

    def complete_leaves(source: Any, is_awaitable: Callable[[Any], bool]) -> Any:
        value = get(source, name)
        if value is None:
            if non_null:
                raise _ORDINARY
            return None
        if not isinstance(value, list | tuple):
            raise _ORDINARY
        return [_coerced(entry, coerce_item, item_non_null, is_awaitable) for entry in value]

    return complete_leaves


_completions: dict[GraphQLObjectType, dict[str, Complete]] = {}


def _completions_of(parent_type: GraphQLObjectType) -> dict[str, Complete]:
    found = _completions.get(parent_type)
    if found is None:
        found = {}
        for name, field in parent_type.fields.items():
            complete = _completion(field)
            if complete is not None:
                found[name] = complete
        _completions[parent_type] = found
    return found


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's execution, plain leaf fields read directly (the module docstring)."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        middleware = self.middleware_manager
        if middleware is None or not middleware.middlewares:  # no extension resolves fields (Strawberry's manager)
            complete = _completions_of(parent_type).get(field_details_list[0].node.name.value)
            if complete is not None:
                with contextlib.suppress(Exception):  # graphql-core's own path below raises (and locates) it again
                    return complete(source, self.is_awaitable)
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
