from tests.client import Api

VIEWER = "{ viewer { kind name role organization { id name invoicePrefix defaultCurrency } } }"


async def test_viewer_names_the_api_key_and_its_organization(tenant) -> None:
    data = await tenant.api(VIEWER)
    assert data["viewer"]["kind"] == "API_KEY"
    assert data["viewer"]["role"] == "OWNER"
    assert data["viewer"]["organization"]["id"] == tenant.organization_id
    assert data["viewer"]["organization"]["name"] == "Acme Analytics"
    assert data["viewer"]["organization"]["invoicePrefix"] == "ACMEAN"


async def test_anonymous_viewer_is_null(anonymous: Api) -> None:
    assert await anonymous("{ viewer { name } }") == {"viewer": None}
