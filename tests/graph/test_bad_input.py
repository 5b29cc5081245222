"""Bad requests get a clear error and no stack trace; the server keeps serving."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import websockets
from gql import gql
from gql.transport.exceptions import TransportQueryError

from tests.client import ws_client


async def _raw(
    stack,
    body: str | None = None,
    *,
    token: str | None = None,
    method: str = "POST",
    content_type: str = "application/json",
) -> tuple[int, str]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, stack.graphql_url, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ("{not json", 400, "Unable to parse request body as JSON"),
        ('{"variables": {}}', 400, "No GraphQL query found"),
        ('{"query": "{ viewer { name } }", "variables": "nope"}', 400, "variables"),
    ],
)
async def test_malformed_requests_get_400_with_a_reason(stack, tenant, body, status, needle) -> None:
    got, text = await _raw(stack, body, token=tenant.api_key)
    assert got == status and needle in text and "Traceback" not in text


async def test_invalid_documents_get_graphql_errors(stack, tenant) -> None:
    with pytest.raises(TransportQueryError) as error:
        await tenant.api("{ viewer { nope } }")
    assert "Cannot query field 'nope'" in str(error.value)
    _status, text = await _raw(stack, '{"query": "{ viewer { "}', token=tenant.api_key)
    assert "Syntax Error" in text and "Traceback" not in text
    with pytest.raises(TransportQueryError) as error:
        await tenant.api("query($n: Int) { apiKeys(first: $n) { totalCount } }", n="ten")
    assert "Int cannot represent non-integer value" in str(error.value)


async def test_unknown_operation_name_is_an_error(stack, tenant) -> None:
    status, text = await _raw(
        stack, '{"query": "query A { viewer { name } }", "operationName": "B"}', token=tenant.api_key
    )
    assert status == 400 and 'Unknown operation named \\"B\\"' in text and "Traceback" not in text


async def test_over_aliased_queries_are_refused(tenant) -> None:
    aliased = "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(40)) + " }"
    with pytest.raises(TransportQueryError) as error:
        await tenant.api(aliased)
    assert "aliases found" in str(error.value)


async def test_mutations_over_get_are_refused(stack, tenant) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            stack.graphql_url,
            params={"query": 'mutation { login(input: {email: "a", password: "b"}) { token } }'},
            headers={"Authorization": f"Bearer {tenant.api_key}", "Accept": "application/json"},
        ) as response,
    ):
        assert response.status in (400, 405)


async def test_bad_pagination_arguments_are_client_errors(tenant) -> None:
    for args, needle in [("first: 5000", "first must be between"), ('after: "garbage"', "cursor")]:
        with pytest.raises(TransportQueryError) as error:
            await tenant.api(f"{{ apiKeys({args}) {{ totalCount }} }}")
        assert needle in str(error.value)
        assert error.value.errors[0]["extensions"]["code"] == "BAD_PAGINATION"


async def test_websocket_without_or_with_a_bad_token_is_rejected(stack, tenant) -> None:
    for payload in [{}, {"authorization": "Bearer vv_unknown"}]:
        async with websockets.connect(stack.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=5)
        assert closed.value.rcvd.code == 4403


async def test_websocket_with_a_good_token_is_accepted(stack, tenant) -> None:
    async with ws_client(stack.ws_url, tenant.api_key) as session:
        assert (await session.execute(gql("{ viewer { name } }")))["viewer"]["name"] == "default"


async def test_graphiql_is_served_to_browsers(stack) -> None:
    async with aiohttp.ClientSession() as http, http.get(stack.graphql_url, headers={"Accept": "text/html"}) as r:
        assert r.status == 200 and "graphiql" in (await r.text()).lower()


async def test_server_still_serves_after_all_that(stack, tenant) -> None:
    assert (await tenant.api("{ viewer { name } }"))["viewer"]["name"] == "default"


async def test_over_deep_queries_are_refused(tenant) -> None:
    on_customer = "subscriptions { plan { charges { billableMetric { filters { key } } } } }"
    for _ in range(3):  # customer -> subscriptions -> customer -> ...: 14 levels in all
        on_customer = f"subscriptions {{ customer {{ {on_customer} }} }}"
    with pytest.raises(TransportQueryError) as error:
        await tenant.api("{ customers { nodes { " + on_customer + " } } }")
    assert "exceeds maximum operation depth" in str(error.value)
