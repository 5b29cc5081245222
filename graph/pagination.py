"""Relay connections with totalCount, built from a repository Page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from graphql import FieldNode

from db.repositories.pagination import InvalidCursor, Page
from graph.errors import PublicError

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    node: T
    cursor: str


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection(page: Page[Any], to_node: Callable[[Any], T]) -> Connection[T]:
    edges = [Edge(node=to_node(item), cursor=cursor) for cursor, item in page.items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total_count,
    )


def _children(field: FieldNode) -> tuple[Any, ...]:
    return tuple(field.selection_set.selections) if field.selection_set else ()


def selects_total(info: Any) -> bool:
    """Whether the query asks for the connection's totalCount (counting every matching row costs more than the
    page itself). A fragment in the selection counts as asking, to be safe. Read off graphql-core's own syntax
    tree: Strawberry's `info.selected_fields` builds a converted copy of it on each access."""
    return any(
        not isinstance(selection, FieldNode) or selection.name.value == "totalCount"
        for field in info._raw_info.field_nodes
        for selection in _children(field)
    )


def node_fields(info: Any) -> set[str] | None:
    """The fields the query selects on the connection's nodes (under `edges { node }` and `nodes`), by their
    GraphQL names; None when it cannot tell (a fragment anywhere on the way): the caller then loads everything."""
    names: set[str] = set()
    for field in info._raw_info.field_nodes:
        for selection in _children(field):
            if not isinstance(selection, FieldNode):
                return None
            if selection.name.value == "nodes":
                nodes = [selection]
            elif selection.name.value == "edges":
                nodes = []
                for edge_field in _children(selection):
                    if not isinstance(edge_field, FieldNode):
                        return None
                    if edge_field.name.value == "node":
                        nodes.append(edge_field)
            else:
                continue
            for node in nodes:
                for leaf in _children(node):
                    if not isinstance(leaf, FieldNode):
                        return None
                    names.add(leaf.name.value)
    return names


class BadPageRequest(PublicError):
    code = "BAD_PAGINATION"


async def fetch_page(load: Callable[[], Any]) -> Page[Any]:
    """Run a repository list call, turning bad `first`/`after` into a client error."""
    try:
        return await load()
    except InvalidCursor as exc:
        raise BadPageRequest(str(exc)) from exc
    except ValueError as exc:
        raise BadPageRequest(str(exc)) from exc
