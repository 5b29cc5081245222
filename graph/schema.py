"""The schema: roots, scalars and the extensions every request runs through."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.config import StrawberryConfig

from graph.billing_queries import BillingQueries
from graph.catalog_queries import CatalogQueries
from graph.errors import MaskUnexpectedErrors
from graph.metrics import OperationMetrics
from graph.mutations.access import AccessMutations
from graph.mutations.billing import BillingMutations
from graph.mutations.catalog import CatalogMutations
from graph.mutations.credits import CreditMutations
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


# The rule classes are built once: ValidationCache keys on them, so a class built per request
# (as QueryDepthLimiter/MaxAliasesLimiter do) would make every validation a cache miss.
LIMIT_RULES = [depth_validator(MAX_DEPTH, None), aliases_validator(MAX_ALIASES)]


class RequestLimits(AddValidationRules):
    """Query depth and alias limits."""

    def __init__(self) -> None:
        super().__init__(LIMIT_RULES)


class ValueVerseSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: object = None) -> None:
        """Client mistakes are not server errors; unexpected ones are logged where they are masked."""
        for error in errors:
            log.debug("graphql error: %s", error.message)


@strawberry.type
class Query(AccessQueries, CatalogQueries, BillingQueries):
    pass


@strawberry.type
class Mutation(
    AccessMutations,
    OrganizationMutations,
    CatalogMutations,
    CustomerMutations,
    SubscriptionMutations,
    UsageMutations,
    BillingMutations,
    CreditMutations,
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
            RequestLimits,
        ],
    )


schema = build_schema()


def printed_schema() -> str:
    return schema.as_str() + "\n"
