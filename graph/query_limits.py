"""GraphQL operations checked against graph/limits.py before graphql-core validates them.

graphql-core's validation is quadratic in repeated fields (OverlappingFieldsCanBeMerged compares
every pair), and Python recursion follows fragment chains; so every document is first walked once,
fragments memoised, by `check_document`: depth, nesting, aliases, fields, repeats, fragment cycles,
introspection nesting, page sizes and the query cost. A document over a limit is refused with
coded errors and never validated, let alone executed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.error import GraphQLSyntaxError
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from strawberry.extensions import ParserCache, ValidationCache

from graph import limits as L

INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef, "__typename": TypeNameMetaFieldDef}


@dataclass
class Facts:
    """What a selection set asks for, its fragments expanded (relative to where it starts)."""

    depth: int = 0
    nesting: int = 0
    fields: int = 0
    aliases: int = 0
    cost: int = 0
    lists: int = 0  # introspection: nested list fields


class _Refused(Exception):
    def __init__(self, error: GraphQLError) -> None:
        self.error = error


class _Walk:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any] | None) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.defaults: dict[str, Any] = {}
        for op in document.definitions:
            if isinstance(op, OperationDefinitionNode):
                for var in op.variable_definitions or ():
                    if isinstance(var.default_value, IntValueNode):
                        self.defaults.setdefault(var.variable.name.value, int(var.default_value.value))
        self.memo: dict[tuple[str, int | None], Facts] = {}
        self.spreading: list[str] = []
        self.first_variables: set[str] = set()

    def error(self, code: str, message: str, **details: Any) -> NoReturn:
        """The document is refused: stop walking it (the walk of a bomb stays as short as its discovery)."""
        raise _Refused(L.limit_error(message, code, **details))

    # -- selections ---------------------------------------------------------------------------------

    def selection_set(self, node: SelectionSetNode, parent: Any, level: int, page: int | None) -> Facts:
        facts = Facts()
        if level > L.MAX_NESTING:
            self.error(
                L.QUERY_TOO_DEEP,
                f"selections are nested more than {L.MAX_NESTING} deep (fields, fragments and spreads)",
                limit=L.MAX_NESTING,
            )
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                part = self.field(selection, parent, level, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition else parent
                part = self.selection_set(selection.selection_set, scope, level + 1, page)
                part.nesting += 1
            else:
                part = self.spread(selection, level, page)
            facts.depth = max(facts.depth, part.depth)
            facts.nesting = max(facts.nesting, part.nesting)
            facts.lists = max(facts.lists, part.lists)
            facts.fields += part.fields
            facts.aliases += part.aliases
            facts.cost += part.cost
        return facts

    def spread(self, node: FragmentSpreadNode, level: int, page: int | None) -> Facts:
        name = node.name.value
        definition = self.fragments.get(name)
        if definition is None:
            return Facts()  # unknown fragment: validation says so
        if name in self.spreading:
            chain = " → ".join([*self.spreading[self.spreading.index(name):], name])
            self.error(L.FRAGMENT_CYCLE, f"fragment '{name}' spreads itself ({chain})")
        key = (name, page)
        if key not in self.memo:
            self.spreading.append(name)
            scope = self.schema.get_type(definition.type_condition.name.value)
            self.memo[key] = self.selection_set(definition.selection_set, scope, level + 1, page)
            self.spreading.pop()
        facts = self.memo[key]
        return Facts(facts.depth, facts.nesting + 1, facts.fields, facts.aliases, facts.cost, facts.lists)

    def field(self, node: FieldNode, parent: Any, level: int, page: int | None) -> Facts:
        name = node.name.value
        facts = Facts(fields=1, aliases=1 if node.alias else 0)
        if name in META_FIELDS:
            definition = META_FIELDS[name]
        else:
            definition = getattr(parent, "fields", {}).get(name) if parent is not None else None
        # Introspection is priced by its own nesting limit: its lists are the schema's, never the data's.
        introspection = name in INTROSPECTION_ROOTS or getattr(parent, "name", "").startswith("__")
        inner, is_list = _unwrap(definition.type) if definition is not None else (None, False)
        first = self.page_size(node) if definition is not None and "first" in definition.args else None
        if node.selection_set is None:
            facts.cost = 0 if introspection else self.price(parent, name, leaf=True)
            return facts
        child_page = first if first is not None and inner is not None and inner.name.endswith("Connection") else None
        child = self.selection_set(node.selection_set, inner, level + 1, child_page)
        facts.fields += child.fields
        facts.aliases += child.aliases
        facts.depth = child.depth + (0 if introspection and name == "ofType" else 1)
        facts.nesting = child.nesting + 1
        facts.lists = child.lists + (1 if introspection and is_list else 0)
        if introspection:
            if facts.lists > L.MAX_INTROSPECTION_LISTS:
                self.error(
                    L.QUERY_TOO_DEEP,
                    f"introspection nests {facts.lists} lists; at most {L.MAX_INTROSPECTION_LISTS} "
                    "(as __schema { types { fields { args } } })",
                    limit=L.MAX_INTROSPECTION_LISTS,
                )
            return facts
        size = (page if page is not None else L.LIST_SIZE) if is_list else 1
        facts.cost = self.price(parent, name) + size * child.cost
        return facts

    # -- arguments and prices ---------------------------------------------------------------------

    def page_size(self, node: FieldNode) -> int:
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                variable = argument.value.name.value
                self.first_variables.add(variable)
                value = self.variables.get(variable, self.defaults.get(variable))
            elif not isinstance(argument.value, NullValueNode):
                return L.DEFAULT_PAGE  # not an Int: validation says so
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            return L.DEFAULT_PAGE
        if not 0 <= value <= L.MAX_PAGE:
            self.error(L.BAD_PAGINATION, f"first must be between 0 and {L.MAX_PAGE}", limit=L.MAX_PAGE)
        return value

    def price(self, parent: Any, name: str, leaf: bool = False) -> int:
        """A leaf costs nothing unless it has a price of its own or is a mutation or subscription."""
        type_name = getattr(parent, "name", None)
        if (type_name, name) in L.PRICES:
            return L.PRICES[(type_name, name)]
        if parent is not None and parent is self.schema.mutation_type:
            return L.MUTATION_PRICE
        if parent is not None and parent is self.schema.subscription_type:
            return L.SUBSCRIPTION_PRICE
        return 0 if leaf else L.DEFAULT_PRICE

    # -- the document -------------------------------------------------------------------------------

    def document(self, document: DocumentNode) -> list[GraphQLError]:
        try:
            self.check(document)
        except _Refused as refused:
            return [refused.error]
        return []

    def check(self, document: DocumentNode) -> None:
        fields = aliases = 0
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        for operation in operations:
            root = self.schema.get_root_type(operation.operation)
            facts = self.selection_set(operation.selection_set, root, 1, None)
            fields += facts.fields
            aliases += facts.aliases
            if facts.depth > L.MAX_DEPTH:
                self.error(
                    L.QUERY_TOO_DEEP,
                    f"the operation is {facts.depth} levels deep (fragments included); at most {L.MAX_DEPTH}",
                    limit=L.MAX_DEPTH,
                )
            if facts.cost > L.MAX_COST:
                self.error(
                    L.QUERY_TOO_COSTLY,
                    f"the operation would cost {facts.cost}; at most {L.MAX_COST} (connections count `first` "
                    f"items, default {L.DEFAULT_PAGE}; other lists {L.LIST_SIZE}; see Limits in the API guide)",
                    limit=L.MAX_COST,
                    cost=facts.cost,
                )
        unspread = [d for name, d in self.fragments.items() if not any(n == name for n, _ in self.memo)]
        for definition in unspread:  # validation walks fragments that are never spread too
            self.spreading.append(definition.name.value)
            scope = self.schema.get_type(definition.type_condition.name.value)
            facts = self.selection_set(definition.selection_set, scope, 1, None)
            self.spreading.pop()
            fields += facts.fields
            aliases += facts.aliases
        if aliases > L.MAX_ALIASES:
            self.error(
                L.TOO_MANY_ALIASES, f"{aliases} aliases (fragments counted where spread); at most {L.MAX_ALIASES}",
                limit=L.MAX_ALIASES,
            )
        if fields > L.MAX_FIELDS:
            self.error(
                L.TOO_MANY_FIELDS,
                f"the document selects {fields} fields (fragments counted where spread); at most {L.MAX_FIELDS}",
                limit=L.MAX_FIELDS,
            )
        # Bounded now (no cycle, at most MAX_FIELDS fields): how often each response path is selected.
        for operation in operations:
            self.repeats([operation.selection_set], ())
        for definition in unspread:
            self.repeats([definition.selection_set], (definition.name.value,))

    def repeats(self, selection_sets: list[SelectionSetNode], path: tuple[str, ...]) -> None:
        """graphql-core compares every pair of fields answering the same response path: keep those few."""
        groups: dict[str, list[SelectionSetNode]] = {}
        counts: dict[str, int] = {}
        pending = list(selection_sets)
        while pending:
            for selection in pending.pop().selections:
                if isinstance(selection, FieldNode):
                    name = selection.alias.value if selection.alias else selection.name.value
                    counts[name] = counts.get(name, 0) + 1
                    if selection.selection_set is not None:
                        groups.setdefault(name, []).append(selection.selection_set)
                elif isinstance(selection, InlineFragmentNode):
                    pending.append(selection.selection_set)
                elif (fragment := self.fragments.get(selection.name.value)) is not None:
                    pending.append(fragment.selection_set)
        for name, count in counts.items():
            if count > L.MAX_REPEATS:
                where = ".".join((*path, name))
                self.error(
                    L.TOO_MANY_FIELDS,
                    f"'{where}' is selected {count} times (fragments and repeated parents included); "
                    f"at most {L.MAX_REPEATS}",
                    limit=L.MAX_REPEATS,
                )
        for name, children in groups.items():
            self.repeats(children, (*path, name))


def _unwrap(type_: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


# A document's verdict depends on it and on the variables it uses as `first`: remembered for the
# documents ParserCache keeps (the same object for the same text), by identity, not by hashing the tree.
_CACHE_SIZE = 256
_verdicts: OrderedDict[int, tuple[DocumentNode, frozenset[str], dict[tuple[Any, ...], list[GraphQLError]]]] = (
    OrderedDict()
)


def check_document(
    schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any] | None
) -> list[GraphQLError]:
    """The limits this document breaks with these variables ([] when none)."""
    entry = _verdicts.get(id(document))
    if entry is not None and entry[0] is document:
        _verdicts.move_to_end(id(document))
        key = _variables_key(entry[1], variables)
        if key is not None and key in entry[2]:
            return entry[2][key]
    walk = _Walk(schema, document, variables)
    errors = walk.document(document)
    used = frozenset(walk.first_variables)
    key = _variables_key(used, variables)
    if key is not None:
        if entry is None or entry[0] is not document:
            entry = (document, used, {})
            _verdicts[id(document)] = entry
            if len(_verdicts) > _CACHE_SIZE:
                _verdicts.popitem(last=False)
        if len(entry[2]) < 16:
            entry[2][key] = errors
    return errors


def _variables_key(names: frozenset[str], variables: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if not names:
        return ()
    values = tuple((variables or {}).get(name) for name in sorted(names))
    return values if all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values) else None


# --- the extensions ---------------------------------------------------------------------------------


class ParseWithLimits(ParserCache):
    """Strawberry's parser cache, with the document's size, tokens and comments bounded while parsing."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query or ""
        if len(query) > L.MAX_DOCUMENT_CHARS:
            raise L.limit_error(
                f"the document is {len(query)} characters long; at most {L.MAX_DOCUMENT_CHARS}",
                L.DOCUMENT_TOO_LARGE, limit=L.MAX_DOCUMENT_CHARS,
            )
        try:
            context.graphql_document = self.cached_parse_document(
                query, max_lexical_tokens=L.MAX_TOKENS, max_comments=L.MAX_COMMENTS
            )
        except GraphQLSyntaxError as error:
            if "nested too deeply" in error.message:
                raise L.limit_error("the document is nested too deeply to parse", L.QUERY_TOO_DEEP) from None
            if "Parsing aborted" in error.message:
                raise L.limit_error(
                    f"the document has more than {L.MAX_TOKENS} tokens or {L.MAX_COMMENTS} comments",
                    L.TOO_MANY_TOKENS, limit=L.MAX_TOKENS,
                ) from None
            raise
        yield


class ValidationWithLimits(ValidationCache):
    """Strawberry's validation cache, after check_document: a document over a limit is not validated."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        errors = check_document(context.schema._schema, context.graphql_document, context.variables)
        if errors:
            context.pre_execution_errors = errors
            yield
            return
        yield from super().on_validate()
