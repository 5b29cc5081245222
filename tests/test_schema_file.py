from pathlib import Path

from graph.schema import printed_schema


def test_committed_schema_equals_the_printed_schema() -> None:
    committed = (Path(__file__).parent.parent / "schema.graphql").read_text()
    assert committed == printed_schema(), "schema.graphql is stale: run `make schema` and commit it"
