"""A small tenant for the browser tests, built through the public API: metrics, a tiered plan, customers,
a subscription with a past period (so it has a finalized invoice and a PDF), and a draft invoice."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tests.client import Api

PASSWORD = "correct horse battery staple"

METRIC = """mutation($input: CreateBillableMetricInput!) { createBillableMetric(input: $input) {
  billableMetric { code } userErrors { field code message } } }"""
PLAN = """mutation($input: CreatePlanInput!) { createPlan(input: $input) {
  plan { code } userErrors { field code message } } }"""
CUSTOMER = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
  customer { externalId } userErrors { field code message } } }"""
SUBSCRIBE = """mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) {
  subscription { externalId status } userErrors { field code message } } }"""
RUN_BILLING = """mutation { runBilling(input: {}) { invoices { id number status pdfUrl customer { externalId } }
  failures { customerExternalId reason } userErrors { code message } } }"""
SETTINGS = """mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) {
  organization { invoiceGracePeriodDays } userErrors { field code message } } }"""
INGEST = """mutation($input: IngestUsageInput!) { ingestUsage(input: $input) {
  accepted duplicates rejected { index code message } userErrors { code message } } }"""

_transactions = itertools.count()


@dataclass
class Tenant:
    organization_id: str
    api_key: str
    email: str
    customer: str  # the external id of the customer with a live subscription and invoices
    subscription: str
    invoice_id: str  # a finalized (OPEN) invoice of that customer
    invoice_number: str
    draft_id: str  # a draft invoice, to finalize from the page


async def _ok(api: Api, document: str, key: str, **variables) -> dict:
    payload = (await api(document, **variables))[key]
    assert not payload.get("userErrors"), payload
    return payload


async def build_tenant(api: Api, organization_id: str, email: str) -> Tenant:
    calls = {"code": "api_calls", "name": "API calls", "aggregation": "COUNT"}
    await _ok(api, METRIC, "createBillableMetric", input=calls)
    await _ok(
        api,
        METRIC,
        "createBillableMetric",
        input={"code": "tokens", "name": "LLM tokens", "aggregation": "SUM", "fieldName": "tokens"},
    )
    charges = [
        {
            "billableMetricCode": "api_calls",
            "model": "GRADUATED",
            "properties": {
                "graduatedRanges": [
                    {"fromValue": "0", "toValue": "1000", "perUnitAmount": "0", "flatAmount": "0"},
                    {"fromValue": "1001", "toValue": None, "perUnitAmount": "0.5", "flatAmount": "10"},
                ]
            },
        },
        {"billableMetricCode": "tokens", "model": "STANDARD", "properties": {"amount": "0.25"}},
    ]
    plan = {"code": "growth", "name": "Growth", "interval": "MONTHLY", "currency": "USD", "amount": "49"}
    await _ok(api, PLAN, "createPlan", input={**plan, "charges": charges})
    for external_id, name, country in [
        ("acme", "Acme Corporation", "US"),
        ("globex", "Globex GmbH", "DE"),
        ("initech", "Initech Ltd", "GB"),
    ]:
        email_of = f"billing@{external_id}.example"
        await _ok(
            api,
            CUSTOMER,
            "createCustomer",
            input={"externalId": external_id, "name": name, "email": email_of, "country": country, "currency": "USD"},
        )
    started = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    await _ok(
        api,
        SUBSCRIBE,
        "createSubscription",
        input={
            "customerExternalId": "acme",
            "planCode": "growth",
            "externalId": "acme-growth",
            "startedAt": started,
            "billingTime": "ANNIVERSARY",
        },
    )
    billed = await _ok(api, RUN_BILLING, "runBilling")
    assert not billed["failures"], billed
    invoice = next(i for i in billed["invoices"] if i["customer"]["externalId"] == "acme")
    assert invoice["status"] == "OPEN" and invoice["pdfUrl"], invoice
    # With a grace period, the next billing date of another customer stays a refreshable draft.
    await _ok(api, SETTINGS, "updateOrganization", input={"invoiceGracePeriodDays": 3})
    await _ok(
        api,
        SUBSCRIBE,
        "createSubscription",
        input={
            "customerExternalId": "globex",
            "planCode": "growth",
            "externalId": "globex-growth",
            "startedAt": started,
            "billingTime": "ANNIVERSARY",
        },
    )
    billed = await _ok(api, RUN_BILLING, "runBilling")
    draft = next(i for i in billed["invoices"] if i["customer"]["externalId"] == "globex")
    assert draft["status"] == "DRAFT", draft
    return Tenant(
        organization_id,
        api.token or "",
        email,
        "acme",
        "acme-growth",
        invoice["id"],
        invoice["number"],
        draft["id"],
    )


async def send_usage(api: Api, customer: str, tokens: int) -> None:
    """One `tokens` event now: the customer's usage changes by tokens x 0.25 USD."""
    event = {
        "transactionId": f"e2e-{next(_transactions)}-{datetime.now(UTC).timestamp()}",
        "customerExternalId": customer,
        "metricCode": "tokens",
        "properties": {"tokens": tokens},
    }
    payload = await _ok(api, INGEST, "ingestUsage", input={"events": [event]})
    assert payload["accepted"] == 1, payload
