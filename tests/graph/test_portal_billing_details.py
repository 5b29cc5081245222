"""Billing details a customer edits through its portal link (updatePortalBillingDetails, through the gql client
over HTTP): its own customer only, those fields only, checked as staff edits are."""

from __future__ import annotations

import pytest

from tests.client import TransportQueryError
from tests.graph.catalog_helpers import customer
from tests.graph.test_portal_sessions import codes, link, token_of

UPDATE = """mutation($input: UpdatePortalBillingDetailsInput!) { updatePortalBillingDetails(input: $input) {
  customer { externalId name legalName email addressLine1 addressLine2 city state postalCode country
    taxIdentificationNumber currency timezone taxExempt }
  userErrors { field code message } } }"""
READ = """query($c: String!) { customer(externalId: $c) { name legalName email addressLine1 city postalCode
  country taxIdentificationNumber currency timezone taxExempt } }"""
AUDIT = "{ auditLogs(first: 1) { nodes { action actorType } } }"

DETAILS = {
    "name": "Initech",
    "legalName": "Initech GmbH",
    "email": "ap@initech.example",
    "addressLine1": "Hauptstrasse 1",
    "city": "Berlin",
    "postalCode": "10115",
    "country": "DE",
    "taxIdentificationNumber": "DE 136695976",
}


async def test_a_portal_link_edits_its_own_customers_billing_details(tenant) -> None:
    await customer(tenant.api, "initech", currency="EUR", timezone="Europe/Berlin", taxExempt=True)
    portal_api = tenant.api.as_(token_of((await link(tenant.api, "initech"))["url"]))

    answer = (await portal_api(UPDATE, input=DETAILS))["updatePortalBillingDetails"]
    assert answer["userErrors"] == []
    # Stored as staff edits are stored: the EU VAT number compact; what decides billing is untouched.
    assert answer["customer"]["taxIdentificationNumber"] == "DE136695976"
    saved = (await tenant.api(READ, c="initech"))["customer"]
    assert saved == {**DETAILS, "taxIdentificationNumber": "DE136695976", "currency": "EUR",
                     "timezone": "Europe/Berlin", "taxExempt": True}  # fmt: skip

    # Its own id may be named; fields left out stay, null clears one.
    again = await portal_api(UPDATE, input={"customerExternalId": "initech", "addressLine1": None})
    assert again["updatePortalBillingDetails"]["customer"]["addressLine1"] is None
    assert again["updatePortalBillingDetails"]["customer"]["city"] == "Berlin"
    entry = (await tenant.api(AUDIT))["auditLogs"]["nodes"][0]
    assert (entry["action"], entry["actorType"]) == ("customer.updated", "portal")


async def test_bad_billing_details_are_refused_on_their_field(tenant) -> None:
    await customer(tenant.api, "bad-input", currency="EUR")
    portal_api = tenant.api.as_(token_of((await link(tenant.api, "bad-input"))["url"]))
    for details, field in [
        ({"email": "not an email"}, "email"),
        ({"country": "XX"}, "country"),
        ({"country": "DE", "taxIdentificationNumber": "DE123"}, "taxIdentificationNumber"),
        ({"name": " "}, "name"),
    ]:
        answer = (await portal_api(UPDATE, input=details))["updatePortalBillingDetails"]
        assert answer["customer"] is None
        assert [e["field"][-1] for e in answer["userErrors"]] == [field], details
    assert (await tenant.api(READ, c="bad-input"))["customer"]["country"] is None  # nothing written


async def test_a_portal_link_cannot_edit_another_customer_nor_other_fields(tenant) -> None:
    await customer(tenant.api, "mine", currency="USD")
    await customer(tenant.api, "theirs", currency="USD", email="ap@theirs.example")
    portal_api = tenant.api.as_(token_of((await link(tenant.api, "mine"))["url"]))

    with pytest.raises(TransportQueryError) as refused:
        await portal_api(UPDATE, input={"customerExternalId": "theirs", "email": "me@mine.example"})
    assert codes(refused.value) == ["FORBIDDEN"]
    assert (await tenant.api(READ, c="theirs"))["customer"]["email"] == "ap@theirs.example"

    # The input has no field for what decides billing; updateCustomer stays closed to a portal link.
    for field, value in [("currency", "EUR"), ("taxExempt", True), ("externalId", "x"), ("metadata", {}),
                         ("timezone", "UTC"), ("testClockId", "x")]:
        with pytest.raises(TransportQueryError):
            await portal_api(UPDATE, input={field: value})
    with pytest.raises(TransportQueryError) as closed:
        await portal_api("mutation { updateCustomer(input: {externalId: \"mine\", currency: \"EUR\"}) "
                         "{ customer { currency } } }")
    assert codes(closed.value) == ["FORBIDDEN"]
    assert (await tenant.api(READ, c="mine"))["customer"]["currency"] == "USD"


async def test_staff_edit_billing_details_with_finance_and_name_the_customer(tenant) -> None:
    await customer(tenant.api, "staffed", currency="USD")
    answer = (await tenant.api(UPDATE, input={"customerExternalId": "staffed", "city": "Lyon"}))
    assert answer["updatePortalBillingDetails"]["customer"]["city"] == "Lyon"
    missing = (await tenant.api(UPDATE, input={"city": "Lyon"}))["updatePortalBillingDetails"]
    assert missing["userErrors"][0]["code"] == "REQUIRED"
