"""Every protected operation, tried by every kind of caller: refused ones write nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.client import Api, TransportQueryError
from tests.db import org_footprint

CREATE_KEY = """mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) {
  secret apiKey { id name role prefix } userErrors { field code message } } }"""


@dataclass(frozen=True)
class Operation:
    name: str
    document: str
    needs: str  # weakest role allowed
    mutation: bool = False


OPERATIONS = [
    Operation("organization", "{ organization { id name } }", "VIEWER"),
    Operation("apiKeys", "{ apiKeys { totalCount nodes { id } } }", "ADMIN"),
    Operation("staffUsers", "{ staffUsers { totalCount } }", "ADMIN"),
    Operation("sessions", "{ sessions { totalCount } }", "ADMIN"),  # an API key has none of its own
    Operation("auditLogs", "{ auditLogs { totalCount } }", "FINANCE"),
    Operation(
        "customerPortalSessions", '{ customerPortalSessions(customerExternalId: "nobody") { totalCount } }', "FINANCE"
    ),
    Operation("verifyAuditChain", "{ verifyAuditChain { valid } }", "FINANCE"),
    Operation("revenueMetrics", '{ revenueMetrics(from: "2025-01-01", to: "2025-01-31") { mrr } }', "FINANCE"),
    Operation(
        "createApiKey",
        'mutation { createApiKey(input: {name: "ci", role: VIEWER}) { secret userErrors { code } } }',
        "ADMIN",
        True,
    ),
    Operation(
        "revokeApiKey",
        'mutation { revokeApiKey(input: {id: "__KEY__"}) { apiKey { revokedAt } userErrors { code } } }',
        "ADMIN",
        True,
    ),
    Operation(
        "createStaffUser",
        'mutation { createStaffUser(input: {email: "new@example.com", password: "correct horse battery",'
        " role: VIEWER}) { staffUser { id } userErrors { code } } }",
        "ADMIN",
        True,
    ),
    Operation(
        "updateOrganization",
        'mutation { updateOrganization(input: {name: "Renamed"}) { organization { name } userErrors { code } } }',
        "ADMIN",
        True,
    ),
    Operation(
        "updateRateLimits",
        "mutation { updateRateLimits(input: {requestsPerSecond: 400}) { organization { id } userErrors { code } } }",
        "ADMIN",
        True,
    ),
    Operation("webhookEndpoints", "{ webhookEndpoints { totalCount } }", "ADMIN"),
    Operation("webhookDeliveries", "{ webhookDeliveries { totalCount } }", "ADMIN"),
    Operation(
        "createWebhookEndpoint",
        'mutation { createWebhookEndpoint(input: {url: "https://hooks.example.com/in", eventTypes: ["invoice.paid"]})'
        " { secret userErrors { code } } }",
        "ADMIN",
        True,
    ),
]
RANK = {"VIEWER": 0, "FINANCE": 1, "ADMIN": 2, "OWNER": 3}


async def _key(owner: Api, role: str) -> tuple[str, str]:
    data = await owner(CREATE_KEY, input={"name": f"{role.lower()} key", "role": role})
    payload = data["createApiKey"]
    assert payload["userErrors"] == []
    return payload["secret"], payload["apiKey"]["id"]


@pytest.mark.parametrize("role", ["VIEWER", "FINANCE"])
async def test_weaker_roles_are_refused_with_nothing_written(stack, tenant, role) -> None:
    secret, _ = await _key(tenant.api, role)
    _, victim_key_id = await _key(tenant.api, "VIEWER")
    caller = tenant.api.as_(secret)
    for op in OPERATIONS:
        document = op.document.replace("__KEY__", victim_key_id)
        before = await org_footprint(stack.database_url, tenant.organization_id)
        if RANK[role] >= RANK[op.needs]:
            data = await caller(document)
            assert data[op.name] is not None, op.name
            continue
        with pytest.raises(TransportQueryError) as refused:
            await caller(document)
        assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN", op.name
        assert refused.value.errors[0]["path"] == [op.name]
        assert await org_footprint(stack.database_url, tenant.organization_id) == before, op.name


async def test_anonymous_is_refused_everything_with_nothing_written(stack, tenant, anonymous) -> None:
    _, key_id = await _key(tenant.api, "VIEWER")
    before = await org_footprint(stack.database_url, tenant.organization_id)
    for op in OPERATIONS:
        with pytest.raises(TransportQueryError) as refused:
            await anonymous(op.document.replace("__KEY__", key_id))
        assert refused.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED", op.name
    assert await org_footprint(stack.database_url, tenant.organization_id) == before


async def test_admin_may_do_everything(stack, tenant) -> None:
    secret, _ = await _key(tenant.api, "ADMIN")
    _, key_id = await _key(tenant.api, "VIEWER")
    admin = tenant.api.as_(secret)
    for op in OPERATIONS:
        data = await admin(op.document.replace("__KEY__", key_id))
        payload = data[op.name]
        if op.mutation:
            assert payload["userErrors"] == [], op.name
    assert (await admin("{ organization { name } }"))["organization"]["name"] == "Renamed"


async def test_another_organization_sees_and_touches_nothing_of_ours(stack, tenant, other_tenant) -> None:
    _, our_key_id = await _key(tenant.api, "VIEWER")
    await tenant.api('mutation { updateOrganization(input: {timezone: "Europe/Paris"}) { userErrors { code } } }')
    ours_before = await org_footprint(stack.database_url, tenant.organization_id)
    stranger = other_tenant.api

    revoke = await stranger(
        "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { id } userErrors { field code } } }",
        id=our_key_id,
    )
    assert revoke["revokeApiKey"] == {"apiKey": None, "userErrors": [{"field": ["input", "id"], "code": "NOT_FOUND"}]}
    keys = await stranger("{ apiKeys { nodes { id } } }")
    assert our_key_id not in {k["id"] for k in keys["apiKeys"]["nodes"]}
    logs = await stranger("query($t: String) { auditLogs(targetId: $t) { totalCount } }", t=our_key_id)
    assert logs["auditLogs"]["totalCount"] == 0
    org = await stranger("{ organization { id timezone } }")
    assert org["organization"] == {"id": other_tenant.organization_id, "timezone": "UTC"}
    for op in OPERATIONS:  # the stranger's own writes land in its own organization only
        await stranger(op.document.replace("__KEY__", our_key_id))
    assert await org_footprint(stack.database_url, tenant.organization_id) == ours_before


async def test_a_key_cannot_mint_a_stronger_key(stack, tenant) -> None:
    secret, _ = await _key(tenant.api, "ADMIN")
    before = await org_footprint(stack.database_url, tenant.organization_id)
    data = await tenant.api.as_(secret)(CREATE_KEY, input={"name": "escalate", "role": "OWNER"})
    assert data["createApiKey"]["secret"] is None
    assert data["createApiKey"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert await org_footprint(stack.database_url, tenant.organization_id) == before
