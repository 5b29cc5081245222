"""Kept answers (graph/kept_responses.py): the portals' hottest reads answered again without running GraphQL, and
never an answer that running it again would not give — after a change, for another caller, or once time moved on.
Over HTTP with the gql client against `valueverse serve` (two API processes), and the rules of keeping in-process
against the run's database."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import aiohttp
import pytest

from db.models import Role
from db.session import Database
from graph.kept_responses import MAX_AGE, PDF_LINK_REUSE, KeptResponse, KeptResponses, Pending
from graph.schema import schema
from integrations.clock import SYSTEM_CLOCK
from services import audit
from services.actors import Actor, system_actor
from tests.client import TransportQueryError
from tests.graph.catalog_helpers import customer, metric, plan, send, subscribe, uid
from tests.graph.test_portal_sessions import CREDIT, ONE_OFF, link, token_of

LIST = """query($c: String) { invoices(customerExternalId: $c, first: 12) {
  totalCount edges { node { id number status amountDue paymentStatus pdfUrl customer { externalId name }
    lines { kind description amount } } } pageInfo { hasNextPage endCursor } } }"""
VOID = "mutation($id: ID!) { voidInvoice(input: {id: $id}) { invoice { status } userErrors { code } } }"
RECORD = """mutation($input: RecordPaymentInput!) { recordPayment(input: $input) { userErrors { field code } } }"""
USAGE = """query($c: String!) { customerUsage(customerExternalId: $c) { amount
  charges { billableMetricCode units amount breakdown { units amount } } } }"""
METRICS = """query($from: Date!, $to: Date!) { revenueMetrics(from: $from, to: $to) {
  periodStart mrr invoicedAmount } }"""


async def _one_off(api, external_id: str, amount: str) -> str:
    made = (await api(ONE_OFF, c=external_id, amount=amount))["createOneOffInvoice"]
    assert made["userErrors"] == [], made
    return made["invoice"]["id"]


async def _hits(stack) -> float:
    """Kept answers given so far, summed over the API processes (/metrics)."""
    async with aiohttp.ClientSession() as http, http.get(
        f"{stack.api_url}/metrics", headers={"Authorization": f"Bearer {stack.env['METRICS_TOKEN']}"}
    ) as response:
        text = await response.text()
    found = re.search(r'^valueverse_graphql_kept_responses_total\{outcome="hit"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _nodes(answer: dict) -> list[dict]:
    return [edge["node"] for edge in answer["invoices"]["edges"]]


async def test_an_invoice_list_asked_again_shows_every_change_at_once(stack, tenant) -> None:
    api = tenant.api
    await customer(api, "kept-list", currency="USD")
    first = await _one_off(api, "kept-list", "120")
    hits = await _hits(stack)
    before = [await api(LIST, c="kept-list") for _ in range(5)]  # kept by each process that answered
    # (Each process computes its own answer once, with PDF links signed at its own second.)
    assert all(_without_signatures(answer) == _without_signatures(before[0]) for answer in before)
    assert await _hits(stack) >= hits + 3  # two API processes: at most two computed it
    assert [(n["id"], n["status"], n["amountDue"]) for n in _nodes(before[0])] == [(first, "OPEN", "120.00")]

    assert (await api(RECORD, input={"invoiceId": first, "amount": "120"}))["recordPayment"]["userErrors"] == []
    paid = _nodes(await api(LIST, c="kept-list"))
    assert [(n["status"], n["paymentStatus"]) for n in paid] == [("PAID", "SUCCEEDED")]

    second = await _one_off(api, "kept-list", "30")
    assert [n["id"] for n in _nodes(await api(LIST, c="kept-list"))] == [second, first]
    assert (await api(VOID, id=second))["voidInvoice"]["userErrors"] == []
    assert [n["status"] for n in _nodes(await api(LIST, c="kept-list"))] == ["VOID", "PAID"]

    await api('mutation { updateCustomer(input: {externalId: "kept-list", name: "Renamed"}) { userErrors { code } } }')
    assert {n["customer"]["name"] for n in _nodes(await api(LIST, c="kept-list"))} == {"Renamed"}


FULL = """query($c: String) { NAME: invoices(customerExternalId: $c, first: 12) {
  totalCount edges { node { id number status kind currency periodStart periodEnd issuedAt dueAt subtotalAmount
    discountAmount taxAmount totalAmount creditNotesAmount creditsAmount amountDue amountPaid paymentStatus paidAt
    paymentReference nextPaymentAttemptAt dunningStatus reverseCharge notes pdfUrl
    customer { externalId name email currency }
    lines { id kind description units amount discountAmount taxAmount taxRates { code rate } breakdown } } }
  pageInfo { hasNextPage endCursor } } }"""


def _without_signatures(answer: dict) -> dict:
    (page,) = answer.values()
    for edge in page["edges"]:
        edge["node"]["pdfUrl"] = edge["node"]["pdfUrl"] and edge["node"]["pdfUrl"].split("?")[0]
    return page


async def test_a_kept_answer_is_always_the_answer_computed_afresh(tenant) -> None:
    """After each change, the document asked again (kept answers) equals the same document in other words (another
    alias each time: other text, computed afresh), PDF links' signatures aside."""
    api = tenant.api
    await customer(api, "kept-same", currency="USD", email="ap@kept-same.test")
    fresh = 0

    async def both_alike() -> None:
        nonlocal fresh
        fresh += 1
        kept = [_without_signatures(await api(FULL.replace("NAME", "page"), c="kept-same")) for _ in range(3)]
        afresh = _without_signatures(await api(FULL.replace("NAME", f"afresh{fresh}"), c="kept-same"))
        # (Each API process computes its own answer, each with PDF links signed at its own second.)
        assert kept == [afresh] * 3

    await both_alike()
    first = await _one_off(api, "kept-same", "100")
    await both_alike()
    assert (await api(RECORD, input={"invoiceId": first, "amount": "40"}))["recordPayment"]["userErrors"] == []
    await both_alike()
    credit = await api(CREDIT, input={"invoiceId": first, "amount": "10", "reason": "goodwill", "kind": "CREDIT"})
    assert credit["createCreditNote"]["userErrors"] == []
    await both_alike()
    second = await _one_off(api, "kept-same", "7.5")
    assert (await api(VOID, id=second))["voidInvoice"]["userErrors"] == []
    await both_alike()
    await api('mutation { updateCustomer(input: {externalId: "kept-same", email: "billing@kept-same.test"}) '
              "{ userErrors { code } } }")
    await both_alike()
    assert (await api(RECORD, input={"invoiceId": first, "amount": "50"}))["recordPayment"]["userErrors"] == []
    await both_alike()
    last = _without_signatures(await api(FULL.replace("NAME", "page"), c="kept-same"))
    statuses = [(e["node"]["status"], e["node"]["amountDue"], e["node"]["amountPaid"]) for e in last["edges"]]
    assert statuses == [("VOID", "7.50", "0.00"), ("PAID", "90.00", "90.00")]


async def test_portal_links_get_their_own_customers_answer_to_the_same_document(tenant) -> None:
    api = tenant.api
    for name in ("kept-a", "kept-b"):
        await customer(api, name, currency="USD")
    own = {name: await _one_off(api, name, amount) for name, amount in (("kept-a", "10"), ("kept-b", "20"))}
    tokens = {name: token_of((await link(api, name))["url"]) for name in own}
    for _ in range(2):  # the second round is answered from what the first kept
        for name, token in tokens.items():
            nodes = _nodes(await api.as_(token)(LIST, c=None))
            assert [(n["id"], n["customer"]["externalId"]) for n in nodes] == [(own[name], name)]
        with pytest.raises(TransportQueryError):  # another customer's invoices: refused, kept answers or not
            await api.as_(tokens["kept-a"])(LIST, c="kept-b")
    staff = _nodes(await api(LIST, c=None))  # the organization's list is another answer again
    assert {n["id"] for n in staff} >= set(own.values())


async def test_a_role_too_weak_is_refused_after_a_stronger_one_was_answered(tenant) -> None:
    created = await tenant.api(
        'mutation { createApiKey(input: {name: "viewer", role: VIEWER}) { secret userErrors { code } } }'
    )
    viewer = tenant.api.as_(created["createApiKey"]["secret"])
    window = {"from": "2025-01-01", "to": "2025-03-31"}
    for _ in range(2):
        assert len((await tenant.api(METRICS, **window))["revenueMetrics"]) == 3
        with pytest.raises(TransportQueryError) as error:
            await viewer(METRICS, **window)
        assert error.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_usage_asked_again_moves_with_every_event(stack, tenant) -> None:
    api = tenant.api
    code = uid("kept-calls")
    await metric(api, code, "SUM")
    plan_code = uid("kept-plan")
    await plan(api, plan_code, [{"billableMetricCode": code, "model": "STANDARD", "properties": {"amount": "0.5"}}])
    await customer(api, "kept-usage", currency="USD")
    await subscribe(api, "kept-usage", plan_code, uid("kept-sub"))
    for sent in (1, 2, 3):
        await send(api, "kept-usage", code, [2])
        hits = await _hits(stack)
        answers = [(await api(USAGE, c="kept-usage"))["customerUsage"] for _ in range(5)]
        assert all(answer == answers[0] for answer in answers)
        # The first answer after the event is kept at once (under the usage answer it computed and kept), so two
        # API processes compute it twice at most.
        assert await _hits(stack) >= hits + 3
        assert (answers[0]["amount"], answers[0]["charges"][0]["units"]) == (f"{sent * 1}.00", str(2 * sent))


# --- the rules of keeping, in-process against the run's database -----------------------------------------------


def _actor(tenant, role: Role = Role.FINANCE) -> Actor:
    return Actor(uuid.UUID(tenant.organization_id), role, "api_key", "key", "key")


async def test_a_kept_answer_holds_while_versions_and_time_say_so(operator_db: Database, tenant) -> None:
    kept = KeptResponses(schema._schema, operator_db)
    actor, now = _actor(tenant), SYSTEM_CLOCK.now()
    ask = (LIST, None, {"c": "someone"}, "http://api.test/")
    pending = await kept.look_up(actor, *ask, now)
    assert isinstance(pending, Pending)
    kept.keep(pending, '{"data":1}', now + PDF_LINK_REUSE)

    found = await kept.look_up(actor, *ask, now + timedelta(seconds=1))
    assert isinstance(found, KeptResponse) and found.body == '{"data":1}'
    assert isinstance(await kept.look_up(actor, *ask, now + PDF_LINK_REUSE), Pending)  # a resolver's moment
    assert isinstance(await kept.look_up(actor, *ask, now - timedelta(seconds=1)), Pending)  # a clock set back
    for other in (
        (LIST, None, {"c": "someone else"}, "http://api.test/"),  # other variables
        (LIST, None, {"c": "someone"}, "http://elsewhere.test/"),  # other links
    ):
        assert isinstance(await kept.look_up(actor, *other, now), Pending)
    for caller in (_actor(tenant, Role.ADMIN), Actor(actor.organization_id, Role.FINANCE, "portal", "p", "p",
                                                     customer_id=uuid.uuid4(), customer_external_id="someone")):
        assert isinstance(await kept.look_up(caller, *ask, now), Pending)

    async with operator_db.unit_of_work() as uow:  # any audited change of the organization
        await audit.record(uow, system_actor(actor.organization_id), "customer.updated", "customer", uuid.uuid4())
    assert isinstance(await kept.look_up(actor, *ask, now), Pending)

    pending = await kept.look_up(actor, *ask, now)
    assert isinstance(pending, Pending)
    kept.keep(pending, '{"data":2}', None)  # no resolver named a moment: MAX_AGE bounds it
    assert isinstance(await kept.look_up(actor, *ask, now + MAX_AGE - timedelta(seconds=1)), KeptResponse)
    assert isinstance(await kept.look_up(actor, *ask, now + MAX_AGE), Pending)


@pytest.mark.parametrize(
    "document",
    [
        'mutation { voidInvoice(input: {id: "x"}) { userErrors { code } } }',
        "query { invoices { nodes { id payments { id } } } }",  # payments are another type
        "query { invoices { nodes { id customer { subscriptions { externalId } } } } }",
        "query { invoices { nodes { id } } customers { nodes { id } } }",  # another root field
        "query { __schema { types { name } } }",
        "query { invoices { nodes { ... on Invoice { id } } } }",
        "query A { invoices { nodes { id } } } query B { invoices { nodes { number } } }",  # which one?
        "query { invoices { nodes { id } ",  # does not parse
        "subscription { usageUpdated(customerExternalId: \"c\") { amount } }",
    ],
)
async def test_documents_that_name_anything_else_are_never_kept(operator_db: Database, tenant, document) -> None:
    kept = KeptResponses(schema._schema, operator_db)
    assert await kept.look_up(_actor(tenant), document, None, None, "http://api.test/", SYSTEM_CLOCK.now()) is None


async def test_usage_is_kept_only_under_the_usage_answer_it_answered_from(operator_db: Database, tenant) -> None:
    kept = KeptResponses(schema._schema, operator_db)
    actor, now = _actor(tenant), SYSTEM_CLOCK.now()
    ask = (USAGE, None, {"c": "nobody"}, "http://api.test/")
    lookups: dict = {}
    # No usage answer is kept for this customer: the request computes one, and what it read is handed on to it.
    pending = await kept.look_up(actor, *ask, now, lookups)
    assert isinstance(pending, Pending) and lookups[("nobody", None)].answer is None
    kept.keep(pending, '{"data":1}', None, {})  # no customerUsage field said what it answered from: not kept
    assert isinstance(await kept.look_up(actor, *ask, now), Pending)
    pending = await kept.look_up(actor, *ask, now)
    kept.keep(pending, '{"data":1}', None, {("nobody", None): None})  # two fields answered from different ones
    assert isinstance(await kept.look_up(actor, *ask, now), Pending)
    pending = await kept.look_up(actor, *ask, now)
    kept.keep(pending, '{"data":1}', None, {("nobody", None): b"an answer"})
    # Kept under that usage answer, which the database does not hold: never given.
    assert isinstance(await kept.look_up(actor, *ask, now), Pending)


async def test_the_least_recently_used_answers_go_first(operator_db: Database, tenant, monkeypatch) -> None:
    from graph import kept_responses

    monkeypatch.setattr(kept_responses, "MAX_CHARS", 10)
    kept = KeptResponses(schema._schema, operator_db)
    actor, now = _actor(tenant), SYSTEM_CLOCK.now()
    asks = [(LIST, None, {"c": name}, "http://api.test/") for name in ("a", "b", "c")]
    for ask in asks[:2]:
        pending = await kept.look_up(actor, *ask, now)
        assert isinstance(pending, Pending)
        kept.keep(pending, "x" * 4, None)
    assert isinstance(await kept.look_up(actor, *asks[0], now), KeptResponse)  # "a" is now the most recently used
    pending = await kept.look_up(actor, *asks[2], now)
    assert isinstance(pending, Pending)
    kept.keep(pending, "y" * 4, None)  # 12 characters: the least recently used one ("b") goes
    assert [type(await kept.look_up(actor, *ask, now)) for ask in asks] == [KeptResponse, Pending, KeptResponse]


async def _until_waiting(kept: KeptResponses, pending: Pending) -> None:
    """Until a request waits for `pending`'s answer (it reads its versions first: a database round trip)."""
    for _ in range(100_000):
        if kept.waiting_for(pending):
            return
        await asyncio.sleep(0)
    raise AssertionError("nobody waited")


async def test_the_same_question_asked_meanwhile_waits_for_the_first_answer(operator_db: Database, tenant) -> None:
    kept = KeptResponses(schema._schema, operator_db)
    actor, now = _actor(tenant), SYSTEM_CLOCK.now()
    ask = (METRICS, None, {"from": "2025-01-01", "to": "2025-03-31"}, "http://api.test/")
    first = await kept.look_up(actor, *ask, now)
    assert isinstance(first, Pending) and first.flight is not None
    waiting = asyncio.create_task(kept.look_up(actor, *ask, now))
    await _until_waiting(kept, first)
    kept.keep(first, '{"data":"once"}', None)
    found = await waiting
    assert isinstance(found, KeptResponse) and found.body == '{"data":"once"}'

    second = await kept.look_up(actor, *ask, now + MAX_AGE)  # expired: computed again
    assert isinstance(second, Pending) and second.flight is not None
    waiting = asyncio.create_task(kept.look_up(actor, *ask, now + MAX_AGE))
    await _until_waiting(kept, second)
    kept.abandon(second)  # it ended with errors: the one waiting computes its own
    alone = await waiting
    assert isinstance(alone, Pending) and alone.flight is None and kept.waiting_for(second) == 0
