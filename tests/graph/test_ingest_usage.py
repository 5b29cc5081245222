"""ingestUsage: valid events count, invalid ones are rejected with a reason, replays count once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.db import scalar
from tests.graph.catalog_helpers import INGEST, USAGE, customer, metric, plan, subscribe, uid


async def _setup(api) -> str:
    m = uid("requests")
    await metric(api, m, "SUM", "value")
    await plan(api, "usage-plan", [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}])
    await customer(api, "c-usage")
    await subscribe(api, "c-usage", "usage-plan", "s-usage")
    return m


def _event(m: str, tid: str, value: object = 1, **extra) -> dict:
    return {"transactionId": tid, "customerExternalId": "c-usage", "metricCode": m, "properties": {"value": value},
            **extra}


async def test_a_batch_keeps_its_valid_events_and_explains_the_rest(stack, tenant) -> None:
    m = await _setup(tenant.api)
    now = datetime.now(UTC)
    events = [
        _event(m, "ok-1", 5),
        _event("no-such-metric", "bad-metric"),
        {**_event(m, "bad-customer"), "customerExternalId": "nobody"},
        _event(m, "too-old", timestamp=(now - timedelta(days=36)).isoformat()),
        _event(m, "future", timestamp=(now + timedelta(hours=1)).isoformat()),
        _event(m, "not-a-number", "lots"),
        {**_event(m, "no-value"), "properties": {}},
        _event(m, "", 1),
        _event(m, "ok-2", "2.5", subscriptionExternalId="s-usage"),
        _event(m, "ok-1", 5),
    ]
    result = (await tenant.api(INGEST, input={"events": events}))["ingestUsage"]
    assert result["accepted"] == 2 and result["duplicates"] == 1
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (1, "UNKNOWN_METRIC"), (2, "CUSTOMER_NOT_FOUND"), (3, "TIMESTAMP_TOO_OLD"), (4, "TIMESTAMP_IN_FUTURE"),
        (5, "INVALID_PROPERTY"), (6, "MISSING_PROPERTY"), (7, "INVALID_TRANSACTION_ID")]
    assert all(r["message"] for r in result["rejected"])
    assert result["rejected"][0]["transactionId"] == "bad-metric"
    usage = (await tenant.api(USAGE, c="c-usage"))["customerUsage"]
    assert usage["charges"][0]["units"] == "7.5"
    assert await scalar(stack.database_url, "SELECT count(*) FROM usage_events WHERE organization_id = $1::uuid",
                        tenant.organization_id) == 2


async def test_replayed_events_are_counted_once_even_concurrently(tenant) -> None:
    m = await _setup(tenant.api)
    batch = [_event(m, f"tx-{i}", 1) for i in range(50)]
    overlapping = [_event(m, f"tx-{i}", 1) for i in range(25, 75)]
    results = await asyncio.gather(*[tenant.api(INGEST, input={"events": b})
                                     for b in [batch, overlapping, batch, overlapping]])
    accepted = sum(r["ingestUsage"]["accepted"] for r in results)
    duplicates = sum(r["ingestUsage"]["duplicates"] for r in results)
    assert accepted == 75 and accepted + duplicates == 200
    later = (await tenant.api(INGEST, input={"events": batch}))["ingestUsage"]
    assert later == {"accepted": 0, "duplicates": 50, "rejected": [], "userErrors": []}
    assert (await tenant.api(USAGE, c="c-usage"))["customerUsage"]["charges"][0]["units"] == "75"


async def test_same_transaction_id_in_two_organizations_counts_in_both(tenant, other_tenant) -> None:
    for t in (tenant, other_tenant):
        m = await _setup(t.api)
        result = (await t.api(INGEST, input={"events": [_event(m, "shared-id")]}))["ingestUsage"]
        assert result["accepted"] == 1


async def test_too_large_a_batch_is_a_user_error(tenant) -> None:
    m = await _setup(tenant.api)
    events = [_event(m, f"big-{i}") for i in range(10_001)]
    result = (await tenant.api(INGEST, input={"events": events}))["ingestUsage"]
    assert result["accepted"] == 0 and result["userErrors"] == [{"code": "BATCH_TOO_LARGE"}]


async def test_negative_values_count_as_sent_and_are_priced_as_zero_below_zero(tenant) -> None:
    """docs/billing-semantics.md, "Negative values" (as in Lago)."""
    from tests.graph.catalog_helpers import priced

    def units_and_amount(usage: dict) -> tuple[str, str]:
        return usage["charges"][0]["units"], usage["amount"]

    standard = {"amount": "1"}
    assert units_and_amount(await priced(tenant.api, "STANDARD", standard, [10, -3])) == ("7", "7.00")
    assert units_and_amount(await priced(tenant.api, "STANDARD", standard, ["-5.5"])) == ("-5.5", "0.00")
    assert units_and_amount(await priced(tenant.api, "STANDARD", standard, [-2, -7], aggregation="MAX")) == (
        "-2", "0.00")
    assert units_and_amount(await priced(tenant.api, "STANDARD", standard, [-4], aggregation="LATEST")) == (
        "-4", "0.00")
    percentage = {"rate": "10", "fixedAmount": "0.5"}
    assert units_and_amount(await priced(tenant.api, "PERCENTAGE", percentage, [100, -50])) == ("50", "11.00")


async def test_ids_are_read_without_the_spaces_around_them(tenant) -> None:
    m = await _setup(tenant.api)
    events = [{**_event(m, "spaced-1"), "customerExternalId": "  c-usage "},
              {**_event(m, "spaced-2"), "customerExternalId": None, "subscriptionExternalId": " s-usage  "}]
    result = (await tenant.api(INGEST, input={"events": events}))["ingestUsage"]
    assert result == {"accepted": 2, "duplicates": 0, "rejected": [], "userErrors": []}
