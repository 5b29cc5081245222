"""Nothing already stored can make rating fail: usage stored before today's limits (written here with SQL,
as an older version could have written it) makes that customer's usage a clear error with a reason,
and that customer alone fails a billing run, with the reason; every other customer is rated and billed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.client import TransportQueryError
from tests.db import execute
from tests.graph.catalog_helpers import USAGE, customer, metric, plan, send, subscribe, uid

RUN = """mutation($asOf: DateTime) { runBilling(input: {asOf: $asOf}) {
  invoices { customer { externalId } totalAmount lines { kind billableMetricCode units amount } }
  failures { customerExternalId reason } userErrors { code } } }"""

HUGE = "9" * 4000  # a 4,000-digit number: accepted with 200 before values had limits


async def _store_event(stack, org: str, customer_id: str, metric_code: str, tid: str, at: datetime,
                       properties: str, value: str | None) -> None:
    """One event as the writer stores it: its key, the event, and its hour in the rollups."""
    await execute(stack.database_url, "INSERT INTO usage_event_keys VALUES ($1::uuid, $2)", org, tid)
    await execute(
        stack.database_url,
        "INSERT INTO usage_events (organization_id, transaction_id, customer_external_id, metric_code, timestamp,"
        " properties, value, dims, received_at) VALUES ($1::uuid, $2, $3, $4, $5, $6::jsonb, $7::numeric, '', $5)",
        org, tid, customer_id, metric_code, at, properties, value,
    )
    await execute(
        stack.database_url,
        "INSERT INTO usage_rollups (organization_id, customer_external_id, metric_code, hour, subscription_external_id,"
        " dims, events, value_sum, value_max)"
        " VALUES ($1::uuid, $2, $3, date_trunc('hour', $4::timestamptz, 'UTC'), '', '',"
        " 1, coalesce($5::numeric, 0), $5::numeric)"
        " ON CONFLICT (organization_id, customer_external_id, metric_code, hour, subscription_external_id, dims)"
        " DO UPDATE SET events = usage_rollups.events + 1, value_sum = usage_rollups.value_sum + excluded.value_sum,"
        " value_max = greatest(usage_rollups.value_max, excluded.value_max)",
        org, customer_id, metric_code, at, value,
    )


async def _customers(api, aggregation: str, started: datetime, names: list[str]) -> str:
    m = uid(aggregation.lower())
    await metric(api, m, aggregation, "value")
    p = uid("plan")
    await plan(api, p, [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}], amount="10")
    for name in names:
        await customer(api, name)
        await subscribe(api, name, p, "sub-" + name, startedAt=started.isoformat(), billingTime="ANNIVERSARY")
    return m


def _whole_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@pytest.mark.parametrize(("aggregation", "properties", "needle"), [
    ("SUM", f'{{"value": {HUGE}}}', "hourly total"),  # rated from the hourly rollups
    ("LATEST", f'{{"value": {HUGE}}}', "more than 15 digits"),  # rated from the raw events
    ("MAX", f'{{"value": "{HUGE}"}}', "hourly total"),
    ("LATEST", '{"value": 1, "tree": ' + "[" * 3000 + "]" * 3000 + "}", "cannot be read back"),
])
async def test_stored_values_beyond_the_limits_make_that_customers_usage_a_clear_error(
    stack, tenant, aggregation, properties, needle
) -> None:
    now = datetime.now(UTC)
    bad, good = uid("bad"), uid("good")
    m = await _customers(tenant.api, aggregation, now - timedelta(days=3), [bad, good])
    value = HUGE if HUGE in properties else "1"
    await _store_event(stack, tenant.organization_id, bad, m, uid("old"), _whole_hour(now) - timedelta(hours=5),
                       properties, value)
    assert (await send(tenant.api, good, m, [5]))["accepted"] == 1
    assert (await send(tenant.api, bad, m, [2]))["accepted"] == 1  # new usage is still taken

    with pytest.raises(TransportQueryError) as caught:
        await tenant.api(USAGE, c=bad)
    error = caught.value.errors[0]
    assert error["extensions"]["code"] == "USAGE_NOT_RATEABLE"
    assert bad in error["message"] and needle in error["message"] and m in error["message"]
    usage = (await tenant.api(USAGE, c=good))["customerUsage"]
    assert usage["charges"][0]["units"] == "5"


async def test_a_billing_run_lists_the_unrateable_customer_as_failed_and_bills_every_other(stack, tenant) -> None:
    now = datetime.now(UTC)
    started = now - timedelta(days=40)  # the first monthly period ended about 9 days ago
    bad, good, quiet = uid("bad"), uid("good"), uid("quiet")
    m = await _customers(tenant.api, "SUM", started, [bad, good, quiet])
    at = _whole_hour(started) + timedelta(days=2)
    await _store_event(stack, tenant.organization_id, bad, m, uid("old"), at, f'{{"value": {HUGE}}}', HUGE)
    await _store_event(stack, tenant.organization_id, good, m, uid("ok"), at, '{"value": 4}', "4")

    run = (await tenant.api(RUN, asOf=now.isoformat()))["runBilling"]
    assert run["userErrors"] == []
    assert [f["customerExternalId"] for f in run["failures"]] == [bad]
    reason = run["failures"][0]["reason"]
    assert reason.startswith("USAGE_NOT_RATEABLE: ") and "hourly total" in reason and "internal error" not in reason
    billed = {i["customer"]["externalId"]: i for i in run["invoices"]}
    assert set(billed) == {good, quiet}
    assert billed[good]["totalAmount"] == "14.00" and billed[quiet]["totalAmount"] == "10.00"

    again = (await tenant.api(RUN, asOf=now.isoformat()))["runBilling"]  # still failing, still alone
    assert [f["customerExternalId"] for f in again["failures"]] == [bad] and again["invoices"] == []
