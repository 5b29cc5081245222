"""Metrics, plans, customers: create, read, update, delete; bad input is a userError with nothing written."""

from __future__ import annotations

import pytest

from tests.db import scalar
from tests.graph.catalog_helpers import (
    CREATE_CUSTOMER,
    CREATE_METRIC,
    CREATE_PLAN,
    customer,
    metric,
    plan,
    subscribe,
    uid,
)

RANGE = {"perUnitAmount": "1", "flatAmount": "0"}


async def _plan_errors(api, charges: list[dict], **extra) -> list[dict]:
    data = await api(CREATE_PLAN, input={"code": uid("bad"), "name": "Bad", "interval": "MONTHLY",
                                         "currency": extra.pop("currency", "USD"), "amount": extra.pop("amount", "10"),
                                         "charges": charges, **extra})
    assert data["createPlan"]["plan"] is None
    return data["createPlan"]["userErrors"]


async def _counts(stack, tenant) -> tuple:
    org = tenant.organization_id
    return (await scalar(stack.database_url, "SELECT count(*) FROM plans WHERE organization_id = $1::uuid", org),
            await scalar(stack.database_url, "SELECT count(*) FROM charges WHERE organization_id = $1::uuid", org),
            await scalar(stack.database_url, "SELECT count(*) FROM audit_entries WHERE organization_id = $1::uuid",
                         org))


@pytest.mark.parametrize(("ranges", "code", "field"), [
    ([], "RANGES_EMPTY", ["input", "charges", "0", "properties", "graduatedRanges"]),
    ([{"fromValue": "1", "toValue": None, **RANGE}], "RANGES_MUST_START_AT_ZERO",
     ["input", "charges", "0", "properties", "graduatedRanges", "0", "fromValue"]),
    ([{"fromValue": "0", "toValue": "10", **RANGE}, {"fromValue": "12", "toValue": None, **RANGE}],
     "RANGES_GAP_OR_OVERLAP", ["input", "charges", "0", "properties", "graduatedRanges", "1", "fromValue"]),
    ([{"fromValue": "0", "toValue": "10", **RANGE}, {"fromValue": "5", "toValue": None, **RANGE}],
     "RANGES_GAP_OR_OVERLAP", ["input", "charges", "0", "properties", "graduatedRanges", "1", "fromValue"]),
    ([{"fromValue": "0", "toValue": None, **RANGE}, {"fromValue": "0", "toValue": None, **RANGE}],
     "RANGES_ONLY_LAST_OPEN", ["input", "charges", "0", "properties", "graduatedRanges", "0", "toValue"]),
    ([{"fromValue": "0", "toValue": "10", **RANGE}], "RANGES_LAST_MUST_BE_OPEN",
     ["input", "charges", "0", "properties", "graduatedRanges", "0", "toValue"]),
    ([{"fromValue": "0", "toValue": None, "perUnitAmount": "-1", "flatAmount": "0"}], "NEGATIVE_AMOUNT",
     ["input", "charges", "0", "properties", "graduatedRanges", "0", "perUnitAmount"]),
])
async def test_invalid_ranges_are_user_errors_with_nothing_written(stack, tenant, ranges, code, field) -> None:
    code_metric = uid("api_calls")
    await metric(tenant.api, code_metric, "COUNT")
    before = await _counts(stack, tenant)
    errors = await _plan_errors(tenant.api, [{"billableMetricCode": code_metric, "model": "GRADUATED",
                                              "properties": {"graduatedRanges": ranges}}])
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)]
    assert await _counts(stack, tenant) == before


async def test_plan_input_errors_name_their_field(stack, tenant) -> None:
    m = uid("seats")
    await metric(tenant.api, m, "COUNT")
    std = {"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}
    before = await _counts(stack, tenant)
    cases = [
        ([std], {"currency": "XYZ"}, "UNKNOWN_CURRENCY", ["input", "currency"]),
        ([std], {"amount": "-5"}, "NEGATIVE_AMOUNT", ["input", "amount"]),
        ([{**std, "billableMetricCode": "nope"}], {}, "UNKNOWN_METRIC",
         ["input", "charges", "0", "billableMetricCode"]),
        ([{**std, "properties": {"amount": "1", "packageSize": "10"}}], {}, "PROPERTY_NOT_ALLOWED",
         ["input", "charges", "0", "properties", "packageSize"]),
        ([{**std, "properties": {}}], {}, "MISSING_PROPERTY", ["input", "charges", "0", "properties", "amount"]),
        ([{**std, "model": "PACKAGE", "properties": {"amount": "1", "packageSize": "0"}}], {}, "INVALID_PACKAGE_SIZE",
         ["input", "charges", "0", "properties", "packageSize"]),
        ([{**std, "model": "PERCENTAGE", "properties": {"rate": "1"}}], {}, "PERCENTAGE_REQUIRES_SUM",
         ["input", "charges", "0", "model"]),
        ([{**std, "properties": {"amount": "0.0000000000001"}}], {}, "INVALID_DECIMAL",
         ["input", "charges", "0", "properties", "amount"]),
    ]
    for charges, extra, code, field in cases:
        errors = await _plan_errors(tenant.api, charges, **extra)
        assert [(e["code"], e["field"]) for e in errors] == [(code, field)], (code, errors)
        assert errors[0]["message"]
    assert await _counts(stack, tenant) == before


async def test_duplicate_codes_are_refused(tenant) -> None:
    await metric(tenant.api, "storage_gb", "MAX", "gb")
    data = await tenant.api(CREATE_METRIC, input={"code": "storage_gb", "name": "again", "aggregation": "COUNT"})
    assert data["createBillableMetric"]["userErrors"][0]["code"] == "ALREADY_EXISTS"
    await plan(tenant.api, "starter", [])
    data = await tenant.api(CREATE_PLAN, input={"code": "starter", "name": "x", "interval": "MONTHLY",
                                                "currency": "USD", "amount": "1"})
    assert data["createPlan"]["userErrors"] == [
        {"field": ["input", "code"], "code": "ALREADY_EXISTS", "message": "a plan with code 'starter' exists"}]


async def test_metric_definition_errors(tenant) -> None:
    data = await tenant.api(CREATE_METRIC, input={"code": "x", "name": "x", "aggregation": "SUM"})
    assert data["createBillableMetric"]["userErrors"][0]["code"] == "FIELD_NAME_REQUIRED"
    data = await tenant.api(CREATE_METRIC, input={"code": "y", "name": "y", "aggregation": "UNIQUE_COUNT",
                                                  "fieldName": "user", "recurring": True})
    assert data["createBillableMetric"]["userErrors"][0]["code"] == "RECURRING_NOT_SUPPORTED"
    data = await tenant.api(CREATE_METRIC, input={"code": "has space", "name": "z", "aggregation": "COUNT"})
    assert data["createBillableMetric"]["userErrors"][0]["code"] == "INVALID_CODE"


async def test_plans_read_back_as_written(tenant) -> None:
    m = uid("api")
    await metric(tenant.api, m, "COUNT")
    created = await plan(tenant.api, "growth", [{"billableMetricCode": m, "model": "PACKAGE",
                                                 "properties": {"amount": "5", "packageSize": "1000"}}],
                         amount="49.99", trialPeriodDays=14, minimumCommitment="100")
    data = await tenant.api('{ plan(code: "growth") { code amount trialPeriodDays minimumCommitment '
                            "charges { model properties { amount packageSize freeUnits } } } }")
    assert data["plan"] == {"code": "growth", "amount": "49.99", "trialPeriodDays": 14, "minimumCommitment": "100",
                            "charges": [{"model": "PACKAGE", "properties": {"amount": "5", "packageSize": "1000",
                                                                            "freeUnits": "0"}}]}
    assert created["interval"] == "MONTHLY"


async def test_update_and_delete_plan_archives_when_subscribed(tenant) -> None:
    await plan(tenant.api, "solo", [], amount="10")
    await plan(tenant.api, "team", [], amount="20")
    await customer(tenant.api, "cust-arch")
    await subscribe(tenant.api, "cust-arch", "team", "sub-arch")
    data = await tenant.api('mutation { updatePlan(input: {code: "team", amount: "25", name: "Team+"}) '
                            "{ plan { amount name } userErrors { code } } }")
    assert data["updatePlan"] == {"plan": {"amount": "25", "name": "Team+"}, "userErrors": []}
    for code in ("solo", "team"):
        data = await tenant.api(f'mutation {{ deletePlan(input: {{code: "{code}"}}) {{ plan {{ code archivedAt }} '
                                "userErrors { code } } }")
        assert data["deletePlan"]["userErrors"] == []
    archived = await tenant.api('{ subscription(externalId: "sub-arch") { plan { code archivedAt } } }')
    assert archived["subscription"]["plan"]["archivedAt"] is not None
    plans = await tenant.api("{ plans { nodes { code } } }")
    assert {"solo", "team"}.isdisjoint({p["code"] for p in plans["plans"]["nodes"]})


async def test_customers_create_update_search_and_page(tenant) -> None:
    created = await customer(tenant.api, "acme-1", email="Billing@Acme.test", country="fr", currency="eur",
                             timezone="Europe/Paris", metadata={"crm": "hubspot", "tier": 2})
    assert created["country"] == "FR" and created["currency"] == "EUR" and created["metadata"]["tier"] == 2
    for i in range(4):
        await customer(tenant.api, f"globex-{i}", name=f"Globex {i}")
    found = await tenant.api('{ customers(search: "globex", first: 3) { totalCount pageInfo { hasNextPage endCursor }'
                             " nodes { externalId } } }")
    assert found["customers"]["totalCount"] == 4 and found["customers"]["pageInfo"]["hasNextPage"]
    rest = await tenant.api("query($a: String) { customers(search: \"globex\", first: 3, after: $a) "
                            "{ nodes { externalId } } }", a=found["customers"]["pageInfo"]["endCursor"])
    assert [n["externalId"] for n in found["customers"]["nodes"] + rest["customers"]["nodes"]] == [
        f"globex-{i}" for i in range(4)]
    updated = await tenant.api('mutation { updateCustomer(input: {externalId: "acme-1", email: null, '
                               'taxIdentificationNumber: "FR40303265045"}) { customer { email timezone '
                               "taxIdentificationNumber } userErrors { code } } }")
    assert updated["updateCustomer"]["customer"] == {"email": None, "timezone": "Europe/Paris",
                                                     "taxIdentificationNumber": "FR40303265045"}


@pytest.mark.parametrize(("extra", "code", "field"), [
    ({"country": "XX"}, "UNKNOWN_COUNTRY", "country"),
    ({"currency": "EURO"}, "UNKNOWN_CURRENCY", "currency"),
    ({"timezone": "Mars/Olympus"}, "UNKNOWN_TIMEZONE", "timezone"),
    ({"email": "not-an-email"}, "INVALID_EMAIL", "email"),
])
async def test_customer_input_errors(stack, tenant, extra, code, field) -> None:
    data = await tenant.api(CREATE_CUSTOMER, input={"externalId": uid("c"), **extra})
    assert data["createCustomer"]["customer"] is None
    assert [(e["code"], e["field"]) for e in data["createCustomer"]["userErrors"]] == [(code, ["input", field])]
    assert await scalar(stack.database_url, "SELECT count(*) FROM customers WHERE organization_id = $1::uuid",
                        tenant.organization_id) == 0


async def test_duplicate_customer_external_id(tenant) -> None:
    await customer(tenant.api, "dup")
    data = await tenant.api(CREATE_CUSTOMER, input={"externalId": "dup"})
    assert data["createCustomer"]["userErrors"][0]["code"] == "ALREADY_EXISTS"


async def test_catalog_of_another_organization_is_invisible(tenant, other_tenant) -> None:
    await metric(tenant.api, "secret_metric", "COUNT")
    await plan(tenant.api, "secret_plan", [])
    await customer(tenant.api, "secret_customer")
    await subscribe(tenant.api, "secret_customer", "secret_plan", "secret_sub")
    spy = other_tenant.api
    seen = await spy('{ billableMetric(code: "secret_metric") { id } plan(code: "secret_plan") { id } '
                     'customer(externalId: "secret_customer") { id } subscription(externalId: "secret_sub") { id } '
                     "plans { totalCount } customers { totalCount } billableMetrics { totalCount } "
                     "subscriptions { totalCount } }")
    assert seen == {"billableMetric": None, "plan": None, "customer": None, "subscription": None,
                    "plans": {"totalCount": 0}, "customers": {"totalCount": 0}, "billableMetrics": {"totalCount": 0},
                    "subscriptions": {"totalCount": 0}}
    data = await spy('mutation { createSubscription(input: {customerExternalId: "secret_customer", '
                     'planCode: "secret_plan"}) { subscription { externalId } userErrors { code field } } }')
    assert data["createSubscription"]["userErrors"] == [{"code": "CUSTOMER_NOT_FOUND",
                                                         "field": ["input", "customerExternalId"]}]
    data = await spy('mutation { terminateSubscription(input: {externalId: "secret_sub"}) '
                     "{ subscription { status } userErrors { code } } }")
    assert data["terminateSubscription"]["userErrors"][0]["code"] == "NOT_FOUND"
    usage = await spy('mutation { ingestUsage(input: {events: [{transactionId: "t1", metricCode: "secret_metric", '
                      'customerExternalId: "secret_customer"}]}) { accepted rejected { code } } }')
    assert usage["ingestUsage"] == {"accepted": 0, "rejected": [{"code": "UNKNOWN_METRIC"}]}


async def test_viewer_may_read_but_not_change_the_catalog(tenant) -> None:
    key = await tenant.api('mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret } }')
    viewer = tenant.api.as_(key["createApiKey"]["secret"])
    await plan(tenant.api, "readable", [])
    assert (await viewer('{ plan(code: "readable") { code } }'))["plan"]["code"] == "readable"
    from tests.client import TransportQueryError

    for document in ['mutation { createPlan(input: {code: "x", name: "x", interval: MONTHLY, currency: "USD", '
                     'amount: "1"}) { plan { id } } }',
                     'mutation { createCustomer(input: {externalId: "x"}) { customer { id } } }',
                     'mutation { ingestUsage(input: {events: []}) { accepted } }']:
        with pytest.raises(TransportQueryError) as refused:
            await viewer(document)
        assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_eu_vat_numbers_are_checked_and_stored_compact(tenant) -> None:
    created = await customer(tenant.api, "eu-buyer", country="DE", taxIdentificationNumber="de 136 695 976")
    data = await tenant.api('{ customer(externalId: "eu-buyer") { taxIdentificationNumber } }')
    assert created["country"] == "DE" and data["customer"]["taxIdentificationNumber"] == "DE136695976"
    bad = await tenant.api(CREATE_CUSTOMER, input={"externalId": "eu-bad", "country": "FR",
                                                   "taxIdentificationNumber": "FR00000000000"})
    assert bad["createCustomer"]["userErrors"] == [{"field": ["input", "taxIdentificationNumber"],
                                                    "code": "INVALID_VAT_NUMBER",
                                                    "message": bad["createCustomer"]["userErrors"][0]["message"]}]
    us = await customer(tenant.api, "us-buyer", country="US", taxIdentificationNumber="12-3456789")
    assert us["country"] == "US"
