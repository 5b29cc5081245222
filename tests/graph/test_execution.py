"""graph/execution.py: plain leaf fields read directly give what graphql-core's own execution gives, errors included.

In-process, on a schema of its own with the API's scalars: every value a plain field can hold (good ones, None where
the type forbids it, a value the scalar refuses, an exception, an awaitable, a list that isn't one), executed by
Strawberry's stock execution context and by ours, must give the same data and the same errors at the same paths.
"""

from __future__ import annotations

import asyncio
import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.schema.config import StrawberryConfig

from graph.execution import ExecutionContext
from graph.scalars import JSON, SCALAR_MAP


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.type
class Item:
    name: str
    note: str | None
    count: int
    amount: Decimal
    at: datetime | None
    colour: Colour
    tags: list[str]
    maybe_tags: list[str | None] | None
    data: JSON

    @strawberry.field
    def shout(self) -> str:  # a resolver: always graphql-core's way
        return self.name.upper()


@strawberry.type
class Holder:
    items: list[Item]
    first: Item | None
    maybe_items: list[Item | None] | None = None


VALUES: dict[str, st.SearchStrategy[Any]] = {}
_bad = st.sampled_from([None, ValueError("broken"), object(), "text", 1.5, ["a"], {"k": 1}])
VALUES = {
    "name": st.one_of(st.text(max_size=5), _bad),
    "note": st.one_of(st.none(), st.text(max_size=5), _bad),
    "count": st.one_of(st.integers(-(2**40), 2**40), _bad),
    "amount": st.one_of(st.decimals(allow_nan=False, allow_infinity=False, places=2), _bad),
    "at": st.one_of(st.none(), st.datetimes(timezones=st.just(UTC)), _bad),
    "colour": st.one_of(st.sampled_from(list(Colour)), _bad),
    "tags": st.one_of(st.lists(st.text(max_size=3), max_size=3), st.lists(st.one_of(st.text(max_size=2), _bad),
                                                                           max_size=3), _bad, st.just("abc")),
    "maybe_tags": st.one_of(st.none(), st.lists(st.one_of(st.none(), st.text(max_size=2)), max_size=3), _bad),
    "data": st.one_of(st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.none(), _bad),
}
items = st.builds(Item, **VALUES)

QUERY = """{ holder { items { name note count amount at colour tags maybeTags data shout again: name }
                      first { name count } } }"""
# Every field selected of the listed items plain: the lists are completed in one go (or graphql-core's way again).
PLAIN_QUERY = """{ holder { items { name note count amount at colour tags maybeTags data again: name }
                            maybeItems { count name } first { name count } } }"""


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    holder: dict[str, Holder] = {}

    @strawberry.type
    class Query:
        @strawberry.field
        async def holder(self) -> Holder:
            return holder["value"]

    config = StrawberryConfig(scalar_map=SCALAR_MAP)
    stock = strawberry.Schema(query=Query, config=config)
    ours = strawberry.Schema(query=Query, config=config, execution_context_class=ExecutionContext)
    stock.holder = ours.holder = holder  # type: ignore[attr-defined]
    return stock, ours


STOCK, OURS = _schemas()


def _outcome(schema: strawberry.Schema, value: Holder, query: str = QUERY) -> tuple[Any, list[tuple[str, Any]]]:
    schema.holder["value"] = value  # type: ignore[attr-defined]
    result = asyncio.run(schema.execute(query))
    return result.data, sorted((e.message, e.path) for e in result.errors or [])


@settings(max_examples=300, deadline=None)
@given(st.lists(items, max_size=4), st.one_of(st.none(), items),
       st.one_of(st.none(), st.lists(st.one_of(st.none(), items), max_size=3), _bad))
def test_plain_fields_read_directly_give_graphql_cores_data_and_errors(
    listed: list[Item], first: Item | None, maybe: Any
) -> None:
    holder = Holder(items=listed, first=first, maybe_items=maybe)
    assert _outcome(OURS, holder) == _outcome(STOCK, holder)
    assert _outcome(OURS, holder, PLAIN_QUERY) == _outcome(STOCK, holder, PLAIN_QUERY)


def test_an_awaitable_attribute_is_awaited_as_graphql_core_awaits_it() -> None:
    async def later() -> str:
        return "later"

    def holder() -> Holder:
        item = Item(name=later(), note=None, count=1, amount=Decimal("1.00"), at=None,  # type: ignore[arg-type]
                    colour=Colour.RED, tags=[], maybe_tags=None, data={})
        return Holder(items=[item], first=None)

    query = "{ holder { items { name count } } }"
    ours, stock = _outcome(OURS, holder(), query), _outcome(STOCK, holder(), query)
    assert ours == stock
    assert ours[0]["holder"]["items"][0]["name"] == "later"


def test_the_direct_path_is_taken_for_plain_fields() -> None:
    """Not a speed test: the direct path must actually be the one the plain fields take."""
    import graph.execution as execution

    taken: list[str] = []
    original = execution._completion

    def counting(field: Any) -> Any:
        complete = original(field)
        if complete is None:
            return None

        def wrapped(source: Any, is_awaitable: Any) -> Any:
            taken.append(type(source).__name__)
            return complete(source, is_awaitable)

        return wrapped

    execution._completions.clear()
    execution._completion = counting  # type: ignore[assignment]
    try:
        item = Item(name="a", note=None, count=1, amount=Decimal("1.00"), at=datetime(2026, 1, 1, tzinfo=UTC),
                    colour=Colour.BLUE, tags=["x"], maybe_tags=None, data={"k": 1})
        data, errors = _outcome(OURS, Holder(items=[item], first=None))
    finally:
        execution._completion = original  # type: ignore[assignment]
        execution._completions.clear()
    assert not errors
    assert data["holder"]["items"][0]["shout"] == "A"
    assert taken.count("Item") == 10  # every plain leaf of the item (and the alias), not the resolver


def test_a_list_of_plain_objects_is_completed_in_one_go() -> None:
    """Not a speed test: with every selected field plain, the list's entries are not completed one by one."""
    import graph.execution as execution

    item = Item(name="a", note=None, count=1, amount=Decimal("1.00"), at=None, colour=Colour.RED, tags=[],
                maybe_tags=None, data={})
    calls: list[str] = []
    original = execution.ExecutionContext.complete_list_item_value

    def counting(self: Any, *args: Any) -> Any:
        calls.append("entry")
        return original(self, *args)

    execution.ExecutionContext.complete_list_item_value = counting  # type: ignore[method-assign]
    try:
        data, errors = _outcome(OURS, Holder(items=[item, item], first=None, maybe_items=[None, item]), PLAIN_QUERY)
        assert not errors and data["holder"]["maybeItems"] == [None, {"count": 1, "name": "a"}]
        assert calls == []
        _outcome(OURS, Holder(items=[item, item], first=None))  # `shout` has a resolver: entries one by one
        assert calls == ["entry", "entry"]
    finally:
        execution.ExecutionContext.complete_list_item_value = original  # type: ignore[method-assign]
