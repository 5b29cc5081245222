"""Customer portal links: a token that reads and pays for one customer, is refused everything else, and ends
with its expiry or its revocation (through the gql client over HTTP and graphql-transport-ws)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from gql import gql
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    build_schema,
    get_named_type,
    is_output_type,
)
from graphql.type.definition import is_leaf_type

from db.session import Database
from integrations.clock import ManualClock
from services import portal
from services.actors import system_actor
from services.auth import Authenticator, SessionConfig
from services.errors import Unauthenticated
from tests.client import Api, LiveSubscription, TransportQueryError, ws_client
from tests.db import scalar
from tests.graph.catalog_helpers import customer, metric, plan, send, subscribe, uid

ROOT = Path(__file__).resolve().parents[2]
CREATE = """mutation($input: CreateCustomerPortalSessionInput!) { createCustomerPortalSession(input: $input) {
  url expiresAt portalSession { id customerExternalId organizationName expiresAt active }
  userErrors { field code message } } }"""
REVOKE = """mutation($id: ID!) { revokeCustomerPortalSession(input: {id: $id}) {
  portalSession { id active revokedAt } userErrors { field code } } }"""
ONE_OFF = """mutation($c: String!, $amount: Decimal!) { createOneOffInvoice(input: {customerExternalId: $c,
  lines: [{description: "Onboarding", amount: $amount}]}) { invoice { id number } userErrors { code } } }"""
CREDIT = """mutation($input: CreateCreditNoteInput!) { createCreditNote(input: $input) {
  creditNote { id number } userErrors { field code message } } }"""
PORTAL_HOME = """query($c: String!) {
  portalSession { customerExternalId organizationName expiresAt active customer { externalId name } }
  viewer { kind role name }
  customer(externalId: $c) { externalId name email currency
    paymentMethods { id } defaultPaymentMethod { id }
    subscriptions { externalId status currentPeriodEnd plan { code name amount interval currency } } }
  customerUsage(customerExternalId: $c) { currency amount charges { billableMetricCode units amount } }
  invoices { totalCount nodes { id number status customer { externalId } pdfUrl amountDue paymentStatus
    creditNotes { number pdfUrl } } }
}"""
INVOICE = "query($id: ID!) { invoice(id: $id) { id number pdfUrl } }"
USAGE = "subscription($c: String!) { usageUpdated(customerExternalId: $c) { amount charges { units } } }"


def token_of(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == "/portal/session" and parts.fragment.startswith("vvp_"), url
    return parts.fragment


def codes(exc: TransportQueryError) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in exc.errors or []]


async def link(api: Api, external_id: str, **extra: Any) -> dict:
    answer = (await api(CREATE, input={"customerExternalId": external_id, **extra}))["createCustomerPortalSession"]
    assert answer["userErrors"] == [], answer
    return answer


async def billed_customer(tenant, external_id: str) -> dict:
    """A customer with a live subscription (graduated usage charge) and an open invoice that has a credit note."""
    api = tenant.api
    code = uid("calls")
    await metric(api, code, "SUM")
    plan_code = uid("growth")
    await plan(api, plan_code, [{"billableMetricCode": code, "model": "GRADUATED", "properties": {"graduatedRanges": [
        {"fromValue": "0", "toValue": "100", "perUnitAmount": "0.10", "flatAmount": "0"},
        {"fromValue": "100", "toValue": None, "perUnitAmount": "0.05", "flatAmount": "0"},
    ]}}], amount="49")
    await customer(api, external_id, currency="USD", email=f"ap@{external_id}.test")
    await subscribe(api, external_id, plan_code, uid(f"sub-{external_id}"))
    invoice = (await api(ONE_OFF, c=external_id, amount="120"))["createOneOffInvoice"]
    assert invoice["userErrors"] == [], invoice
    invoice_id = invoice["invoice"]["id"]
    note = (await api(CREDIT, input={"invoiceId": invoice_id, "amount": "20", "reason": "order changed",
                                      "kind": "CREDIT"}))["createCreditNote"]
    return {"metric": code, "plan": plan_code, "invoice": invoice_id, "creditNote": note}


async def get(url: str, token: str | None = None) -> tuple[int, bytes, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.read(), response.headers.get("content-type", "")


# --- what a link is and what it reads -------------------------------------------------------------


async def test_a_portal_link_reads_its_own_customer_usage_plan_invoices_and_pdfs(tenant, stack) -> None:
    own = await billed_customer(tenant, "acme-own")
    await send(tenant.api, "acme-own", own["metric"], [150])
    before = datetime.now(UTC)
    created = await link(tenant.api, "acme-own")
    assert created["url"].startswith(stack.api_url + "/portal/session#vvp_")
    expires = datetime.fromisoformat(created["expiresAt"])
    assert before + timedelta(hours=12) - timedelta(seconds=5) <= expires <= datetime.now(UTC) + timedelta(hours=12)
    assert created["portalSession"]["customerExternalId"] == "acme-own" and created["portalSession"]["active"]
    token = token_of(created["url"])
    # Only the token's hash is stored.
    stored = await scalar(stack.database_url, "SELECT token_hash FROM portal_sessions WHERE id = $1::uuid",
                          created["portalSession"]["id"])
    assert token not in str(stored) and len(str(stored)) == 64

    home = await tenant.api.as_(token)(PORTAL_HOME, c="acme-own")
    assert home["portalSession"]["customer"] == {"externalId": "acme-own", "name": "acme-own"}
    assert home["portalSession"]["organizationName"] == "Acme Analytics"
    assert home["viewer"] == {"kind": "PORTAL", "role": "VIEWER", "name": "acme-own"}
    sub = home["customer"]["subscriptions"][0]
    assert sub["plan"]["code"] == own["plan"] and sub["currentPeriodEnd"] is not None
    usage = home["customerUsage"]
    # 100 at 0.10 + 50 at 0.05, priced as the graduated ranges say.
    assert (usage["currency"], usage["amount"]) == ("USD", "12.50")
    assert [i["customer"]["externalId"] for i in home["invoices"]["nodes"]] == ["acme-own"]
    invoice = home["invoices"]["nodes"][0]
    assert invoice["id"] == own["invoice"] and invoice["status"] == "OPEN"
    status, body, content_type = await get(invoice["pdfUrl"])
    assert status == 200 and body.startswith(b"%PDF") and content_type.startswith("application/pdf")
    assert [n["number"] for n in invoice["creditNotes"]] == [own["creditNote"]["creditNote"]["number"]]
    status, body, _ = await get(invoice["creditNotes"][0]["pdfUrl"])
    assert status == 200 and body.startswith(b"%PDF")
    by_id = await tenant.api.as_(token)(INVOICE, id=own["invoice"])
    assert by_id["invoice"]["number"] == invoice["number"]


async def test_a_portal_link_is_refused_another_customers_data(tenant, other_tenant, stack) -> None:
    own = await billed_customer(tenant, "own")
    other = await billed_customer(tenant, "neighbour")
    foreign = await billed_customer(other_tenant, "own")  # same external id, another organization
    portal_api = tenant.api.as_(token_of((await link(tenant.api, "own"))["url"]))

    for query, variables in [
        ("query($c: String!) { customer(externalId: $c) { name } }", {"c": "neighbour"}),
        ("query($c: String!) { customerUsage(customerExternalId: $c) { amount } }", {"c": "neighbour"}),
        ("query($c: String!) { invoices(customerExternalId: $c) { totalCount } }", {"c": "neighbour"}),
        ("query($c: String!) { payments(customerExternalId: $c) { totalCount } }", {"c": "neighbour"}),
        ("query($c: String!) { subscriptions(customerExternalId: $c) { totalCount } }", {"c": "neighbour"}),
        ("query($c: String!) { wallet(customerExternalId: $c) { balance } }", {"c": "neighbour"}),
        ("{ customers { totalCount } }", {}),
        ("{ organization { name } }", {}),
        ("{ viewer { organization { name } } }", {}),
        ("{ plans { totalCount } }", {}),
    ]:
        with pytest.raises(TransportQueryError) as refused:
            await portal_api(query, **variables)
        assert codes(refused.value) == ["FORBIDDEN"], query

    # Ids of another customer's (or organization's) invoices find nothing, as ids that do not exist.
    for invoice_id in (other["invoice"], foreign["invoice"]):
        assert (await portal_api(INVOICE, id=invoice_id))["invoice"] is None
    assert (await portal_api("{ invoices { nodes { id } } }"))["invoices"]["nodes"] == [{"id": own["invoice"]}]
    payments = await portal_api("query($i: ID!) { payments(invoiceId: $i) { totalCount } }", i=other["invoice"])
    assert payments["payments"]["totalCount"] == 0
    subscription_id = (await tenant.api('{ subscriptions(customerExternalId: "neighbour") { nodes { externalId } } }')
                       )["subscriptions"]["nodes"][0]["externalId"]
    assert (await portal_api("query($s: String!) { subscription(externalId: $s) { externalId } }",
                             s=subscription_id))["subscription"] is None
    paid = (await portal_api("mutation($id: ID!) { collectInvoice(input: {id: $id}) { invoice { id } "
                             "userErrors { field code } } }", id=other["invoice"]))["collectInvoice"]
    assert paid == {"invoice": None, "userErrors": [{"field": ["input", "id"], "code": "INVOICE_NOT_FOUND"}]}

    # A PDF link is signed for one document: this customer's signature does not open the neighbour's invoice.
    own_link = (await portal_api(INVOICE, id=own["invoice"]))["invoice"]["pdfUrl"]
    status, _, _ = await get(own_link.replace(own["invoice"], other["invoice"]))
    assert status in (403, 404)

    request = gql(USAGE)
    request.variable_values = {"c": "neighbour"}
    async with ws_client(stack.ws_url, portal_api.token) as session:
        with pytest.raises(TransportQueryError) as refused:
            async for _ in session.subscribe(request):
                pass
    assert codes(refused.value) == ["FORBIDDEN"]


def _type_literal(schema_type: Any) -> str:
    if isinstance(schema_type, GraphQLNonNull):
        return _type_literal(schema_type.of_type) + "!"
    if isinstance(schema_type, GraphQLList):
        return f"[{_type_literal(schema_type.of_type)}]"
    return schema_type.name


SCALAR_SAMPLES = {"String": "x", "ID": str(uuid.uuid4()), "Int": 1, "Float": 1.0, "Boolean": False,
                  "Decimal": "1", "DateTime": "2026-01-01T00:00:00+00:00", "Date": "2026-01-01", "JSON": {}}


def _sample(schema_type: Any) -> Any:
    """A value of this input type: required fields filled, lists empty."""
    if isinstance(schema_type, GraphQLNonNull):
        return _sample(schema_type.of_type)
    if isinstance(schema_type, GraphQLList):
        return []
    if isinstance(schema_type, GraphQLEnumType):
        return next(iter(schema_type.values))
    if isinstance(schema_type, GraphQLInputObjectType):
        return {name: _sample(f.type) for name, f in schema_type.fields.items() if isinstance(f.type, GraphQLNonNull)}
    assert isinstance(schema_type, GraphQLScalarType)
    return SCALAR_SAMPLES.get(schema_type.name, "x")


def _operations(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    root = schema.mutation_type if kind == "mutation" else schema.query_type
    assert root is not None
    operations = []
    for name, field in root.fields.items():
        required = {a: arg for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)}
        declared = "".join(f"${a}: {_type_literal(arg.type)} " for a, arg in required.items())
        passed = " ".join(f"{a}: ${a}" for a in required)
        named = get_named_type(field.type)
        selection = "" if is_leaf_type(named) or not is_output_type(named) else " { __typename }"
        head = f"{kind}({declared})" if declared else kind
        document = f"{head} {{ {name}{f'({passed})' if passed else ''}{selection} }}"
        operations.append((name, document, {a: _sample(arg.type) for a, arg in required.items()}))
    return operations


# What a portal link may reach; everything else is refused with FORBIDDEN.
PORTAL_QUERIES = {"viewer", "portalSession", "customer", "customerUsage", "invoices", "invoice", "payments",
                  "subscriptions", "subscription", "wallet", "usageAlerts"}
# The sign-in steps need no credentials at all; the others act on the link's own customer only.
PORTAL_MUTATIONS = {"collectInvoice", "createPaymentSetupSession", "completePaymentSetupSession",
                    "createUsageAlert", "updateUsageAlert", "deleteUsageAlert", "updatePortalBillingDetails",
                    "login", "completeLogin"}


async def test_every_other_query_and_mutation_is_refused_to_a_portal_link(tenant, stack) -> None:
    await customer(tenant.api, "only-me", currency="USD")
    token = token_of((await link(tenant.api, "only-me"))["url"])
    allowed = {"query": PORTAL_QUERIES, "mutation": PORTAL_MUTATIONS}
    refused: list[str] = []
    async with aiohttp.ClientSession() as http:
        for kind in ("query", "mutation"):
            for name, document, variables in _operations(kind):
                if name in allowed[kind]:
                    continue
                async with http.post(stack.graphql_url, json={"query": document, "variables": variables},
                                     headers={"Authorization": f"Bearer {token}"}) as response:
                    body = await response.json(content_type=None)
                got = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
                assert got == ["FORBIDDEN"], (name, response.status, body)
                refused.append(name)
    assert {"createCustomerPortalSession", "ingestUsage", "runBilling", "customers", "auditLogs"} <= set(refused)
    # Nothing of the organization changed: no audit entry but the link's own creation.
    entries = await tenant.api("{ auditLogs(first: 5) { nodes { action } } }")
    assert entries["auditLogs"]["nodes"][0]["action"] == "portal_session.created"


# --- live usage ------------------------------------------------------------------------------------


async def test_usage_updated_pushes_the_portal_its_customers_usage_as_it_arrives(tenant, stack) -> None:
    own = await billed_customer(tenant, "live-own")
    token = token_of((await link(tenant.api, "live-own"))["url"])
    async with LiveSubscription(stack.ws_url, token, USAGE, c="live-own") as live:
        first = await live.next()
        assert first["usageUpdated"]["amount"] == "0.00"
        await send(tenant.api, "live-own", own["metric"], [40])
        pushed = await live.next()
        while pushed["usageUpdated"]["amount"] == "0.00":
            pushed = await live.next()
        assert pushed["usageUpdated"]["amount"] == "4.00"


# --- expired, tampered, revoked ---------------------------------------------------------------------


async def test_an_expired_link_is_refused(tenant, stack) -> None:
    await customer(tenant.api, "late", currency="USD")
    # A link made 12 h and a second ago by the clock of the one who made it: expired now.
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=12, seconds=1))
    db = Database(stack.database_url, pool_size=1, clock=clock)
    try:
        async with db.unit_of_work() as uow:
            issued = await portal.create_portal_session(
                uow, system_actor(uuid.UUID(tenant.organization_id)), customer_external_id="late",
                origin="https://billing.example.com",
            )
        assert issued.url.startswith("https://billing.example.com/portal/session#vvp_")
        with pytest.raises(TransportQueryError) as refused:
            await tenant.api.as_(issued.token)('{ customer(externalId: "late") { name } }')
        assert codes(refused.value) == ["UNAUTHENTICATED"]
        assert "expired" in refused.value.errors[0]["message"]

        # Valid until its expiry, by the server's clock, and not a second longer.
        clock.set(datetime.now(UTC))
        async with db.unit_of_work() as uow:
            fresh = await portal.create_portal_session(
                uow, system_actor(uuid.UUID(tenant.organization_id)), customer_external_id="late", origin="",
            )
        authenticator = Authenticator(db, SessionConfig(stack.secret_key))
        assert (await authenticator.authenticate(f"Bearer {fresh.token}")).customer_external_id == "late"
        clock.advance(hours=12)
        with pytest.raises(Unauthenticated, match="expired"):
            await authenticator.authenticate(f"Bearer {fresh.token}")
    finally:
        await db.dispose()


async def test_a_tampered_link_is_refused(tenant, stack) -> None:
    await customer(tenant.api, "careful", currency="USD")
    token = token_of((await link(tenant.api, "careful"))["url"])
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, token[:-4], token + "x", "vvp_" + "a" * 43, token.replace("vvp_", "vv_", 1)):
        status, body = await _post(stack.graphql_url, bad, '{ customer(externalId: "careful") { name } }')
        assert status == 401 or codes_of(body) == ["UNAUTHENTICATED"], (bad, status, body)
    assert (await tenant.api.as_(token)('{ customer(externalId: "careful") { name } }'))["customer"]["name"]


async def test_a_revoked_link_is_refused_and_its_open_socket_closes(tenant, stack) -> None:
    await billed_customer(tenant, "revoked")
    created = await link(tenant.api, "revoked")
    token = token_of(created["url"])
    async with LiveSubscription(stack.ws_url, token, USAGE, c="revoked") as live:
        await live.next()
        started = time.monotonic()
        revoked = (await tenant.api(REVOKE, id=created["portalSession"]["id"]))["revokeCustomerPortalSession"]
        assert revoked["userErrors"] == [] and revoked["portalSession"]["active"] is False
        closed = await live.wait_closed(within=12)
        assert closed.code == 4401 and closed.at - started < 8
    with pytest.raises(TransportQueryError) as refused:
        await tenant.api.as_(token)('{ portalSession { active } }')
    assert codes(refused.value) == ["UNAUTHENTICATED"] and "revoked" in refused.value.errors[0]["message"]


async def test_making_a_link_needs_finance_a_known_customer_and_a_sane_lifetime(tenant, stack) -> None:
    await customer(tenant.api, "asked", currency="USD")
    viewer_key = (await tenant.api('mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret } }')
                  )["createApiKey"]["secret"]
    with pytest.raises(TransportQueryError) as refused:
        await tenant.api.as_(viewer_key)(CREATE, input={"customerExternalId": "asked"})
    assert codes(refused.value) == ["FORBIDDEN"]
    for given, field, code in [
        ({"customerExternalId": "nobody"}, ["input", "customerExternalId"], "CUSTOMER_NOT_FOUND"),
        ({"customerExternalId": "asked", "expiresInSeconds": 10}, ["input", "expiresInSeconds"],
         "INVALID_PORTAL_LIFETIME"),
        ({"customerExternalId": "asked", "expiresInSeconds": 8 * 86400}, ["input", "expiresInSeconds"],
         "INVALID_PORTAL_LIFETIME"),
    ]:
        answer = (await tenant.api(CREATE, input=given))["createCustomerPortalSession"]
        assert answer["url"] is None and [(e["field"], e["code"]) for e in answer["userErrors"]] == [(field, code)]
    short = await link(tenant.api, "asked", expiresInSeconds=3600)
    assert datetime.fromisoformat(short["expiresAt"]) < datetime.now(UTC) + timedelta(hours=1, seconds=5)
    count = await scalar(stack.database_url, "SELECT count(*) FROM portal_sessions WHERE organization_id = $1::uuid",
                         tenant.organization_id)
    assert count == 1
    # A staff caller has no portal session.
    assert (await tenant.api("{ portalSession { id } }"))["portalSession"] is None


async def test_a_portal_link_may_pay_its_own_open_invoice(tenant) -> None:
    await customer(tenant.api, "payer", currency="USD")
    invoice_id = (await tenant.api(ONE_OFF, c="payer", amount="30"))["createOneOffInvoice"]["invoice"]["id"]
    portal_api = tenant.api.as_(token_of((await link(tenant.api, "payer"))["url"]))
    answer = (await portal_api("mutation($id: ID!) { collectInvoice(input: {id: $id}) { invoice { id } "
                               "userErrors { field code } } }", id=invoice_id))["collectInvoice"]
    # The use case ran for this customer: it has no card saved, so it says what is missing.
    assert answer == {"invoice": None, "userErrors": [{"field": ["input", "id"], "code": "NO_PAYMENT_METHOD"}]}


async def _post(url: str, token: str, query: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(
        url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status, await response.json(content_type=None)


def codes_of(body: dict) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


async def test_a_portal_link_never_sees_a_draft_invoice(tenant) -> None:
    """Drafts are the organization's to refresh and change during its grace period: the customer's link lists
    and reads only issued invoices."""
    api = tenant.api
    await api("mutation { updateOrganization(input: {invoiceGracePeriodDays: 3}) { userErrors { code } } }")
    plan_code = uid("monthly")
    await plan(api, plan_code, [], amount="30")
    await customer(api, "drafted", currency="USD")
    started = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    await subscribe(api, "drafted", plan_code, uid("sub-drafted"), startedAt=started)
    run = await api("mutation { runBilling(input: {}) { invoices { id status } userErrors { code } } }")
    drafts = [i for i in run["runBilling"]["invoices"] if i["status"] == "DRAFT"]
    assert drafts, run
    issued = (await api(ONE_OFF, c="drafted", amount="5"))["createOneOffInvoice"]["invoice"]
    token = token_of((await link(api, "drafted"))["url"])
    portal_api = api.as_(token)
    listed = await portal_api(
        'query { invoices(customerExternalId: "drafted", first: 50) { totalCount nodes { id status } } }'
    )
    assert listed["invoices"]["nodes"] == [{"id": issued["id"], "status": "OPEN"}]
    assert listed["invoices"]["totalCount"] == 1
    for draft in drafts:
        assert (await portal_api(INVOICE, id=draft["id"]))["invoice"] is None
    # staff still see the drafts
    assert (await api(INVOICE, id=drafts[0]["id"]))["invoice"]["id"] == drafts[0]["id"]


# --- a customer's earlier links, for staff ------------------------------------------------------------

LINKS = """query($c: String!, $first: Int, $after: String) {
  customerPortalSessions(customerExternalId: $c, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id createdAt expiresAt revokedAt createdBy active customerExternalId } } }"""


async def test_staff_list_a_customers_links_newest_first_with_whether_each_still_opens(tenant, stack) -> None:
    await customer(tenant.api, "history", currency="USD")
    await customer(tenant.api, "bystander", currency="USD")
    # The oldest: made 12 h and a second ago by the clock of the one who made it, so expired by now.
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=12, seconds=1))
    db = Database(stack.database_url, pool_size=1, clock=clock)
    try:
        async with db.unit_of_work() as uow:
            expired = await portal.create_portal_session(
                uow, system_actor(uuid.UUID(tenant.organization_id)), customer_external_id="history", origin="",
            )
    finally:
        await db.dispose()
    revoked = await link(tenant.api, "history")
    assert (await tenant.api(REVOKE, id=revoked["portalSession"]["id"]))["revokeCustomerPortalSession"][
        "userErrors"] == []
    live = await link(tenant.api, "history", expiresInSeconds=3600)
    await link(tenant.api, "bystander")
    key_name = (await tenant.api("{ viewer { name } }"))["viewer"]["name"]

    listed = (await tenant.api(LINKS, c="history"))["customerPortalSessions"]
    assert listed["totalCount"] == 3 and listed["pageInfo"]["hasNextPage"] is False
    nodes = listed["nodes"]
    assert [n["id"] for n in nodes] == [live["portalSession"]["id"], revoked["portalSession"]["id"],
                                        str(expired.session.id)]
    assert [n["active"] for n in nodes] == [True, False, False]
    assert [n["revokedAt"] is not None for n in nodes] == [False, True, False]
    assert [n["createdBy"] for n in nodes] == [key_name, key_name, "system"]
    assert {n["customerExternalId"] for n in nodes} == {"history"}
    assert datetime.fromisoformat(nodes[0]["expiresAt"]) == datetime.fromisoformat(live["expiresAt"])
    assert datetime.fromisoformat(nodes[2]["expiresAt"]) < datetime.now(UTC) < datetime.fromisoformat(
        nodes[0]["expiresAt"])
    created = [datetime.fromisoformat(n["createdAt"]) for n in nodes]
    assert created == sorted(created, reverse=True)
    # Made and expiring by the same clock, the maker's: 12 hours apart (the default), 1 hour for the one asked so.
    assert datetime.fromisoformat(nodes[2]["expiresAt"]) - created[2] == timedelta(hours=12)
    assert datetime.fromisoformat(nodes[0]["expiresAt"]) - created[0] == timedelta(hours=1)
    # The links themselves are shown once, when made: no token is in the list.
    for made in (revoked, live):
        assert token_of(made["url"]) not in str(listed)

    # What each node shows with it is read once for the page (the customer, the organization's setup providers).
    nested = (await tenant.api('{ customerPortalSessions(customerExternalId: "history") { nodes { '
                               'customer { externalId } organizationName paymentSetupProviders } } }'))
    assert nested["customerPortalSessions"]["nodes"] == [
        {"customer": {"externalId": "history"}, "organizationName": "Acme Analytics", "paymentSetupProviders": []}
    ] * 3

    # Paged: two, then the rest after the cursor.
    first = (await tenant.api(LINKS, c="history", first=2))["customerPortalSessions"]
    assert [n["id"] for n in first["nodes"]] == [n["id"] for n in nodes[:2]] and first["pageInfo"]["hasNextPage"]
    rest = (await tenant.api(LINKS, c="history", first=2, after=first["pageInfo"]["endCursor"])
            )["customerPortalSessions"]
    assert [n["id"] for n in rest["nodes"]] == [nodes[2]["id"]] and rest["pageInfo"]["hasNextPage"] is False
    with pytest.raises(TransportQueryError) as bad:
        await tenant.api(LINKS, c="history", after="not-a-cursor")
    assert codes(bad.value) == ["BAD_PAGINATION"]
    # An unknown customer has none.
    assert (await tenant.api(LINKS, c="nobody"))["customerPortalSessions"] == {
        "totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}


async def test_another_organizations_customer_shows_no_links(tenant, other_tenant) -> None:
    await customer(tenant.api, "shared-id", currency="USD")
    await customer(other_tenant.api, "shared-id", currency="USD")
    await customer(other_tenant.api, "theirs-only", currency="USD")
    ours = await link(tenant.api, "shared-id")
    await link(other_tenant.api, "shared-id")
    await link(other_tenant.api, "theirs-only")

    listed = (await tenant.api(LINKS, c="shared-id"))["customerPortalSessions"]
    assert [n["id"] for n in listed["nodes"]] == [ours["portalSession"]["id"]] and listed["totalCount"] == 1
    assert (await tenant.api(LINKS, c="theirs-only"))["customerPortalSessions"]["nodes"] == []
    assert (await tenant.api(LINKS, c="theirs-only"))["customerPortalSessions"]["totalCount"] == 0


async def test_a_portal_link_and_a_viewer_cannot_list_links(tenant) -> None:
    await customer(tenant.api, "curious", currency="USD")
    portal_api = tenant.api.as_(token_of((await link(tenant.api, "curious"))["url"]))
    viewer_key = (await tenant.api('mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret } }')
                  )["createApiKey"]["secret"]
    for caller in (portal_api, tenant.api.as_(viewer_key)):
        with pytest.raises(TransportQueryError) as refused:
            await caller(LINKS, c="curious")
        assert codes(refused.value) == ["FORBIDDEN"]
    # Nor may a link read who made it: that is for staff.
    assert (await portal_api("{ portalSession { active } }"))["portalSession"]["active"] is True
    with pytest.raises(TransportQueryError) as refused:
        await portal_api("{ portalSession { createdBy } }")
    assert codes(refused.value) == ["FORBIDDEN"]
