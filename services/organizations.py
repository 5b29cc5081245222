"""Organizations: the tenants. Created by the CLI (or a future sign-up), edited by admins."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pycountry

from db.models import Organization, OrganizationMode, Role
from db.repositories.organizations import OrganizationRepository
from db.session import UnitOfWork
from domain import money, periods
from domain.errors import DomainError
from services import audit
from services.actors import Actor, system_actor
from services.auth import IssuedApiKey, issue_api_key
from services.errors import CommonCode, Invalid, NotFound, OrganizationCode, found

PREFIX_PATTERN = re.compile(r"^[A-Z0-9]{2,12}$")


def default_invoice_prefix(name: str) -> str:
    letters = re.sub(r"[^A-Za-z0-9]", "", name).upper()
    return (letters[:6] or "INV").ljust(2, "X")


def validate_timezone(tz: str, field: tuple[str, ...]) -> str:
    try:
        periods.zone(tz)
    except DomainError as exc:
        raise Invalid(exc.message, field=field, code=exc.code) from None
    return tz


def validate_currency_code(code: str, field: tuple[str, ...]) -> str:
    try:
        money.validate_currency(code)
    except DomainError as exc:
        raise Invalid(exc.message, field=field, code=exc.code) from None
    return code


def _view(org: Organization) -> dict[str, object]:
    return {
        "name": org.name,
        "defaultCurrency": org.default_currency,
        "timezone": org.timezone,
        "invoicePrefix": org.invoice_prefix,
    }


@dataclass(frozen=True)
class CreatedOrganization:
    organization: Organization
    api_key: IssuedApiKey


async def create_organization(
    uow: UnitOfWork,
    *,
    name: str,
    default_currency: str = "USD",
    timezone: str = "UTC",
    invoice_prefix: str | None = None,
    test: bool = False,
) -> CreatedOrganization:
    """A new tenant with one OWNER API key (its secret is returned once, never stored); `test`: a TEST
    organization (test provider keys only; test clocks may move time for some of its customers)."""
    if not name.strip():
        raise Invalid("a name is required", field=("name",), code=CommonCode.REQUIRED)
    prefix = invoice_prefix or default_invoice_prefix(name)
    _check_prefix(prefix)
    org = await OrganizationRepository(uow.session).add(
        Organization(
            id=uuid.uuid4(),
            name=name.strip(),
            default_currency=validate_currency_code(default_currency.upper(), ("defaultCurrency",)),
            timezone=validate_timezone(timezone, ("timezone",)),
            invoice_prefix=prefix,
            mode=(OrganizationMode.TEST if test else OrganizationMode.LIVE).value,
        )
    )
    actor = system_actor(org.id, name="cli")
    await audit.record(
        uow, actor, "organization.created", "organization", org.id, after={**_view(org), "mode": org.mode}
    )
    key = await issue_api_key(uow, actor, "default", Role.OWNER)
    return CreatedOrganization(org, key)


def _check_prefix(prefix: str) -> None:
    if not PREFIX_PATTERN.match(prefix):
        raise Invalid(
            "an invoice prefix is 2 to 12 capital letters or digits",
            field=("invoicePrefix",),
            code=OrganizationCode.INVALID_INVOICE_PREFIX,
        )


async def update_organization(
    uow: UnitOfWork,
    actor: Actor,
    *,
    name: str | None = None,
    default_currency: str | None = None,
    timezone: str | None = None,
    invoice_prefix: str | None = None,
    country: str | None = None,
    legal_name: str | None = None,
    address: str | None = None,
    tax_identification_number: str | None = None,
    net_payment_term_days: int | None = None,
    invoice_grace_period_days: int | None = None,
) -> Organization:
    """The seller's identity (country, legal name, address, tax id) is what invoices and tax rules use."""
    org = found(
        await OrganizationRepository(uow.session).get(actor.organization_id),
        NotFound("organization not found"),
    )
    before = _view(org)
    if name is not None:
        if not name.strip():
            raise Invalid("a name is required", field=("name",), code=CommonCode.REQUIRED)
        org.name = name.strip()
    if default_currency is not None:
        org.default_currency = validate_currency_code(default_currency.upper(), ("defaultCurrency",))
    if timezone is not None:
        org.timezone = validate_timezone(timezone, ("timezone",))
    if invoice_prefix is not None:
        _check_prefix(invoice_prefix)
        org.invoice_prefix = invoice_prefix
    if country is not None:
        if pycountry.countries.get(alpha_2=country.upper()) is None:
            raise Invalid(
                f"{country!r} is not an ISO 3166-1 alpha-2 country code",
                field=("country",),
                code=CommonCode.UNKNOWN_COUNTRY,
            )
        org.country = country.upper()
    if legal_name is not None:
        org.legal_name = legal_name.strip() or None
    if address is not None:
        org.address = address.strip() or None
    if tax_identification_number is not None:
        org.tax_identification_number = tax_identification_number.strip() or None
    if net_payment_term_days is not None:
        if not 0 <= net_payment_term_days <= 365:
            raise Invalid(
                "between 0 and 365 days", field=("netPaymentTermDays",), code=OrganizationCode.INVALID_PAYMENT_TERM
            )
        org.net_payment_term_days = net_payment_term_days
    if invoice_grace_period_days is not None:
        if not 0 <= invoice_grace_period_days <= 60:
            raise Invalid(
                "between 0 and 60 days", field=("invoiceGracePeriodDays",), code=OrganizationCode.INVALID_GRACE_PERIOD
            )
        org.invoice_grace_period_days = invoice_grace_period_days
    await audit.record(uow, actor, "organization.updated", "organization", org.id, before=before, after=_view(org))
    return org
