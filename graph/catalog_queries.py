"""Queries over the catalog, customers, subscriptions and usage (VIEWER or stronger)."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.types import Info

from db.repositories.catalog import BillableMetricRepository, PlanRepository
from db.repositories.customers import CustomerRepository
from db.repositories.subscriptions import SubscriptionRepository
from domain.errors import DomainError
from domain.pricing import ChargeModel as ChargeModelEnum
from graph.context import Context
from graph.errors import PublicError, UserError, user_error
from graph.pagination import Connection, connection, fetch_page
from graph.permissions import current_actor, portal_customer
from graph.types.billable_metric import BillableMetric
from graph.types.charge_properties import ChargePropertiesInput
from graph.types.customer import Customer
from graph.types.enums import ChargeModel
from graph.types.plan import Plan
from graph.types.subscription import Subscription
from graph.types.usage import CustomerUsage, FeeBreakdown
from services import catalog
from services.usage import cache, rating


@strawberry.type
class CatalogQueries:
    @strawberry.field
    async def billable_metric(self, info: Info[Context, None], code: str) -> BillableMetric | None:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            metric = await BillableMetricRepository(session, actor.organization_id).by_code(code)
            return BillableMetric.of(metric) if metric else None

    @strawberry.field
    async def billable_metrics(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[BillableMetric]:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            repo = BillableMetricRepository(session, actor.organization_id)
            return connection(await fetch_page(lambda: repo.list(first=first, after=after)), BillableMetric.of)

    @strawberry.field
    async def plan(self, info: Info[Context, None], code: str) -> Plan | None:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            plan = await PlanRepository(session, actor.organization_id).by_code(code)
            return Plan.of(plan) if plan else None

    @strawberry.field
    async def plans(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[Plan]:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            repo = PlanRepository(session, actor.organization_id)
            return connection(await fetch_page(lambda: repo.list(first=first, after=after)), Plan.of)

    @strawberry.field(description="A customer by its externalId (a portal link: its own customer only).")
    async def customer(self, info: Info[Context, None], external_id: str) -> Customer | None:
        actor, _ = portal_customer(info, external_id)
        async with info.context.db.read() as session:
            customer = await CustomerRepository(session, actor.organization_id).by_external_id(external_id)
            return Customer.of(customer) if customer else None

    @strawberry.field(description="Customers, oldest first; `search` matches name, legal name, externalId, email.")
    async def customers(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None, search: str | None = None
    ) -> Connection[Customer]:
        actor = current_actor(info)
        async with info.context.db.read() as session:
            repo = CustomerRepository(session, actor.organization_id)
            return connection(await fetch_page(lambda: repo.list(first=first, after=after, search=search)), Customer.of)

    @strawberry.field(description="A subscription by its externalId (a portal link: its own customer's only).")
    async def subscription(self, info: Info[Context, None], external_id: str) -> Subscription | None:
        actor, _ = portal_customer(info, None)
        async with info.context.db.read() as session:
            row = await SubscriptionRepository(session, actor.organization_id).by_external_id(external_id)
            if row is None or (actor.is_portal and row.customer_id != actor.customer_id):
                return None
            return Subscription.of(row)

    @strawberry.field
    async def subscriptions(
        self,
        info: Info[Context, None],
        customer_external_id: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Subscription]:
        actor, customer_external_id = portal_customer(info, customer_external_id)
        async with info.context.db.read() as session:
            repo = SubscriptionRepository(session, actor.organization_id)
            page = await fetch_page(
                lambda: repo.list(first=first, after=after, customer_external_id=customer_external_id)
            )
            return connection(page, Subscription.of)

    @strawberry.field(description="The current period's usage charges, each rounded as an invoice line would be.")
    async def customer_usage(
        self, info: Info[Context, None], customer_external_id: str, subscription_external_id: str | None = None
    ) -> CustomerUsage:
        actor, _ = portal_customer(info, customer_external_id)
        key = (customer_external_id, subscription_external_id)
        async with info.context.db.read() as session:
            try:
                answer = await cache.answer(
                    session,
                    actor.organization_id,
                    customer_external_id,
                    subscription_external_id,
                    info.context.clock.now(),
                    found=info.context.usage_lookups.get(key),  # read with the kept responses' versions, if it was
                )
            except rating.UsageUnavailable as exc:
                raise PublicError(exc.message, exc.code) from None
            info.context.answered_from(key, answer.kept)
            return CustomerUsage.of(answer.report)


@strawberry.input(description="A charge as ChargeInput describes it, and the quantity to price.")
class ChargePricePreviewInput:
    model: ChargeModel
    properties: ChargePropertiesInput
    quantity: Decimal = strawberry.field(description="Units of the metric in a period (not negative).")
    currency: str = strawberry.field(description="ISO 4217: the amount is rounded to its minor unit.")


@strawberry.type(description="What a charge costs for a quantity, priced by the same rule as an invoice line.")
class ChargePricePreview:
    currency: str
    units: Decimal
    amount: Decimal = strawberry.field(description="Rounded once to the currency's minor unit, as an invoice line.")
    unrounded_amount: Decimal
    breakdown: list[FeeBreakdown] = strawberry.field(description="Each range or package step, adding up to it.")


@strawberry.type
class ChargePricePreviewPayload:
    preview: ChargePricePreview | None
    user_errors: list[UserError]


@strawberry.type
class PricePreviewQueries:
    @strawberry.field(
        description="Price a quantity for a charge as a plan would bill it; the properties are checked as "
        "createPlan checks them (userErrors name the field). Any staff role or API key; nothing is written."
    )
    def charge_price_preview(
        self, info: Info[Context, None], input: ChargePricePreviewInput
    ) -> ChargePricePreviewPayload:
        current_actor(info)
        try:
            result = catalog.preview_charge_price(
                ChargeModelEnum(input.model), input.properties.as_raw(), input.quantity, input.currency
            )
        except DomainError as exc:
            return ChargePricePreviewPayload(preview=None, user_errors=[user_error(exc)])
        return ChargePricePreviewPayload(
            preview=ChargePricePreview(
                currency=result.currency,
                units=result.fee.units,
                amount=result.amount,
                unrounded_amount=result.fee.amount,
                breakdown=[FeeBreakdown.of(line) for line in result.fee.breakdown],
            ),
            user_errors=[],
        )
