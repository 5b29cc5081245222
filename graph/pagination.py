"""Relay connections with totalCount, built from a repository Page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types.nodes import SelectedField

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


def selects_total(info: Any, selected: list[Any] | None = None) -> bool:
    """Whether the query asks for the connection's totalCount (counting every matching row costs more than the
    page itself). A fragment in the selection counts as asking, to be safe. `selected`: `info.selected_fields`,
    when the caller has it already (Strawberry builds it anew on each access)."""
    return any(
        not isinstance(selection, SelectedField) or selection.name == "totalCount"
        for field in (info.selected_fields if selected is None else selected)
        for selection in field.selections
    )


def node_fields(info: Any, selected: list[Any] | None = None) -> set[str] | None:
    """The fields the query selects on the connection's nodes (under `edges { node }` and `nodes`), by their
    GraphQL names; None when it cannot tell (a fragment anywhere on the way): the caller then loads everything."""
    names: set[str] = set()
    for field in info.selected_fields if selected is None else selected:
        for selection in field.selections:
            if not isinstance(selection, SelectedField):
                return None
            if selection.name == "nodes":
                nodes = [selection]
            elif selection.name == "edges":
                nodes = []
                for edge_field in selection.selections:
                    if not isinstance(edge_field, SelectedField):
                        return None
                    if edge_field.name == "node":
                        nodes.append(edge_field)
            else:
                continue
            for node in nodes:
                for leaf in node.selections:
                    if not isinstance(leaf, SelectedField):
                        return None
                    names.add(leaf.name)
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
