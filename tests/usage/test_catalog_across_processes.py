"""Ingestion answers the same whichever API process takes the events: what one process changes in the catalog,
another applies to the very next batch it receives (the stack runs two API processes)."""

from __future__ import annotations

import orjson

from tests.db import scalar
from tests.graph.catalog_helpers import customer, metric, uid
from tests.pinned import PinnedClient, clients_in_two_processes

DELETE_CUSTOMER = """mutation($input: DeleteCustomerInput!) { deleteCustomer(input: $input) {
  customer { externalId } userErrors { code } } }"""
DELETE_METRIC = """mutation($input: DeleteBillableMetricInput!) { deleteBillableMetric(input: $input) {
  billableMetric { code } userErrors { code } } }"""
UPDATE_METRIC = """mutation($input: UpdateBillableMetricInput!) { updateBillableMetric(input: $input) {
  billableMetric { code } userErrors { code } } }"""


async def _send(client: PinnedClient, customer_id: str, metric_code: str, **properties) -> dict:
    event = {"transactionId": uid("tx"), "customerExternalId": customer_id, "metricCode": metric_code,
             "properties": {"value": 1, **properties}}
    status, answer = await client.request("POST", "/v1/events", [event])
    assert status == 200, answer
    return answer


def _codes(answer: dict) -> list[str]:
    return [r["code"] for r in answer["rejected"]]


async def test_a_metric_created_through_one_process_is_usable_at_once_through_another(stack, tenant) -> None:
    async with clients_in_two_processes(stack, tenant.api_key) as (first, second):
        code, buyer = uid("fresh-metric"), uid("buyer")
        await customer(first.graphql, buyer)
        # The second process has just looked this code up and found nothing ...
        assert _codes(await _send(second, buyer, code)) == ["UNKNOWN_METRIC"]
        await metric(first.graphql, code)
        # ... and takes the metric created through the first one right away.
        assert (await _send(second, buyer, code))["accepted"] == 1


async def test_a_customer_deleted_through_one_process_is_refused_by_another(stack, tenant) -> None:
    async with clients_in_two_processes(stack, tenant.api_key) as (first, second):
        code, buyer = uid("m"), uid("leaving")
        await metric(first.graphql, code)
        await customer(first.graphql, buyer)
        assert (await _send(second, buyer, code))["accepted"] == 1  # the second process now knows the customer
        deleted = await first.graphql(DELETE_CUSTOMER, input={"externalId": buyer})
        assert deleted["deleteCustomer"]["userErrors"] == []
        assert _codes(await _send(second, buyer, code)) == ["CUSTOMER_NOT_FOUND"]
        assert _codes(await _send(first, buyer, code)) == ["CUSTOMER_NOT_FOUND"]


async def test_a_metric_deleted_through_one_process_is_refused_by_another(stack, tenant) -> None:
    async with clients_in_two_processes(stack, tenant.api_key) as (first, second):
        code, buyer = uid("short-lived"), uid("buyer")
        await metric(first.graphql, code)
        await customer(first.graphql, buyer)
        assert (await _send(second, buyer, code))["accepted"] == 1
        deleted = await first.graphql(DELETE_METRIC, input={"code": code})
        assert deleted["deleteBillableMetric"]["userErrors"] == []
        assert _codes(await _send(second, buyer, code)) == ["UNKNOWN_METRIC"]


async def test_new_metric_filters_key_the_next_event_in_another_process(stack, tenant) -> None:
    async with clients_in_two_processes(stack, tenant.api_key) as (first, second):
        code, buyer = uid("filtered"), uid("buyer")
        await metric(first.graphql, code, filters=[{"key": "region", "values": ["eu", "us"]}])
        await customer(first.graphql, buyer)
        assert (await _send(second, buyer, code, region="eu", tier="gold"))["accepted"] == 1
        updated = await first.graphql(UPDATE_METRIC, input={"code": code, "filters": [
            {"key": "region", "values": ["eu", "us"]}, {"key": "tier", "values": ["gold"]}]})
        assert updated["updateBillableMetric"]["userErrors"] == []
        assert (await _send(second, buyer, code, region="eu", tier="gold"))["accepted"] == 1
        dims = await scalar(stack.database_url, "SELECT array_agg(DISTINCT dims ORDER BY dims) FROM usage_events "
                            "WHERE organization_id = $1::uuid AND metric_code = $2", tenant.organization_id, code)
        assert sorted((orjson.loads(d) for d in dims), key=len) == [{"region": "eu"}, {"region": "eu", "tier": "gold"}]
