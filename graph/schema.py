"""The schema: roots, scalars and the extensions every request runs through."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig

from graph import input_checks
from graph.analytics_queries import AnalyticsQueries
from graph.bank_queries import BankQueries
from graph.billing_queries import BillingQueries
from graph.catalog_queries import CatalogQueries, PricePreviewQueries
from graph.errors import MaskUnexpectedErrors
from graph.execution import ExecutionContext
from graph.metrics import OperationMetrics
from graph.mutations.access import AccessMutations
from graph.mutations.bank_statements import BankStatementMutations
from graph.mutations.billing import BillingMutations
from graph.mutations.catalog import CatalogMutations
from graph.mutations.credits import CreditMutations
from graph.mutations.customers import CustomerMutations
from graph.mutations.dunning import DunningMutations, DunningQueries
from graph.mutations.organization import OrganizationMutations
from graph.mutations.payments import PaymentMutations
from graph.mutations.portal import PortalMutations
from graph.mutations.second_factor import SecondFactorMutations
from graph.mutations.subscriptions import SubscriptionMutations, SubscriptionPreviewQueries
from graph.mutations.test_clocks import TestClockMutations
from graph.mutations.usage import UsageMutations
from graph.mutations.usage_alerts import UsageAlertMutations, UsageAlertQueries
from graph.mutations.webhooks import WebhookMutations
from graph.queries import AccessQueries
from graph.query_limits import ParseWithLimits, ValidationWithLimits
from graph.scalars import SCALAR_MAP
from graph.subscriptions import Live
from graph.test_clock_queries import TestClockQueries
from graph.webhook_queries import WebhookQueries

log = logging.getLogger("valueverse.graph")


class ValueVerseSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: object = None) -> None:
        """Client mistakes are not server errors; unexpected ones are logged where they are masked."""
        for error in errors:
            log.debug("graphql error: %s", error.message)


@strawberry.type
class Query(
    AccessQueries,
    CatalogQueries,
    PricePreviewQueries,
    SubscriptionPreviewQueries,
    BillingQueries,
    AnalyticsQueries,
    WebhookQueries,
    TestClockQueries,
    BankQueries,
    DunningQueries,
    UsageAlertQueries,
):
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
    TestClockMutations,
    PaymentMutations,
    DunningMutations,
    WebhookMutations,
    BankStatementMutations,
    PortalMutations,
    SecondFactorMutations,
    UsageAlertMutations,
):
    pass


def build_schema() -> strawberry.Schema:
    input_checks.install(Query, Mutation, Live)
    # The limits (graph/limits.py) live in the parse and validation steps, whose caches keep working:
    # ParserCache is keyed on the text and the parse limits, ValidationCache on the document and
    # graphql-core's own rule classes (no rule is built per request, which would miss every time).
    return ValueVerseSchema(
        query=Query,
        mutation=Mutation,
        subscription=Live,
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALAR_MAP),
        execution_context_class=ExecutionContext,
        extensions=[
            OperationMetrics,
            MaskUnexpectedErrors,
            ParseWithLimits,
            ValidationWithLimits,
        ],
    )


schema = build_schema()


def printed_schema() -> str:
    return schema.as_str() + "\n"
