"""Customers."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from db.models import Role
from graph.context import Context
from graph.errors import UserError
from graph.mutations.common import run_for_customer, run_use_case
from graph.scalars import JSON
from graph.types.customer import Customer
from services import customers


@strawberry.input
class CreateCustomerInput:
    external_id: str
    name: str | None = None
    legal_name: str | None = None
    email: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    currency: str | None = None
    timezone: str | None = None
    tax_identification_number: str | None = None
    tax_exempt: bool = False
    metadata: JSON | None = None
    test_clock_id: strawberry.ID | None = strawberry.field(
        default=None, description="TEST organizations: the customer lives on this test clock, for good."
    )


@strawberry.input(description="Fields left out stay as they are; null clears an optional field.")
class UpdateCustomerInput:
    external_id: str
    name: str | None = strawberry.UNSET
    legal_name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    address_line1: str | None = strawberry.UNSET
    address_line2: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    state: str | None = strawberry.UNSET
    postal_code: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    currency: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    tax_identification_number: str | None = strawberry.UNSET
    tax_exempt: bool | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET
    test_clock_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Fixed at creation: only the customer's own clock is accepted."
    )


@strawberry.input(
    description="What a customer may change itself: fields left out stay as they are; null clears an optional field."
)
class UpdatePortalBillingDetailsInput:
    customer_external_id: str | None = strawberry.field(
        default=None, description="A portal link: its own customer (left out, or its own id); staff: required."
    )
    name: str | None = strawberry.UNSET
    legal_name: str | None = strawberry.UNSET
    email: str | None = strawberry.field(default=strawberry.UNSET, description="Where invoices are sent.")
    address_line1: str | None = strawberry.UNSET
    address_line2: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    state: str | None = strawberry.UNSET
    postal_code: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    tax_identification_number: str | None = strawberry.UNSET


@strawberry.input
class DeleteCustomerInput:
    external_id: str


@strawberry.type
class CustomerPayload:
    customer: Customer | None
    user_errors: list[UserError]


FIELDS = [f for f in customers.CustomerFields.__dataclass_fields__]


def _fields(input: CreateCustomerInput | UpdateCustomerInput) -> customers.CustomerFields:
    values = {}
    for name in FIELDS:
        value = getattr(input, name)
        values[name] = customers.UNSET if value is strawberry.UNSET else value
    return customers.CustomerFields(**values)


def _billing_details(input: UpdatePortalBillingDetailsInput) -> customers.CustomerFields:
    values = {}
    for name in customers.BILLING_DETAILS:
        value = getattr(input, name)
        values[name] = customers.UNSET if value is strawberry.UNSET else value
    return customers.CustomerFields(**values)


@strawberry.type
class CustomerMutations:
    @strawberry.mutation(description="Add a customer (FINANCE).")
    async def create_customer(self, info: Info[Context, None], input: CreateCustomerInput) -> CustomerPayload:
        customer, errors = await run_use_case(
            info,
            Role.FINANCE,
            lambda uow, a: customers.create_customer(uow, a, input.external_id, _fields(input), input.test_clock_id),
        )
        return CustomerPayload(customer=Customer.of(customer) if customer else None, user_errors=errors)

    @strawberry.mutation(description="Change a customer (FINANCE).")
    async def update_customer(self, info: Info[Context, None], input: UpdateCustomerInput) -> CustomerPayload:
        customer, errors = await run_use_case(
            info,
            Role.FINANCE,
            lambda uow, a: customers.update_customer(
                uow,
                a,
                input.external_id,
                _fields(input),
                customers.UNSET if input.test_clock_id is strawberry.UNSET else input.test_clock_id,
            ),
        )
        return CustomerPayload(customer=Customer.of(customer) if customer else None, user_errors=errors)

    @strawberry.mutation(
        description="Change a customer's billing details: names, billing email, address, tax id (a customer portal "
        "link: its own customer; staff: FINANCE)."
    )
    async def update_portal_billing_details(
        self, info: Info[Context, None], input: UpdatePortalBillingDetailsInput
    ) -> CustomerPayload:
        customer, errors = await run_for_customer(
            info,
            Role.FINANCE,
            input.customer_external_id,
            lambda uow, a, external_id: customers.update_billing_details(uow, a, external_id, _billing_details(input)),
        )
        return CustomerPayload(customer=Customer.of(customer) if customer else None, user_errors=errors)

    @strawberry.mutation(description="Delete a customer without live subscriptions (FINANCE).")
    async def delete_customer(self, info: Info[Context, None], input: DeleteCustomerInput) -> CustomerPayload:
        customer, errors = await run_use_case(
            info, Role.FINANCE, lambda uow, a: customers.delete_customer(uow, a, input.external_id)
        )
        return CustomerPayload(customer=Customer.of(customer) if customer else None, user_errors=errors)
