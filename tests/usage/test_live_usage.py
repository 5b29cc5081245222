"""usageUpdated: the live meter over graphql-transport-ws."""

from __future__ import annotations

import asyncio

import pytest
from gql import gql

from tests.client import ws_client
from tests.graph.catalog_helpers import customer, metric, plan, subscribe, uid
from tests.usage.helpers import post_events

LIVE = """subscription($c: String!) { usageUpdated(customerExternalId: $c) {
  amount charges { billableMetricCode units amount } } }"""


def live(customer_id: str):
    request = gql(LIVE)
    request.variable_values = {"c": customer_id}
    return request


async def _setup(api) -> str:
    m = uid("live")
    await metric(api, m, "SUM", "value")
    await plan(api, "p-" + m, [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "2"}}])
    await customer(api, "cust-" + m)
    await subscribe(api, "cust-" + m, "p-" + m, "sub-" + m)
    return m


async def test_usage_is_pushed_after_new_events_and_bursts_are_coalesced(stack, tenant) -> None:
    m = await _setup(tenant.api)
    received: list[dict] = []
    async with ws_client(stack.ws_url, tenant.api_key) as session:
        stream = session.subscribe(live("cust-" + m)).__aiter__()
        first = await asyncio.wait_for(stream.__anext__(), timeout=10)
        assert first["usageUpdated"]["amount"] == "0.00"
        for i in range(20):  # a burst of 20 requests
            status, _ = await post_events(stack, tenant.api_key, [
                {"transactionId": f"live-{i}", "customerExternalId": "cust-" + m, "metricCode": m,
                 "properties": {"value": 1}}])
            assert status == 200
        while True:
            update = await asyncio.wait_for(stream.__anext__(), timeout=10)
            received.append(update["usageUpdated"])
            if update["usageUpdated"]["amount"] == "40.00":
                break
    assert received[-1]["charges"][0]["units"] == "20"
    assert len(received) < 20  # coalesced: fewer pushes than requests


async def test_another_organization_cannot_watch_our_customer(stack, tenant, other_tenant) -> None:
    m = await _setup(tenant.api)
    async with ws_client(stack.ws_url, other_tenant.api_key) as session:
        with pytest.raises(Exception) as refused:
            async for _ in session.subscribe(live("cust-" + m)):
                break
    assert "CUSTOMER_NOT_FOUND" in repr(refused.value) or "no customer" in str(refused.value)
