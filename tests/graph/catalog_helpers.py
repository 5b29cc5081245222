"""GraphQL documents and small builders shared by catalog and usage tests."""

from __future__ import annotations

import itertools

CREATE_METRIC = """mutation($input: CreateBillableMetricInput!) { createBillableMetric(input: $input) {
  billableMetric { id code aggregation fieldName recurring filters { key values } }
  userErrors { field code message } } }"""
CREATE_PLAN = """mutation($input: CreatePlanInput!) { createPlan(input: $input) {
  plan { id code interval currency amount trialPeriodDays minimumCommitment charges { model billableMetric { code }
    properties { amount packageSize freeUnits rate fixedAmount freeUnitsPerEvents perTransactionMinAmount
      graduatedRanges { fromValue toValue perUnitAmount flatAmount } volumeRanges { fromValue toValue perUnitAmount } }
    filters { values properties { amount } } } }
  userErrors { field code message } } }"""
CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { id externalId name email country currency timezone taxExempt metadata }
  userErrors { field code message } } }"""
CREATE_SUBSCRIPTION = """mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) {
  subscription { externalId status billingTime startedAt trialEndsAt currentPeriodStart currentPeriodEnd
    plan { code } customer { externalId currency } planOverrides }
  userErrors { field code message } } }"""
INGEST = """mutation($input: IngestUsageInput!) { ingestUsage(input: $input) {
  accepted duplicates rejected { index transactionId code message } userErrors { code } } }"""
USAGE = """query($c: String!, $s: String) { customerUsage(customerExternalId: $c, subscriptionExternalId: $s) {
  fromDatetime toDatetime currency amount subscriptionExternalId
  charges { billableMetricCode model units amount
    breakdown { kind units fromValue toValue perUnitAmount rate flatAmount amount }
    filters { values units amount } } } }"""

_ids = itertools.count()


def uid(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


async def metric(api, code: str, aggregation: str = "SUM", field: str | None = "value", **extra) -> dict:
    data = await api(
        CREATE_METRIC,
        input={
            "code": code,
            "name": code.title(),
            "aggregation": aggregation,
            "fieldName": field if aggregation != "COUNT" else None,
            **extra,
        },
    )
    assert data["createBillableMetric"]["userErrors"] == [], data
    return data["createBillableMetric"]["billableMetric"]


async def plan(
    api, code: str, charges: list[dict], *, amount: str = "0", currency: str = "USD", interval: str = "MONTHLY", **extra
) -> dict:
    data = await api(
        CREATE_PLAN,
        input={
            "code": code,
            "name": code,
            "interval": interval,
            "currency": currency,
            "amount": amount,
            "charges": charges,
            **extra,
        },
    )
    assert data["createPlan"]["userErrors"] == [], data
    return data["createPlan"]["plan"]


async def customer(api, external_id: str, **extra) -> dict:
    data = await api(CREATE_CUSTOMER, input={"externalId": external_id, "name": external_id, **extra})
    assert data["createCustomer"]["userErrors"] == [], data
    return data["createCustomer"]["customer"]


async def subscribe(api, customer_id: str, plan_code: str, external_id: str, **extra) -> dict:
    data = await api(
        CREATE_SUBSCRIPTION,
        input={"customerExternalId": customer_id, "planCode": plan_code, "externalId": external_id, **extra},
    )
    assert data["createSubscription"]["userErrors"] == [], data
    return data["createSubscription"]["subscription"]


async def send(api, customer_id: str, metric_code: str, values: list, field: str = "value", **properties) -> dict:
    events = [
        {
            "transactionId": uid("tx"),
            "customerExternalId": customer_id,
            "metricCode": metric_code,
            "properties": {field: v, **properties} if v is not None else properties,
        }
        for v in values
    ]
    return (await api(INGEST, input={"events": events}))["ingestUsage"]


async def priced(
    api,
    model: str,
    properties: dict,
    values: list,
    *,
    aggregation: str = "SUM",
    currency: str = "USD",
    filters: list | None = None,
    metric_filters: list | None = None,
    **event_properties,
) -> dict:
    """One metric, one plan with one charge, one customer, these events: the customer's usage now."""
    code = uid("m")
    await metric(api, code, aggregation, **({"filters": metric_filters} if metric_filters else {}))
    charge = {
        "billableMetricCode": code,
        "model": model,
        "properties": properties,
        **({"filters": filters} if filters else {}),
    }
    plan_code = (await plan(api, uid("p"), [charge], currency=currency))["code"]
    cust = uid("c")
    await customer(api, cust)
    await subscribe(api, cust, plan_code, uid("s"))
    result = await send(api, cust, code, values, **event_properties)
    assert result["rejected"] == [], result
    return (await api(USAGE, c=cust))["customerUsage"]
