"""POST /v1/events: same semantics as ingestUsage, JSON arrays and CloudEvents batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.db import scalar
from tests.graph.catalog_helpers import USAGE, customer, metric, plan, subscribe, uid
from tests.usage.helpers import post_events


async def _setup(api, aggregation: str = "SUM", **metric_extra) -> str:
    m = uid("bytes")
    await metric(api, m, aggregation, "value" if aggregation != "COUNT" else None, **metric_extra)
    await plan(api, "p-" + m, [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}])
    await customer(api, "cust-" + m)
    started = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    await subscribe(api, "cust-" + m, "p-" + m, "sub-" + m, startedAt=started, billingTime="ANNIVERSARY")
    return m


async def test_json_array_is_accepted_with_per_event_rejections(stack, tenant) -> None:
    m = await _setup(tenant.api)
    body = [{"transactionId": "a", "customerExternalId": "cust-" + m, "metricCode": m, "properties": {"value": 2.5}},
            {"transactionId": "b", "subscriptionExternalId": "sub-" + m, "metricCode": m,
             "properties": {"value": "0.1"}},
            {"transactionId": "c", "customerExternalId": "cust-" + m, "metricCode": "nope", "properties": {}},
            "not an object",
            {"transactionId": "a", "customerExternalId": "cust-" + m, "metricCode": m, "properties": {"value": 9}}]
    status, answer = await post_events(stack, tenant.api_key, body)
    assert status == 200
    assert answer["accepted"] == 2 and answer["duplicates"] == 1
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(2, "UNKNOWN_METRIC"), (3, "INVALID_EVENT")]
    usage = (await tenant.api(USAGE, c="cust-" + m))["customerUsage"]
    assert usage["charges"][0]["units"] == "2.6"


async def test_cloudevents_batch(stack, tenant) -> None:
    m = await _setup(tenant.api)
    now = datetime.now(UTC).isoformat()
    body = [{"specversion": "1.0", "id": f"ce-{i}", "source": "/billing", "type": m, "subject": "cust-" + m,
             "time": now, "data": {"value": i}} for i in range(1, 4)]
    status, answer = await post_events(stack, tenant.api_key, body, content_type="application/cloudevents-batch+json")
    assert (status, answer) == (200, {"accepted": 3, "duplicates": 0, "rejected": []})
    assert (await tenant.api(USAGE, c="cust-" + m))["customerUsage"]["charges"][0]["units"] == "6"


@pytest.mark.parametrize(("token", "content_type", "raw", "status", "code"), [
    (None, "application/json", b"[]", 401, "UNAUTHENTICATED"),
    ("vv_wrong", "application/json", b"[]", 401, "UNAUTHENTICATED"),
    ("KEY", "text/plain", b"[]", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("KEY", "application/json", b"[{", 400, "INVALID_JSON"),
    ("KEY", "application/json", b'{"events": []}', 400, "INVALID_BODY"),
])
async def test_bad_requests_get_4xx_with_a_reason(stack, tenant, token, content_type, raw, status, code) -> None:
    got, answer = await post_events(stack, tenant.api_key if token == "KEY" else token, None,
                                    content_type=content_type, raw=raw)
    assert got == status and answer["errors"][0]["extensions"]["code"] == code
    assert answer["errors"][0]["message"]


async def test_viewer_key_may_not_send_usage(stack, tenant) -> None:
    key = await tenant.api('mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret } }')
    status, answer = await post_events(stack, key["createApiKey"]["secret"], [])
    assert status == 403 and answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_oversized_batch_is_refused_whole(stack, tenant) -> None:
    m = await _setup(tenant.api)
    body = [{"transactionId": f"x{i}", "customerExternalId": "cust-" + m, "metricCode": m,
             "properties": {"value": 1}} for i in range(10_001)]
    status, answer = await post_events(stack, tenant.api_key, body)
    assert status == 413 and answer["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"
    assert await scalar(stack.database_url, "SELECT count(*) FROM usage_event_keys WHERE organization_id = $1::uuid",
                        tenant.organization_id) == 0


@pytest.mark.parametrize("aggregation", ["COUNT", "SUM", "MAX"])
async def test_rollups_and_partial_hours_add_up_exactly(stack, tenant, aggregation) -> None:
    """Events spread over three days at odd minutes: whole hours come from rollups, the edges from raw events."""
    m = await _setup(tenant.api, aggregation, filters=[{"key": "region", "values": ["eu", "us"]}])
    now = datetime.now(UTC)
    values = [round(0.37 * i, 2) for i in range(1, 101)]  # the oldest is 62 hours old: inside the period
    body = [{"transactionId": f"r{i}", "customerExternalId": "cust-" + m, "metricCode": m,
             "timestamp": (now - timedelta(minutes=37 * i)).isoformat(),
             "properties": {"value": str(v), "region": "eu" if i % 3 else "us"}} for i, v in enumerate(values, 1)]
    status, answer = await post_events(stack, tenant.api_key, body)
    assert status == 200 and answer["accepted"] == 100, answer
    from decimal import Decimal

    exact = {"COUNT": Decimal(100), "SUM": sum(Decimal(str(v)) for v in values),
             "MAX": max(Decimal(str(v)) for v in values)}[aggregation]
    usage = (await tenant.api(USAGE, c="cust-" + m))["customerUsage"]
    assert Decimal(usage["charges"][0]["units"]) == exact
    hours = await scalar(stack.database_url, "SELECT count(*) FROM usage_rollups WHERE organization_id = $1::uuid",
                         tenant.organization_id)
    assert hours > 40  # 100 events over ~62 hours, two regions: the rollups really are used
