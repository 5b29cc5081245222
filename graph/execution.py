"""How the schema's fields are executed: graphql-core's executor, with plain leaf fields read directly.

graphql-core executes every field the same way: it builds a resolve info (fourteen values), calls the field's
resolver (Strawberry's, which reads the attribute of the same Python name) and completes the value through the
type's layers (non-null, list, leaf). For a list of invoices that is about 8 µs per field, a third of the list's
CPU. Most fields of the types a list shows are plain: a Strawberry field without a resolver, permission or
extension, whose value is an attribute holding a scalar or enum (or a list of them). For those the attribute is
read and coerced here, without a resolve info: the same value, by the same rules (`complete_leaf_value`), inside
the loop over an object's fields. A list (or tuple) of objects whose selected fields are all plain becomes a list of
dicts in one pass, without graphql-core completing each entry.

Anything unusual about the value (None where the type forbids it, an exception, an awaitable, a value the scalar
refuses, a list that isn't one) is left to graphql-core: the field, or the whole list, is executed again the
ordinary way, so errors and their paths are exactly graphql-core's. Reading an attribute twice changes nothing.
"""

from __future__ import annotations

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
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.definition import is_leaf_type
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

Complete = Callable[[Any, Callable[[Any], bool]], Any]


class _Ordinary(Exception):
    """The value needs graphql-core's own completion (to raise its error, or to await it)."""


_ORDINARY = _Ordinary()
ORDINARY: Any = object()  # what `_directly` gives when the value needs graphql-core's own completion


def _directly(complete: Callable[..., Any], *args: Any) -> Any:
    """`complete(*args)`, or ORDINARY when it raised: graphql-core's own path then raises (and locates) it again."""
    try:
        return complete(*args)
    except Exception:
        return ORDINARY


def _leaf(type_: GraphQLOutputType) -> tuple[GraphQLLeafType, bool] | None:
    """(the leaf type, whether it is non-null), if `type_` is a leaf type, nullable or not."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    return (inner, non_null) if is_leaf_type(inner) else None


def _checked(value: Any, non_null: bool, is_awaitable: Callable[[Any], bool]) -> Any:
    """`value`, unless graphql-core must complete it itself (a null where the type forbids it, an exception, an
    awaitable): then _Ordinary."""
    if value is None:
        if non_null:
            raise _ORDINARY
    elif isinstance(value, Exception) or is_awaitable(value):
        raise _ORDINARY
    return value


def _coerced(value: Any, coerce: Callable[[Any], Any], non_null: bool, is_awaitable: Callable[[Any], bool]) -> Any:
    """`value` as graphql-core completes a leaf of its type, or _Ordinary when its own path must handle it."""
    if _checked(value, non_null, is_awaitable) is None:
        return None
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


Plan = Callable[[Any, Callable[[Any], bool]], Any]


def _object_plan(item_type: GraphQLOutputType, grouped_field_set: Any, defers: Any) -> Plan | None:
    """How to complete a list entry of `item_type` directly, if every field selected of it is a plain leaf field
    (no `__typename`, no deferred part, no type check of its own): a dict of the fields in their selected order."""
    non_null = isinstance(item_type, GraphQLNonNull)
    object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
    if not isinstance(object_type, GraphQLObjectType) or object_type.is_type_of is not None or defers:
        return None
    completions = _completions_of(object_type)
    fields = []
    for response_name, field_details_list in grouped_field_set.items():
        complete = completions.get(field_details_list[0].node.name.value)
        if complete is None:
            return None
        fields.append((response_name, complete))

    def complete_object(item: Any, is_awaitable: Callable[[Any], bool]) -> Any:
        if _checked(item, non_null, is_awaitable) is None:
            return None
        return {response_name: complete(item, is_awaitable) for response_name, complete in fields}

    return complete_object


def _each(plan: Plan, items: list[Any] | tuple[Any, ...], is_awaitable: Callable[[Any], bool]) -> list[Any]:
    return [plan(item, is_awaitable) for item in items]


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's execution, plain leaf fields read directly (the module docstring)."""

    def _plain(self) -> bool:
        middleware = self.middleware_manager
        return middleware is None or not middleware.middlewares  # no extension resolves fields (Strawberry's manager)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        if self._plain():
            complete = _completions_of(parent_type).get(field_details_list[0].node.name.value)
            if complete is not None:
                result = _directly(complete, source, self.is_awaitable)
                if result is not ORDINARY:
                    return result
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_fields` (3.3), with a plain leaf field completed in the loop itself: no path,
        no call through `execute_field`, no awaitable check of what is never awaitable."""
        if not self._plain():
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        completions = _completions_of(parent_type)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                complete = completions.get(field_details_list[0].node.name.value)
                if complete is not None:
                    result = _directly(complete, source_value, is_awaitable)
                    if result is not ORDINARY:
                        results[response_name] = result
                        continue
                result = super().execute_field(parent_type, source_value, field_details_list,
                                               Path(path, response_name, parent_type.name), position_context)
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # settled, as they may fail too (graphql-core's rule)
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        path: Path,
        items: Any,
        position_context: Any,
    ) -> Any:
        """A list (or tuple) of objects whose selected fields are all plain leaf fields, completed in one go; if any
        entry or value is unusual, the whole list again graphql-core's way (reading it twice changes nothing)."""
        if isinstance(items, list | tuple) and self._plain():
            plan = self._plan_of(item_type, field_details_list)
            if plan is not None and not self.get_stream_usage(field_details_list, path):
                completed = _directly(_each, plan, items, self.is_awaitable)
                if completed is not ORDINARY:
                    return completed
        return super().complete_iterable_value(item_type, field_details_list, info, path, items, position_context)

    def _plan_of(self, item_type: GraphQLOutputType, field_details_list: Any) -> Plan | None:
        plans: dict[tuple[Any, int], tuple[Any, Plan | None]] = self.__dict__.setdefault("_object_plans", {})
        key = (item_type, id(field_details_list))  # graphql-core's memo key, the list kept alive alongside
        found = plans.get(key)
        if found is None:
            object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
            plan = None
            if isinstance(object_type, GraphQLObjectType):
                grouped_field_set, defers, _ = self.collect_subfields(object_type, field_details_list)
                plan = _object_plan(item_type, grouped_field_set, defers)
            found = plans[key] = (field_details_list, plan)
        return found[1]
