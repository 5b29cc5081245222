"""GraphQL while PostgreSQL cannot be reached: 503 with Retry-After and a clean error, never a 500 or a mask;
when the database is back, the same API process answers again without a restart.

The database is taken away from one API process of its own only (a TCP relay that the test cuts, as in
tests/usage/test_storage_down.py); the shared test stack never loses its database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from services.documents import signed_pdf_path
from tests.client import LiveSubscription
from tests.graph.catalog_helpers import customer, uid
from tests.ops.servers import readiness
from tests.stack import ApiProcess, start_api
from tests.usage.test_storage_down import Relay

QUERY = "{ organization { id name } customers(first: 5) { totalCount } }"
MUTATION = """mutation($i: CreateCustomerInput!) { createCustomer(input: $i) {
  customer { externalId } userErrors { code } } }"""
LOGIN = """mutation { login(input: {email: "nobody@down.test", password: "a long enough password"}) {
  token userErrors { code } } }"""
LEAKS = ("internal error", "INTERNAL_SERVER_ERROR", "Traceback", ".py", "asyncpg", "sqlalchemy", "SELECT", "127.0.0.1")


@dataclass
class Outage:
    api: ApiProcess
    relay: Relay


@pytest.fixture
async def outage(stack) -> AsyncIterator[Outage]:
    """An API process (one, so every request meets the same pools) reaching PostgreSQL through a relay."""
    parts = urlsplit(stack.database_url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await relay.start()
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    database_url = urlunsplit(parts._replace(netloc=netloc))
    api = await asyncio.to_thread(start_api, stack, "api-database-down", DATABASE_URL=database_url,
                                  WEB_CONCURRENCY="1")
    try:
        yield Outage(api, relay)
    finally:
        await asyncio.to_thread(api.stop)
        await relay.stop()


async def _post(url: str, query: str, token: str | None, **variables: object) -> tuple[int, dict, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.post(
        url, json={"query": query, "variables": variables or None}, headers=headers
    ) as response:
        return response.status, dict(response.headers), await response.json(content_type=None)


def _assert_unavailable(status: int, headers: dict, answer: dict) -> None:
    assert status == 503, (status, answer)
    assert int(headers["Retry-After"]) >= 1
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", answer
    assert "retry" in error["message"]
    assert not any(leak in str(answer) for leak in LEAKS), answer


async def test_graphql_answers_503_with_retry_after_while_the_database_is_down(stack, outage, tenant) -> None:
    url = outage.api.graphql_url
    await customer(tenant.api.__class__(url, tenant.api_key), uid("before-outage"))
    status, _, answer = await _post(url, QUERY, tenant.api_key)
    assert status == 200 and answer["data"]["organization"]["id"] == tenant.organization_id, answer

    outage.relay.take_down()
    during = uid("during-outage")
    # A query and a mutation by a known key (its key may be remembered: then the resolver meets the outage),
    # and a login (nobody authenticated: the login itself meets it).
    for query, token, variables in [
        (QUERY, tenant.api_key, {}),
        (MUTATION, tenant.api_key, {"i": {"externalId": during, "name": "During"}}),
        (QUERY, tenant.api_key, {}),
        (LOGIN, None, {}),
    ]:
        _assert_unavailable(*await _post(url, query, token, **variables))
    assert (await readiness(outage.api.url))[0] == 503  # and /readyz tells the load balancer: not ready
    # A WebSocket whose credentials cannot be checked now is told to try again later (1013), not dropped.
    async with LiveSubscription(outage.api.ws_url, tenant.api_key, "subscription { auditTrail { action } }") as live:
        closed = await live.wait_closed()
    assert closed.code == 1013 and "retry" in closed.reason, closed
    # Not GraphQL alone: a signed PDF link (no credentials, a read of the document) says the same.
    async with aiohttp.ClientSession() as http, http.get(
        outage.api.url + signed_pdf_path(uuid.uuid4(), stack.secret_key)
    ) as response:
        _assert_unavailable(response.status, dict(response.headers), await response.json(content_type=None))

    outage.relay.bring_back()
    async with asyncio.timeout(30):  # the pool notices the database is back by itself: no restart
        while True:
            status = (await _post(url, QUERY, tenant.api_key))[0]
            if status != 503:
                break
            await asyncio.sleep(0.1)
    assert status == 200
    assert (await readiness(outage.api.url))[0] == 200
    # Nothing of the refused mutation was kept: creating the same customer now succeeds.
    status, _, answer = await _post(url, MUTATION, tenant.api_key, i={"externalId": during, "name": "During"})
    assert status == 200 and answer["data"]["createCustomer"]["userErrors"] == [], answer
    assert outage.api.process.poll() is None


async def test_an_unknown_key_during_the_outage_is_503_too_not_401(outage, tenant) -> None:
    """While the keys cannot be read, the server cannot tell a good key from a bad one: it says so."""
    outage.relay.take_down()
    _assert_unavailable(*await _post(outage.api.graphql_url, QUERY, "vv_not_a_key_we_ever_issued_0000000000"))
