"""Customers: create, update, delete (soft, once they have billing history)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

import pycountry

from db.models import Customer
from db.repositories.customers import CustomerRepository
from db.repositories.subscriptions import SubscriptionRepository
from db.repositories.test_clocks import TestClockRepository
from db.session import UnitOfWork
from domain import money, periods, tax
from domain.errors import DomainError
from domain.subscriptions import is_live
from services import audit
from services.actors import Actor
from services.catalog_changes import catalog_changed
from services.errors import AlreadyExists, CommonCode, CustomerCode, Invalid, NotFound, found
from services.subscriptions import status_now

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
UNSET: Any = object()


@dataclass
class CustomerFields:
    """Editable fields; UNSET leaves a field as it is on update."""

    name: Any = UNSET
    legal_name: Any = UNSET
    email: Any = UNSET
    address_line1: Any = UNSET
    address_line2: Any = UNSET
    city: Any = UNSET
    state: Any = UNSET
    postal_code: Any = UNSET
    country: Any = UNSET
    currency: Any = UNSET
    timezone: Any = UNSET
    tax_identification_number: Any = UNSET
    tax_exempt: Any = UNSET
    metadata: Any = field(default=UNSET)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _check(values: CustomerFields) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for f in fields(values):
        value = getattr(values, f.name)
        if value is UNSET:
            continue
        if isinstance(value, str):
            value = value.strip() or None
        checked[f.name] = value
    if "email" in checked and checked["email"] is not None and not EMAIL.match(checked["email"]):
        raise Invalid("not an email address", field=("email",), code=CommonCode.INVALID_EMAIL)
    if checked.get("country") is not None:
        country = checked["country"].upper()
        if pycountry.countries.get(alpha_2=country) is None:
            raise Invalid(
                f"{country!r} is not an ISO 3166-1 alpha-2 country code",
                field=("country",),
                code=CommonCode.UNKNOWN_COUNTRY,
            )
        checked["country"] = country
    if checked.get("currency") is not None:
        try:
            checked["currency"] = money.validate_currency(checked["currency"].upper())
        except DomainError as exc:
            raise Invalid(exc.message, field=("currency",), code=exc.code) from None
    if checked.get("timezone") is not None:
        try:
            periods.zone(checked["timezone"])
        except DomainError as exc:
            raise Invalid(exc.message, field=("timezone",), code=exc.code) from None
    if "tax_exempt" in checked and checked["tax_exempt"] is None:
        checked["tax_exempt"] = False
    if "metadata" in checked:
        metadata = checked["metadata"] or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(v, str | int | bool | Decimal) or v is None for v in metadata.values()
        ):
            raise Invalid(
                "metadata is a JSON object of strings, numbers or booleans",
                field=("metadata",),
                code=CustomerCode.INVALID_METADATA,
            )
        checked["metadata_"] = audit.jsonable(metadata)
        del checked["metadata"]
    return checked


def _check_vat(checked: dict[str, Any], country: str | None, tax_id: str | None) -> None:
    """An EU customer's tax id is its VAT number: its format is checked (python-stdnum) and stored compact,
    since reverse charge depends on it. Other countries' tax ids are kept as given."""
    if "country" not in checked and "tax_identification_number" not in checked:
        return
    if not country or not tax_id or country not in tax.EU_MEMBER_STATES:
        return
    try:
        normalized = tax.validate_vat_number(country, tax_id)
    except DomainError as exc:
        raise Invalid(exc.message, field=("taxIdentificationNumber",), code=exc.code) from None
    checked["tax_identification_number"] = normalized


def customer_view(customer: Customer) -> dict[str, Any]:
    view = {
        _camel(f.name): getattr(customer, "metadata_" if f.name == "metadata" else f.name)
        for f in fields(CustomerFields)
    }
    return {"externalId": customer.external_id, **view}


async def _test_clock(uow: UnitOfWork, actor: Actor, value: str) -> uuid.UUID:
    """A new customer's test clock: one of the organization's (only TEST organizations have any)."""
    missing = NotFound("no test clock with this id", field=("testClockId",))
    try:
        clock_id = uuid.UUID(str(value))
    except ValueError:
        raise missing from None
    return found(await TestClockRepository(uow.session, actor.organization_id).get(clock_id), missing).id


async def create_customer(
    uow: UnitOfWork, actor: Actor, external_id: str, values: CustomerFields, test_clock_id: str | None = None
) -> Customer:
    """`test_clock_id`: the customer lives on that test clock (its time is the customer's), for good."""
    external_id = (external_id or "").strip()
    if not external_id or len(external_id) > 200:
        raise Invalid("externalId is 1 to 200 characters", field=("externalId",), code=CommonCode.REQUIRED)
    checked = _check(values)
    _check_vat(checked, checked.get("country"), checked.get("tax_identification_number"))
    checked.setdefault("name", None)
    checked["name"] = checked["name"] or external_id
    repo = CustomerRepository(uow.session, actor.organization_id)
    if await repo.by_external_id(external_id) is not None:
        raise AlreadyExists(f"a customer with externalId {external_id!r} exists", field=("externalId",))
    if test_clock_id is not None:
        checked["test_clock_id"] = await _test_clock(uow, actor, test_clock_id)
    customer = await repo.add(Customer(external_id=external_id, **{"tax_exempt": False, "metadata_": {}, **checked}))
    view = customer_view(customer)
    if customer.test_clock_id is not None:
        view["testClockId"] = str(customer.test_clock_id)
    await audit.record(uow, actor, "customer.created", "customer", customer.id, after=view)
    return customer


async def update_customer(
    uow: UnitOfWork, actor: Actor, external_id: str, values: CustomerFields, test_clock_id: Any = UNSET
) -> Customer:
    repo = CustomerRepository(uow.session, actor.organization_id)
    customer = found(
        await repo.by_external_id(external_id),
        NotFound(f"no customer with externalId {external_id!r}", field=("externalId",)),
    )
    if test_clock_id is not UNSET and str(test_clock_id or "") != str(customer.test_clock_id or ""):
        raise Invalid(
            "a customer's test clock is fixed when it is created", field=("testClockId",), code="TEST_CLOCK_FIXED"
        )
    checked = _check(values)
    _check_vat(
        checked,
        checked.get("country", customer.country),
        checked.get("tax_identification_number", customer.tax_identification_number),
    )
    if "name" in checked and not checked["name"]:
        raise Invalid("a name cannot be blank", field=("name",), code=CommonCode.REQUIRED)
    if "currency" in checked and checked["currency"] != customer.currency and await repo.has_subscriptions(customer.id):
        raise Invalid(
            "the currency of a customer with subscriptions cannot change",
            field=("currency",),
            code=CustomerCode.CURRENCY_LOCKED,
        )
    before = customer_view(customer)
    for name, value in checked.items():
        setattr(customer, name, value)
    await uow.session.flush()
    await audit.record(
        uow, actor, "customer.updated", "customer", customer.id, before=before, after=customer_view(customer)
    )
    return customer


# What a customer may change itself, through its portal link: how it is invoiced, nothing that decides what
# or how it is billed (external id, currency, time zone, tax exemption, metadata, test clock).
BILLING_DETAILS = (
    "name",
    "legal_name",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "country",
    "tax_identification_number",
)


async def update_billing_details(
    uow: UnitOfWork, actor: Actor, external_id: str, values: CustomerFields
) -> Customer:
    """The customer's billing details (BILLING_DETAILS only), checked as `update_customer` checks them."""
    if any(getattr(values, f.name) is not UNSET for f in fields(values) if f.name not in BILLING_DETAILS):
        raise Invalid("only billing details change here", field=("input",), code=CommonCode.INVALID)
    return await update_customer(uow, actor, external_id, values)


async def delete_customer(uow: UnitOfWork, actor: Actor, external_id: str) -> Customer:
    """Refused while a subscription is live; soft-deleted so that its invoices keep their buyer."""
    repo = CustomerRepository(uow.session, actor.organization_id)
    customer = found(
        await repo.by_external_id(external_id),
        NotFound(f"no customer with externalId {external_id!r}", field=("externalId",)),
    )
    subscriptions = await SubscriptionRepository(uow.session, actor.organization_id).of_customer(customer.id)
    if any(is_live(status_now(s, uow.clock.now())) for s in subscriptions):
        raise Invalid(
            "terminate the customer's subscriptions first",
            field=("externalId",),
            code=CustomerCode.CUSTOMER_HAS_LIVE_SUBSCRIPTIONS,
        )
    before = customer_view(customer)
    if subscriptions:
        customer.deleted_at = uow.clock.now()
    else:
        await repo.delete(customer)
    await audit.record(uow, actor, "customer.deleted", "customer", customer.id, before=before)
    await catalog_changed(uow, actor.organization_id)  # its events are refused from now on
    return customer
