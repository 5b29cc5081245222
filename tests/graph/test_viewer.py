import pytest

from tests.client import Api, TransportQueryError

VIEWER = "{ viewer { kind name role organization { id name invoicePrefix defaultCurrency } } }"


async def test_viewer_names_the_api_key_and_its_organization(tenant) -> None:
    data = await tenant.api(VIEWER)
    assert data["viewer"]["kind"] == "API_KEY"
    assert data["viewer"]["role"] == "OWNER"
    assert data["viewer"]["organization"]["id"] == tenant.organization_id
    assert data["viewer"]["organization"]["name"] == "Acme Analytics"
    assert data["viewer"]["organization"]["invoicePrefix"] == "ACMEAN"


async def test_anonymous_callers_are_asked_to_authenticate(anonymous: Api) -> None:
    with pytest.raises(TransportQueryError) as refused:  # an anonymous request may only log in
        await anonymous("{ viewer { name } }")
    assert refused.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
