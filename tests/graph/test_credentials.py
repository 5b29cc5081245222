"""API keys and sessions: shown once, hashed, revocable, expiring."""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest

from tests.client import Api, TransportQueryError
from tests.db import scalar

CREATE_KEY = """mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) {
  secret apiKey { id name role prefix lastUsedAt revokedAt } userErrors { field code message } } }"""
LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
  token expiresAt user { email role } userErrors { field code message } } }"""


async def _post(url: str, token: str | None, body: str) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_api_key_secret_is_shown_once_and_stored_as_a_hash(stack, tenant) -> None:
    created = (await tenant.api(CREATE_KEY, input={"name": "billing sync", "role": "FINANCE"}))["createApiKey"]
    secret = created["secret"]
    assert secret.startswith("vv_") and secret.startswith(created["apiKey"]["prefix"])
    stored = await scalar(
        stack.database_url, "SELECT secret_hash FROM api_keys WHERE id = $1::uuid", created["apiKey"]["id"]
    )
    assert secret not in stored and len(stored) == 64
    listed = await tenant.api("{ apiKeys { nodes { id name prefix role } } }")
    assert {"id": created["apiKey"]["id"], "name": "billing sync", "prefix": secret[:10], "role": "FINANCE"} in listed[
        "apiKeys"
    ]["nodes"]
    assert "secret" not in str(listed)


async def test_using_a_key_records_when_it_was_last_used(tenant) -> None:
    created = (await tenant.api(CREATE_KEY, input={"name": "probe"}))["createApiKey"]
    assert created["apiKey"]["lastUsedAt"] is None
    await tenant.api.as_(created["secret"])("{ viewer { name } }")
    keys = await tenant.api("{ apiKeys(first: 200) { nodes { id lastUsedAt } } }")
    used = next(k for k in keys["apiKeys"]["nodes"] if k["id"] == created["apiKey"]["id"])
    assert used["lastUsedAt"] is not None


async def test_revoked_key_is_refused_at_once_with_a_reason(stack, tenant) -> None:
    created = (await tenant.api(CREATE_KEY, input={"name": "leaked"}))["createApiKey"]
    leaked = tenant.api.as_(created["secret"])
    assert (await leaked("{ viewer { name } }"))["viewer"]["name"] == "leaked"
    revoked = await tenant.api(
        "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt } userErrors { code } } }",
        id=created["apiKey"]["id"],
    )
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    status, body = await _post(stack.graphql_url, created["secret"], '{"query": "{ viewer { name } }"}')
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("vv_" + "x" * 43, "unknown API key"),
        ("not-a-token", "neither an API key nor a valid session token"),
    ],
)
async def test_bad_tokens_get_401_with_a_reason(stack, token, reason) -> None:
    status, body = await _post(stack.graphql_url, token, '{"query": "{ viewer { name } }"}')
    assert status == 401
    assert reason in body["errors"][0]["message"]


async def test_malformed_authorization_header_is_refused(stack) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            stack.graphql_url, json={"query": "{ viewer { name } }"}, headers={"Authorization": "Basic abc"}
        ) as response,
    ):
        assert response.status == 401
        assert "Bearer" in (await response.json())["errors"][0]["message"]


async def _staff_user(stack, tenant, email: str, role: str) -> None:
    result = stack.cli(
        "create-user",
        "--organization",
        tenant.organization_id,
        "--email",
        email,
        "--role",
        role,
        "--password",
        "a long enough password",
    )
    assert f'"{role}"' in result.stdout


async def test_login_gives_a_session_token_that_acts_as_the_user(stack, tenant, anonymous: Api) -> None:
    await _staff_user(stack, tenant, "Ops@Example.com", "FINANCE")
    data = (await anonymous(LOGIN, input={"email": "ops@example.com", "password": "a long enough password"}))["login"]
    assert data["userErrors"] == [] and data["user"] == {"email": "ops@example.com", "role": "FINANCE"}
    session = anonymous.as_(data["token"])
    viewer = (await session("{ viewer { kind role organization { id } } }"))["viewer"]
    assert viewer == {"kind": "USER", "role": "FINANCE", "organization": {"id": tenant.organization_id}}
    assert (await session('{ auditLogs(action: "staff_user.logged_in") { totalCount } }'))["auditLogs"][
        "totalCount"
    ] == 1
    with pytest.raises(TransportQueryError) as refused:
        await session("{ apiKeys { totalCount } }")
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_wrong_password_is_a_user_error(stack, tenant, anonymous: Api) -> None:
    await _staff_user(stack, tenant, "admin@acme.test", "ADMIN")
    for email, password in [("admin@acme.test", "wrong password!"), ("nobody@acme.test", "a long enough password")]:
        data = (await anonymous(LOGIN, input={"email": email, "password": password}))["login"]
        assert data["token"] is None
        assert data["userErrors"] == [
            {"field": ["input", "password"], "code": "INVALID_CREDENTIALS", "message": "email or password is wrong"}
        ]


async def test_expired_or_forged_session_is_refused(stack, tenant, anonymous: Api) -> None:
    await _staff_user(stack, tenant, "late@acme.test", "VIEWER")
    data = (await anonymous(LOGIN, input={"email": "late@acme.test", "password": "a long enough password"}))["login"]
    claims = jwt.decode(data["token"], options={"verify_signature": False})
    now = int(time.time())
    expired = jwt.encode({**claims, "iat": now - 3600, "exp": now - 60}, stack.secret_key, algorithm="HS256")
    status, body = await _post(stack.graphql_url, expired, '{"query": "{ viewer { name } }"}')
    assert status == 401 and "expired" in body["errors"][0]["message"]
    forged = jwt.encode({**claims, "exp": now + 600}, "not the key of this server, but just as long", algorithm="HS256")
    status, body = await _post(stack.graphql_url, forged, '{"query": "{ viewer { name } }"}')
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_weak_password_and_bad_email_are_user_errors(tenant) -> None:
    data = await tenant.api(
        'mutation { createStaffUser(input: {email: "x@y.z", password: "short", role: VIEWER}) '
        "{ staffUser { id } userErrors { field code } } }"
    )
    assert data["createStaffUser"] == {
        "staffUser": None,
        "userErrors": [{"field": ["input", "password"], "code": "PASSWORD_TOO_SHORT"}],
    }
    data = await tenant.api(
        'mutation { createStaffUser(input: {email: "nope", password: "long enough pass", '
        "role: VIEWER}) { staffUser { id } userErrors { field code } } }"
    )
    assert data["createStaffUser"]["userErrors"] == [{"field": ["input", "email"], "code": "INVALID_EMAIL"}]


async def _statuses(url: str, token: str, times: int, query: str = '{"query": "{ viewer { role } }"}') -> list[tuple]:
    """`times` requests, each on a connection of its own (so both API processes of the stack answer some)."""
    answers = [await _post(url, token, query) for _ in range(times)]
    return [(status, (body.get("data") or {}).get("viewer")) for status, body in answers]


async def test_a_key_kept_by_every_api_process_is_refused_by_all_of_them_right_after_its_revocation(
    stack, tenant
) -> None:
    """Each API process keeps credentials it read for a moment (services/auth.py): a revocation through one
    process is forgotten by the others at COMMIT (PostgreSQL's notification), not when the moment ends."""
    created = (await tenant.api(CREATE_KEY, input={"name": "kept", "role": "ADMIN"}))["createApiKey"]
    assert await _statuses(stack.graphql_url, created["secret"], 12) == [(200, {"role": "ADMIN"})] * 12
    revoked = await tenant.api(
        "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt } userErrors { code } } }",
        id=created["apiKey"]["id"],
    )
    assert revoked["revokeApiKey"]["userErrors"] == []
    assert [status for status, _ in await _statuses(stack.graphql_url, created["secret"], 12)] == [401] * 12


async def test_a_kept_session_takes_its_new_role_and_its_end_at_the_next_request_in_every_process(
    stack, tenant
) -> None:
    from tests.graph.test_sessions import DISABLE, ROLE, add_user, log_in

    user = await add_user(tenant.api, "ADMIN")
    token = await log_in(tenant.api, user["email"])
    assert await _statuses(stack.graphql_url, token, 12) == [(200, {"role": "ADMIN"})] * 12
    assert (await tenant.api(ROLE, id=user["id"], role="VIEWER"))["changeStaffUserRole"]["userErrors"] == []
    assert await _statuses(stack.graphql_url, token, 12) == [(200, {"role": "VIEWER"})] * 12
    assert (await tenant.api(DISABLE, id=user["id"]))["disableStaffUser"]["userErrors"] == []
    assert [status for status, _ in await _statuses(stack.graphql_url, token, 12)] == [401] * 12
