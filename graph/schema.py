"""The schema: roots, scalars and the extensions every request runs through."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, ParserCache, QueryDepthLimiter, ValidationCache
from strawberry.schema.config import StrawberryConfig

from graph.catalog_queries import CatalogQueries
from graph.errors import MaskUnexpectedErrors
from graph.metrics import OperationMetrics
from graph.mutations.access import AccessMutations
from graph.mutations.catalog import CatalogMutations
from graph.mutations.customers import CustomerMutations
from graph.mutations.organization import OrganizationMutations
from graph.mutations.subscriptions import SubscriptionMutations
from graph.mutations.usage import UsageMutations
from graph.queries import AccessQueries
from graph.scalars import SCALAR_MAP
from graph.subscriptions import Live

log = logging.getLogger("valueverse.graph")
MAX_DEPTH = 12
MAX_ALIASES = 30


class ValueVerseSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: object = None) -> None:
        """Client mistakes are not server errors; unexpected ones are logged where they are masked."""
        for error in errors:
            log.debug("graphql error: %s", error.message)


@strawberry.type
class Query(AccessQueries, CatalogQueries):
    pass


@strawberry.type
class Mutation(
    AccessMutations, OrganizationMutations, CatalogMutations, CustomerMutations, SubscriptionMutations, UsageMutations
):
    pass


def build_schema() -> strawberry.Schema:
    return ValueVerseSchema(
        query=Query,
        mutation=Mutation,
        subscription=Live,
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALAR_MAP),
        extensions=[
            OperationMetrics,
            MaskUnexpectedErrors,
            ParserCache,
            ValidationCache,
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        ],
    )


schema = build_schema()


def printed_schema() -> str:
    return schema.as_str() + "\n"
