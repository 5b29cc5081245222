"""Sessions with a server-side record: listed, ended by logout or by an admin; staff users disabled and
given other roles; and WebSockets that end with their credentials (4401) or their role (4403)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest

from db.models import Role
from db.repositories.organizations import StaffSessionRepository, StaffUserRepository
from db.session import Database
from integrations.clock import ManualClock
from services import sessions
from services.actors import Actor
from services.auth import SessionConfig
from services.errors import AccessCode, Invalid, NotFound
from tests.client import Api, LiveSubscription, TransportQueryError
from tests.db import execute
from tests.graph.catalog_helpers import customer, metric, plan, subscribe, uid
from tests.usage.helpers import post_events

PASSWORD = "a long enough password"
LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
  token expiresAt user { id email role } retryAfterSeconds userErrors { field code message } } }"""
SESSIONS = """query($user: ID, $ended: Boolean) { sessions(staffUserId: $user, includeEnded: $ended) {
  totalCount nodes { id staffUser { email } createdAt expiresAt revokedAt lastSeenAt ip userAgent active current }
} }"""
CREATE_USER = """mutation($input: CreateStaffUserInput!) { createStaffUser(input: $input) {
  staffUser { id email role active } userErrors { field code message } } }"""
ROLE = """mutation($id: ID!, $role: Role!) { changeStaffUserRole(input: {id: $id, role: $role}) {
  staffUser { id role active } userErrors { field code message } } }"""
DISABLE = """mutation($id: ID!) { disableStaffUser(input: {id: $id}) {
  staffUser { id active } userErrors { field code message } } }"""
ENABLE = """mutation($id: ID!) { enableStaffUser(input: {id: $id}) {
  staffUser { id active } userErrors { field code message } } }"""
LOGOUT = "mutation($all: Boolean!) { logout(input: {everywhere: $all}) { endedSessions userErrors { code message } } }"
REVOKE = """mutation($id: ID!) { revokeSession(input: {id: $id}) {
  session { id active revokedAt } userErrors { field code message } } }"""
AUDIT_TRAIL = "subscription { auditTrail { action targetType } }"
USAGE = "subscription($c: String!) { usageUpdated(customerExternalId: $c) { amount } }"
# Revocations reach sockets over Redis at once; without a message the periodic re-check (5 s) does.
CLOSE_WITHIN_S = 7.0


async def add_user(api: Api, role: str, email: str | None = None) -> dict:
    email = email or f"{role.lower()}-{uuid.uuid4().hex[:8]}@acme.test"
    data = await api(CREATE_USER, input={"email": email, "password": PASSWORD, "role": role})
    assert data["createStaffUser"]["userErrors"] == []
    return data["createStaffUser"]["staffUser"]


async def log_in(api: Api, email: str, **extra) -> str:
    data = (await api.as_(None)(LOGIN, input={"email": email, "password": PASSWORD, **extra}))["login"]
    assert data["userErrors"] == [], data
    return data["token"]


async def status_of(url: str, token: str, query: str = "{ viewer { role } }") -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(
        url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status, await response.json(content_type=None)


async def live_audit_trail(live: LiveSubscription, tenant) -> None:
    """Until an entry arrives: then the subscription is running on the server."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        await tenant.api('mutation($n: String!) { updateOrganization(input: {name: $n}) { userErrors { code } } }',
                         n=uid("Live "))
        try:
            await live.next(within=0.3)
            return
        except TimeoutError:
            continue
    raise AssertionError("no audit entry arrived over the socket")


async def closed_after(live: LiveSubscription, started: float) -> tuple[int | None, float]:
    closed = await live.wait_closed(within=CLOSE_WITHIN_S + 5)
    return closed.code, closed.at - started


# --- sessions -----------------------------------------------------------------------------------


async def test_login_records_a_session_that_the_user_and_admins_can_list(stack, tenant) -> None:
    viewer = await add_user(tenant.api, "VIEWER")
    async with aiohttp.ClientSession() as http, http.post(
        stack.graphql_url,
        json={"query": LOGIN, "variables": {"input": {"email": viewer["email"], "password": PASSWORD}}},
        headers={"User-Agent": "billing-cli/1.2"},
    ) as response:
        token = (await response.json())["data"]["login"]["token"]
    mine = (await tenant.api.as_(token)(SESSIONS))["sessions"]
    assert mine["totalCount"] == 1
    node = mine["nodes"][0]
    assert node["staffUser"]["email"] == viewer["email"]
    assert node["current"] is True and node["active"] is True and node["revokedAt"] is None
    assert node["ip"] == "127.0.0.1" and node["userAgent"] == "billing-cli/1.2"
    assert node["lastSeenAt"] is not None
    listed = (await tenant.api(SESSIONS, user=viewer["id"]))["sessions"]  # an OWNER key: any user's
    assert [n["id"] for n in listed["nodes"]] == [node["id"]] and listed["nodes"][0]["current"] is False
    other = await add_user(tenant.api, "VIEWER")
    with pytest.raises(TransportQueryError) as refused:
        await tenant.api.as_(token)(SESSIONS, user=other["id"])
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_logout_ends_the_session_at_once(stack, tenant) -> None:
    user = await add_user(tenant.api, "FINANCE")
    token, second = await log_in(tenant.api, user["email"]), await log_in(tenant.api, user["email"])
    session = tenant.api.as_(token)
    assert (await session(LOGOUT, all=False))["logout"] == {"endedSessions": 1, "userErrors": []}
    status, body = await status_of(stack.graphql_url, token)
    assert status == 401 and "ended" in body["errors"][0]["message"]
    assert (await status_of(stack.graphql_url, second))[0] == 200  # only that session ended
    ended = (await tenant.api(SESSIONS, user=user["id"], ended=True))["sessions"]["nodes"]
    assert sorted(n["active"] for n in ended) == [False, True]
    assert (await tenant.api.as_(second)(LOGOUT, all=True))["logout"]["endedSessions"] == 1
    assert (await status_of(stack.graphql_url, second))[0] == 401
    by_key = (await tenant.api(LOGOUT, all=False))["logout"]
    assert by_key["userErrors"][0]["code"] == "NOT_A_SESSION"
    logged = await tenant.api('{ auditLogs(action: "session.ended") { totalCount } }')
    assert logged["auditLogs"]["totalCount"] >= 2


async def test_a_user_revokes_their_own_sessions_and_an_admin_anyones(stack, tenant) -> None:
    alice, bob = await add_user(tenant.api, "VIEWER"), await add_user(tenant.api, "VIEWER")
    admin = await add_user(tenant.api, "ADMIN")
    alice_1, alice_2 = await log_in(tenant.api, alice["email"]), await log_in(tenant.api, alice["email"])
    bob_token, admin_token = await log_in(tenant.api, bob["email"]), await log_in(tenant.api, admin["email"])
    alice_sessions = (await tenant.api.as_(alice_1)(SESSIONS))["sessions"]["nodes"]
    other_of_alice = next(n["id"] for n in alice_sessions if not n["current"])
    bob_session = (await tenant.api.as_(bob_token)(SESSIONS))["sessions"]["nodes"][0]["id"]

    refused = (await tenant.api.as_(alice_1)(REVOKE, id=bob_session))["revokeSession"]
    assert refused["session"] is None and refused["userErrors"][0]["code"] == "NOT_FOUND"
    revoked = (await tenant.api.as_(alice_1)(REVOKE, id=other_of_alice))["revokeSession"]
    assert revoked["userErrors"] == [] and revoked["session"]["active"] is False
    assert (await status_of(stack.graphql_url, alice_2))[0] == 401
    assert (await status_of(stack.graphql_url, alice_1))[0] == 200

    by_admin = (await tenant.api.as_(admin_token)(REVOKE, id=bob_session))["revokeSession"]
    assert by_admin["userErrors"] == [] and by_admin["session"]["revokedAt"] is not None
    assert (await status_of(stack.graphql_url, bob_token))[0] == 401
    everyone = (await tenant.api.as_(admin_token)(SESSIONS))["sessions"]["nodes"]
    assert {n["staffUser"]["email"] for n in everyone} >= {alice["email"], admin["email"]}


async def test_a_shorter_session_can_be_asked_for_but_never_a_longer_one(stack, tenant) -> None:
    user = await add_user(tenant.api, "VIEWER")
    login = tenant.api.as_(None)
    short = (await login(LOGIN, input={"email": user["email"], "password": PASSWORD, "expiresInSeconds": 60}))
    token = short["login"]["token"]
    expires = (await tenant.api.as_(token)(SESSIONS))["sessions"]["nodes"][0]["expiresAt"]
    assert expires == short["login"]["expiresAt"]
    too_long = await login(LOGIN, input={"email": user["email"], "password": PASSWORD, "expiresInSeconds": 10**6})
    assert too_long["login"]["token"] is None
    assert too_long["login"]["userErrors"][0]["code"] == "INVALID_SESSION_LIFETIME"


# --- staff users: disabled, given another role ----------------------------------------------------


async def test_disabling_a_user_ends_their_sessions_and_enabling_needs_a_new_login(stack, tenant) -> None:
    user = await add_user(tenant.api, "FINANCE")
    token = await log_in(tenant.api, user["email"])
    disabled = (await tenant.api(DISABLE, id=user["id"]))["disableStaffUser"]
    assert disabled == {"staffUser": {"id": user["id"], "active": False}, "userErrors": []}
    assert (await status_of(stack.graphql_url, token))[0] == 401
    refused = (await tenant.api.as_(None)(LOGIN, input={"email": user["email"], "password": PASSWORD}))["login"]
    assert refused["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    assert (await tenant.api(ENABLE, id=user["id"]))["enableStaffUser"]["staffUser"]["active"] is True
    assert (await status_of(stack.graphql_url, token))[0] == 401  # the old session stays ended
    fresh = await log_in(tenant.api, user["email"])
    assert (await status_of(stack.graphql_url, fresh))[0] == 200
    actions = await tenant.api('{ auditLogs(targetType: "staff_user") { nodes { action } } }')
    assert {"staff_user.disabled", "staff_user.enabled"} <= {n["action"] for n in actions["auditLogs"]["nodes"]}


async def test_a_new_role_applies_at_the_next_request(stack, tenant) -> None:
    user = await add_user(tenant.api, "ADMIN")
    session = tenant.api.as_(await log_in(tenant.api, user["email"]))
    assert (await session("{ apiKeys { totalCount } }"))["apiKeys"]["totalCount"] >= 1
    changed = (await tenant.api(ROLE, id=user["id"], role="VIEWER"))["changeStaffUserRole"]
    assert changed == {"staffUser": {"id": user["id"], "role": "VIEWER", "active": True}, "userErrors": []}
    assert (await session("{ viewer { role } }"))["viewer"]["role"] == "VIEWER"
    with pytest.raises(TransportQueryError) as refused:
        await session("{ apiKeys { totalCount } }")
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"
    entry = await tenant.api('{ auditLogs(action: "staff_user.role_changed") { nodes { targetId before after } } }')
    mine = next(n for n in entry["auditLogs"]["nodes"] if n["targetId"] == user["id"])
    assert mine["before"]["role"] == "ADMIN" and mine["after"]["role"] == "VIEWER"


async def test_an_admin_cannot_reach_above_their_own_role(stack, tenant) -> None:
    owner, admin = await add_user(tenant.api, "OWNER"), await add_user(tenant.api, "ADMIN")
    viewer = await add_user(tenant.api, "VIEWER")
    as_admin = tenant.api.as_(await log_in(tenant.api, admin["email"]))
    for query, variables in [
        (ROLE, {"id": viewer["id"], "role": "OWNER"}),  # raise anyone above ADMIN
        (ROLE, {"id": owner["id"], "role": "VIEWER"}),  # demote an OWNER
        (DISABLE, {"id": owner["id"]}),  # disable an OWNER
    ]:
        payload = next(iter((await as_admin(query, **variables)).values()))
        assert payload["staffUser"] is None and payload["userErrors"][0]["code"] == "FORBIDDEN", payload
    assert (await as_admin(ROLE, id=viewer["id"], role="FINANCE"))["changeStaffUserRole"]["userErrors"] == []
    own = (await as_admin(DISABLE, id=admin["id"]))["disableStaffUser"]["userErrors"]
    assert own[0]["code"] == "CANNOT_DISABLE_SELF"
    # The organization keeps an active OWNER user: the last one cannot be demoted or disabled.
    last = (await tenant.api(ROLE, id=owner["id"], role="ADMIN"))["changeStaffUserRole"]["userErrors"]
    assert last[0]["code"] == "LAST_OWNER"
    assert (await tenant.api(DISABLE, id=owner["id"]))["disableStaffUser"]["userErrors"][0]["code"] == "LAST_OWNER"
    second_owner = await add_user(tenant.api, "OWNER")
    assert (await tenant.api(ROLE, id=owner["id"], role="ADMIN"))["changeStaffUserRole"]["userErrors"] == []
    assert second_owner["role"] == "OWNER"


# --- sockets end with their credentials ---------------------------------------------------------


async def test_audit_trail_socket_closes_when_its_api_key_is_revoked(stack, tenant) -> None:
    created = (await tenant.api('mutation { createApiKey(input: {name: "watcher", role: FINANCE}) '
                                "{ secret apiKey { id } } }"))["createApiKey"]
    async with LiveSubscription(stack.ws_url, created["secret"], AUDIT_TRAIL) as live:
        await live_audit_trail(live, tenant)
        started = time.monotonic()
        await tenant.api("mutation($id: ID!) { revokeApiKey(input: {id: $id}) { userErrors { code } } }",
                         id=created["apiKey"]["id"])
        code, elapsed = await closed_after(live, started)
    print(f"revoked key -> socket closed {code} after {elapsed * 1000:.0f} ms")
    assert code == 4401 and elapsed < CLOSE_WITHIN_S


async def test_usage_socket_closes_when_its_api_key_is_revoked(stack, tenant) -> None:
    m = uid("rev")
    await metric(tenant.api, m, "SUM", "value")
    await plan(tenant.api, "p-" + m, [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}])
    await customer(tenant.api, "c-" + m)
    await subscribe(tenant.api, "c-" + m, "p-" + m, "s-" + m)
    created = (await tenant.api('mutation { createApiKey(input: {name: "meter", role: VIEWER}) '
                                "{ secret apiKey { id } } }"))["createApiKey"]
    async with LiveSubscription(stack.ws_url, created["secret"], USAGE, c="c-" + m) as live:
        assert (await live.next())["usageUpdated"]["amount"] == "0.00"
        started = time.monotonic()
        await tenant.api("mutation($id: ID!) { revokeApiKey(input: {id: $id}) { userErrors { code } } }",
                         id=created["apiKey"]["id"])
        code, elapsed = await closed_after(live, started)
    print(f"revoked key -> usageUpdated closed {code} after {elapsed * 1000:.0f} ms")
    assert code == 4401 and elapsed < CLOSE_WITHIN_S


async def test_audit_trail_socket_closes_at_logout(stack, tenant) -> None:
    user = await add_user(tenant.api, "FINANCE")
    token = await log_in(tenant.api, user["email"])
    async with LiveSubscription(stack.ws_url, token, AUDIT_TRAIL) as live:
        await live_audit_trail(live, tenant)
        started = time.monotonic()
        assert (await tenant.api.as_(token)(LOGOUT, all=False))["logout"]["endedSessions"] == 1
        code, elapsed = await closed_after(live, started)
    print(f"logout -> socket closed {code} after {elapsed * 1000:.0f} ms")
    assert code == 4401 and elapsed < CLOSE_WITHIN_S


async def test_audit_trail_socket_closes_when_its_user_is_disabled(stack, tenant) -> None:
    user = await add_user(tenant.api, "ADMIN")
    token = await log_in(tenant.api, user["email"])
    async with LiveSubscription(stack.ws_url, token, AUDIT_TRAIL) as live:
        await live_audit_trail(live, tenant)
        started = time.monotonic()
        assert (await tenant.api(DISABLE, id=user["id"]))["disableStaffUser"]["userErrors"] == []
        code, elapsed = await closed_after(live, started)
    print(f"user disabled -> socket closed {code} after {elapsed * 1000:.0f} ms")
    assert code == 4401 and elapsed < CLOSE_WITHIN_S


async def test_audit_trail_socket_closes_with_4403_when_the_role_drops_below_finance(stack, tenant) -> None:
    m = uid("role")
    await metric(tenant.api, m, "SUM", "value")
    await plan(tenant.api, "p-" + m, [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}])
    await customer(tenant.api, "c-" + m)
    await subscribe(tenant.api, "c-" + m, "p-" + m, "s-" + m)
    user = await add_user(tenant.api, "FINANCE")
    token = await log_in(tenant.api, user["email"])
    async with (
        LiveSubscription(stack.ws_url, token, AUDIT_TRAIL) as audit_socket,
        LiveSubscription(stack.ws_url, token, USAGE, c="c-" + m) as usage_socket,
    ):
        await live_audit_trail(audit_socket, tenant)
        assert (await usage_socket.next())["usageUpdated"]["amount"] == "0.00"
        started = time.monotonic()
        assert (await tenant.api(ROLE, id=user["id"], role="VIEWER"))["changeStaffUserRole"]["userErrors"] == []
        code, elapsed = await closed_after(audit_socket, started)
        print(f"role FINANCE -> VIEWER: auditTrail closed {code} after {elapsed * 1000:.0f} ms")
        assert code == 4403 and elapsed < CLOSE_WITHIN_S
        # A VIEWER may still watch usage: that socket stays and keeps receiving.
        status, _ = await post_events(stack, tenant.api_key, [
            {"transactionId": uid("t"), "customerExternalId": "c-" + m, "metricCode": m, "properties": {"value": 3}}])
        assert status == 200
        assert (await usage_socket.next())["usageUpdated"]["amount"] == "3.00"
        assert not usage_socket.closed.done()


async def test_a_socket_closes_when_its_session_expires(stack, tenant) -> None:
    user = await add_user(tenant.api, "FINANCE")
    token = await log_in(tenant.api, user["email"], expiresInSeconds=3)
    started = time.monotonic()
    async with LiveSubscription(stack.ws_url, token, AUDIT_TRAIL) as live:
        await live_audit_trail(live, tenant)
        code, elapsed = await closed_after(live, started)
    print(f"3 s session -> socket closed {code} after {elapsed * 1000:.0f} ms from login")
    assert code == 4401 and 2.5 < elapsed < 3 + CLOSE_WITHIN_S
    assert (await status_of(stack.graphql_url, token))[0] == 401


async def test_a_revocation_whose_message_is_lost_is_caught_by_the_periodic_check(stack, tenant) -> None:
    """The key is revoked behind the API's back (in SQL: no message on Redis), as if the message were lost."""
    created = (await tenant.api('mutation { createApiKey(input: {name: "quiet", role: FINANCE}) '
                                "{ secret apiKey { id } } }"))["createApiKey"]
    async with LiveSubscription(stack.ws_url, created["secret"], AUDIT_TRAIL) as live:
        await live_audit_trail(live, tenant)
        started = time.monotonic()
        await execute(stack.database_url, "UPDATE api_keys SET revoked_at = now() WHERE id = $1::uuid",
                      created["apiKey"]["id"])
        code, elapsed = await closed_after(live, started)
    print(f"revoked without a message -> socket closed {code} after {elapsed * 1000:.0f} ms")
    assert code == 4401 and elapsed < CLOSE_WITHIN_S


# --- a session in use lives on (refreshSession) -------------------------------------------------------

REFRESH = "mutation { refreshSession { token expiresAt userErrors { field code message } } }"


async def test_a_session_in_use_is_refreshed_with_a_new_token_and_the_old_one_ends_with_it(stack, tenant) -> None:
    user = await add_user(tenant.api, "VIEWER")
    login = (await tenant.api.as_(None)(LOGIN, input={"email": user["email"], "password": PASSWORD,
                                                       "expiresInSeconds": 60}))["login"]
    refreshed = (await tenant.api.as_(login["token"])(REFRESH))["refreshSession"]
    assert refreshed["userErrors"] == [] and refreshed["token"] != login["token"]
    # SESSION_TTL_SECONDS from now (the stack's default: 15 minutes), where the login asked for a minute.
    assert datetime.fromisoformat(refreshed["expiresAt"]) - datetime.fromisoformat(login["expiresAt"]) > timedelta(
        minutes=13)
    assert (await status_of(stack.graphql_url, refreshed["token"]))[0] == 200
    listed = (await tenant.api(SESSIONS, user=user["id"]))["sessions"]["nodes"]
    assert [datetime.fromisoformat(n["expiresAt"]) for n in listed] == [datetime.fromisoformat(refreshed["expiresAt"])]
    logged = await tenant.api('{ auditLogs(action: "session.refreshed") { nodes { targetId } } }')
    assert [n["targetId"] for n in logged["auditLogs"]["nodes"]] == [listed[0]["id"]]
    # One session, two tokens: logging out with the new one ends the old one too.
    assert (await tenant.api.as_(refreshed["token"])(LOGOUT, all=False))["logout"]["endedSessions"] == 1
    for token in (login["token"], refreshed["token"]):
        assert (await status_of(stack.graphql_url, token))[0] == 401
    assert (await status_of(stack.graphql_url, login["token"], REFRESH))[0] == 401
    # An API key has no session to keep alive.
    assert (await tenant.api(REFRESH))["refreshSession"]["userErrors"][0]["code"] == "NOT_A_SESSION"


async def test_a_refreshed_session_never_outlives_its_longest_life(stack, tenant) -> None:
    """Time as an input: the use case on a clock of its own (a 15-minute session, 1 hour at most after login)."""
    user = await add_user(tenant.api, "VIEWER")
    organization = uuid.UUID(tenant.organization_id)
    start = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
    clock = ManualClock(start)
    config = SessionConfig(stack.secret_key, ttl_seconds=900, max_age_seconds=3600)
    db = Database(stack.database_url, pool_size=1, clock=clock)
    try:
        async with db.unit_of_work() as uow:
            staff = await StaffUserRepository(uow.session, organization).get(uuid.UUID(user["id"]))
        assert staff is not None
        opened = await sessions._open_session(db, config, staff, None, None, None, None)
        claims = jwt.decode(opened.token, options={"verify_signature": False})  # its session id
        actor = Actor(organization, Role.VIEWER, "user", user["id"], user["email"], None,
                      session_id=uuid.UUID(claims["sid"]))

        async def refresh_at(minutes: int) -> datetime:
            clock.set(start + timedelta(minutes=minutes))
            async with db.unit_of_work() as uow:
                return (await sessions.refresh_session(uow, actor, config)).expires_at

        assert opened.expires_at == start + timedelta(minutes=15)
        for minutes in (10, 20, 30, 40):  # each time before it expires: 15 minutes from then
            assert await refresh_at(minutes) == start + timedelta(minutes=minutes + 15)
        assert await refresh_at(50) == start + timedelta(hours=1)  # not 65 minutes: the longest life
        with pytest.raises(Invalid) as refused:
            await refresh_at(55)
        assert refused.value.code == AccessCode.SESSION_AT_MAX_AGE
        with pytest.raises(NotFound):  # expired: nothing to keep alive
            await refresh_at(61)
        async with db.unit_of_work() as uow:
            record = await StaffSessionRepository(uow.session, organization).get(actor.session_id)
        assert record is not None and record.created_at == start and record.expires_at == start + timedelta(hours=1)
    finally:
        await db.dispose()
