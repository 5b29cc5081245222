"""Fuzzing the public surfaces: whatever a caller sends, the answer is a clean 2xx/4xx.

GraphQL operations are generated from the printed schema (schema.graphql) by hypothesis-graphql, valid
ones and invalid ones, root field by root field, and sent as three callers: an OWNER API key, a VIEWER
staff session and nobody. The raw HTTP surfaces (POST /graphql, POST /v1/events) get arbitrary bytes,
arbitrary JSON and wrong content types; operations that take variables get arbitrary JSON for them; the
WebSocket gets arbitrary frames after a good connection_init. No answer may be a 5xx (over the WebSocket:
a close that is not 1000 or 44xx), a masked internal error, or show a traceback, a file path or SQL.

Bounded for a small machine: few examples per test, derandomized (the same examples on every run and
in CI, no example database), no deadline. What the fuzzer found is kept as plain tests at the end.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC

import graphql
import httpx
import hypothesis_graphql as hg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from tests.graph.catalog_helpers import customer, metric, plan, subscribe
from tests.stack import ROOT

SCHEMA = graphql.build_schema((ROOT / "schema.graphql").read_text())
QUERY_FIELDS = sorted(SCHEMA.query_type.fields)
# Left out: what would end the caller's own ability to go on (its session, its rate limit).
MUTATION_FIELDS = sorted(set(SCHEMA.mutation_type.fields) - {"logout", "updateRateLimits"})

# FUZZ_SCALE=10 (say) multiplies every test's examples and draws new ones: a longer hunt, by hand.
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=SCALE == 1,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)

# --- what no answer may show -----------------------------------------------------------------------

LEAKS = [
    ("a masked internal error", re.compile(r"internal error|INTERNAL_SERVER_ERROR")),
    ("a traceback", re.compile(r"Traceback|most recent call last|RecursionError|Exception:")),
    ("a file path", re.compile(r"\.py\b|/work/|site-packages|/usr/lib/python")),
    ("SQL", re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b[^\"]*\b(FROM|VALUES|SET|WHERE)\b")),
    ("a driver's name", re.compile(r"asyncpg|sqlalchemy|psycopg|SQLSTATE", re.IGNORECASE)),
]


def _sent_text(sent: object) -> str:
    return sent if isinstance(sent, str) else json.dumps(sent, default=str) if sent is not None else ""


def assert_clean(response: httpx.Response, sent: object = None) -> None:
    """No 5xx, and nothing of the server's insides in the body (what the request itself said aside)."""
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    body = response.text
    echoed = _sent_text(sent)
    for what, pattern in LEAKS:
        for found in pattern.finditer(body):
            if found.group() not in echoed:
                raise AssertionError(f"the answer shows {what} ({found.group()!r}): {body[:2000]}")


# --- callers ----------------------------------------------------------------------------------------


@dataclass
class Caller:
    name: str
    token: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@pytest.fixture(scope="module")
async def callers(stack, operator_db) -> dict[str, Caller]:
    """An organization with a little of everything, its OWNER key, a VIEWER's session, and nobody."""
    from tests.conftest import make_tenant

    tenant = await make_tenant(operator_db, stack, "Fuzzed Ltd")
    await metric(tenant.api, "fuzz_units", "SUM", "value")
    await plan(tenant.api, "fuzz-plan", [{"billableMetricCode": "fuzz_units", "model": "STANDARD",
                                         "properties": {"amount": "1"}}])
    await customer(tenant.api, "fuzz-customer")
    await subscribe(tenant.api, "fuzz-customer", "fuzz-plan", "fuzz-sub")
    email, password = f"viewer-{uuid.uuid4().hex[:8]}@fuzz.test", "a long enough password"
    created = await tenant.api(
        "mutation($i: CreateStaffUserInput!) { createStaffUser(input: $i) { userErrors { code } } }",
        i={"email": email, "password": password, "role": "VIEWER"},
    )
    assert created["createStaffUser"]["userErrors"] == []
    logged_in = await tenant.api.as_(None)(
        "mutation($i: LoginInput!) { login(input: $i) { token userErrors { code } } }",
        i={"email": email, "password": password},
    )
    token = logged_in["login"]["token"]
    assert token, logged_in
    return {"owner": Caller("owner", tenant.api_key), "viewer": Caller("viewer", token),
            "anonymous": Caller("anonymous", None)}


@pytest.fixture(scope="module")
def http(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def ws_url(stack) -> str:
    return stack.ws_url


# --- GraphQL operations from the schema -------------------------------------------------------------


def _json_node(value: object) -> graphql.ValueNode:
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    if isinstance(value, str):
        return nodes.String(value)
    if isinstance(value, list):
        return nodes.List([_json_node(v) for v in value])
    return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_json_node(v))
                         for k, v in value.items()])


_NAMES = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,8}", fullmatch=True)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_NAMES, inner, max_size=4),
    max_leaves=12,
)
SCALARS = {
    "DateTime": st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),  # no offset
        st.text(max_size=30),
    ).map(nodes.String),
    "Decimal": st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.integers(-(10**40), 10**40).map(str),
        st.sampled_from(["1e999999", "-0", "0.1", "1E-30", "NaN", "", " 1"]),
        st.text(max_size=12),
    ).map(nodes.String),
    "Date": st.one_of(
        st.dates().map(lambda d: d.isoformat()),
        st.sampled_from(["2026-02-30", "0000-01-01", "99999-01-01", ""]),
        st.text(max_size=12),
    ).map(nodes.String),
    "JSON": JSON_VALUES.map(_json_node),
}


def _per_field(make, field_names: list[str], mode: hg.Mode) -> st.SearchStrategy[str]:
    """One root field per document: every field is reached, and one refused field hides no other."""
    by_field = {name: make(SCHEMA, fields=[name], custom_scalars=SCALARS, mode=mode) for name in field_names}
    return st.sampled_from(field_names).flatmap(by_field.__getitem__)


QUERIES = _per_field(hg.queries, QUERY_FIELDS, hg.Mode.POSITIVE)
MUTATIONS = _per_field(hg.mutations, MUTATION_FIELDS, hg.Mode.POSITIVE)
# Invalid ones: a violation (a missing required argument, a value of the wrong type) somewhere in the schema.
INVALID = st.one_of(hg.queries(SCHEMA, custom_scalars=SCALARS, mode=hg.Mode.NEGATIVE),
                    hg.mutations(SCHEMA, custom_scalars=SCALARS, mode=hg.Mode.NEGATIVE))


def _post_graphql(http: httpx.Client, caller: Caller, query: str) -> None:
    response = http.post("/graphql", json={"query": query}, headers=caller.headers())
    assert_clean(response, query)
    if caller.token is not None and response.status_code == 200:
        assert "data" in response.json(), response.text[:2000]


@pytest.mark.parametrize("who", ["owner", "viewer", "anonymous"])
@settings(FUZZ, max_examples=40 * SCALE)
@given(query=QUERIES)
def test_generated_queries_get_clean_answers(http, callers, who, query) -> None:
    _post_graphql(http, callers[who], query)


@pytest.mark.parametrize("who", ["owner", "viewer", "anonymous"])
@settings(FUZZ, max_examples=40 * SCALE)
@given(mutation=MUTATIONS)
def test_generated_mutations_get_clean_answers(http, callers, who, mutation) -> None:
    _post_graphql(http, callers[who], mutation)


@pytest.mark.parametrize("who", ["owner", "anonymous"])
@settings(FUZZ, max_examples=30 * SCALE)
@given(query=INVALID)
def test_invalid_documents_get_clean_answers(http, callers, who, query) -> None:
    _post_graphql(http, callers[who], query)


@settings(FUZZ, max_examples=30 * SCALE)
@given(login=hg.mutations(SCHEMA, fields=["login"], custom_scalars=SCALARS))
def test_generated_logins_get_clean_answers(http, callers, login) -> None:
    """The one operation an anonymous caller may run, with whatever it holds."""
    _post_graphql(http, callers["anonymous"], login)


# --- raw HTTP bodies ------------------------------------------------------------------------------

JSON_BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25,
)
# Bodies shaped like what the endpoints expect, with arbitrary values where they look.
EVENT = st.fixed_dictionaries(
    {},
    optional={
        "transactionId": JSON_BODIES, "customerExternalId": st.just("fuzz-customer") | JSON_BODIES,
        "metricCode": st.just("fuzz_units") | JSON_BODIES, "timestamp": JSON_BODIES, "properties": JSON_BODIES,
        "subscriptionExternalId": JSON_BODIES, "specversion": st.just("1.0"), "id": JSON_BODIES,
        "subject": JSON_BODIES, "type": JSON_BODIES, "time": JSON_BODIES, "data": JSON_BODIES,
    },
)
GRAPHQL_BODY = st.fixed_dictionaries(
    {}, optional={"query": st.text() | JSON_BODIES | st.just("{ viewer { __typename } }"),
                  "variables": JSON_BODIES, "operationName": JSON_BODIES, "extensions": JSON_BODIES},
)
CONTENT_TYPES = st.sampled_from([
    "application/json", "application/cloudevents-batch+json", "application/json; charset=latin-1", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=x",
    "application/graphql", "application/graphql-response+json", "", "*/*", "application/json\x7f",
])
SURFACES = ["/graphql", "/v1/events"]


def _encoded(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def _post_raw(http: httpx.Client, caller: Caller, path: str, body: bytes, content_type: str | None) -> None:
    headers = caller.headers()
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = http.post(path, content=body, headers=headers)
    assert_clean(response, body.decode("utf-8", "replace"))


@pytest.mark.parametrize("path", SURFACES)
@settings(FUZZ, max_examples=30 * SCALE)
@given(body=st.binary(max_size=2048), content_type=CONTENT_TYPES | st.none())
def test_arbitrary_bytes_get_clean_answers(http, callers, path, body, content_type) -> None:
    _post_raw(http, callers["owner"], path, body, content_type)


@pytest.mark.parametrize("path", SURFACES)
@settings(FUZZ, max_examples=40 * SCALE)
@given(value=JSON_BODIES | st.lists(EVENT, max_size=5) | GRAPHQL_BODY | st.lists(GRAPHQL_BODY, max_size=3),
       content_type=CONTENT_TYPES)
def test_arbitrary_json_gets_clean_answers(http, callers, path, value, content_type) -> None:
    _post_raw(http, callers["owner"], path, _encoded(value), content_type)


@settings(FUZZ, max_examples=20 * SCALE)
@given(body=st.binary(max_size=512) | JSON_BODIES.map(_encoded), content_type=CONTENT_TYPES | st.none(),
       path=st.sampled_from(SURFACES), who=st.sampled_from(["viewer", "anonymous"]))
def test_arbitrary_bodies_from_weaker_callers_get_clean_answers(http, callers, body, content_type, path, who) -> None:
    _post_raw(http, callers[who], path, body, content_type)


# Operations that take variables, with arbitrary JSON for them (coerced by graphql-core, then checked by us).
WITH_VARIABLES = [
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }",
    "mutation($input: IngestUsageInput!) { ingestUsage(input: $input) { accepted rejected { code } } }",
    "mutation($input: CreatePlanInput!) { createPlan(input: $input) { plan { id } userErrors { field code } } }",
    "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { id } userErrors { code } } }",
    "query($c: String!, $s: String) { customerUsage(customerExternalId: $c, subscriptionExternalId: $s) { amount } }",
    "query($first: Int, $after: String) { customers(first: $first, after: $after) { totalCount nodes { id } } }",
]
VARIABLES = st.fixed_dictionaries({}, optional={
    "input": JSON_BODIES | st.fixed_dictionaries({}, optional={
        "events": st.lists(EVENT, max_size=4), "externalId": JSON_BODIES, "name": JSON_BODIES,
        "code": JSON_BODIES, "metadata": JSON_BODIES, "charges": JSON_BODIES, "amount": JSON_BODIES}),
    "c": st.just("fuzz-customer") | JSON_BODIES, "s": JSON_BODIES, "first": JSON_BODIES, "after": JSON_BODIES,
})


@settings(FUZZ, max_examples=40 * SCALE)
@given(query=st.sampled_from(WITH_VARIABLES), variables=VARIABLES | JSON_BODIES)
def test_arbitrary_variables_get_clean_answers(http, callers, query, variables) -> None:
    body = _encoded({"query": query, "variables": variables})
    _post_raw(http, callers["owner"], "/graphql", body, "application/json")


# --- WebSocket messages ---------------------------------------------------------------------------

SUBSCRIBE = st.fixed_dictionaries({"type": st.just("subscribe")}, optional={
    "id": JSON_BODIES, "payload": GRAPHQL_BODY | JSON_BODIES})
WS_MESSAGES = st.one_of(
    st.binary(max_size=256), st.text(max_size=256), JSON_BODIES.map(json.dumps), SUBSCRIBE.map(json.dumps),
    st.fixed_dictionaries({"type": st.sampled_from(["ping", "pong", "complete", "connection_init", "next"])},
                          optional={"id": JSON_BODIES, "payload": JSON_BODIES}).map(json.dumps),
)


@settings(FUZZ, max_examples=25 * SCALE)
@given(message=WS_MESSAGES)
def test_arbitrary_websocket_messages_get_clean_answers(ws_url, callers, message) -> None:
    """After a good connection_init, any frame is answered or the socket closed with a 44xx code, never 1011."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=30) as ws:
        ws.send(json.dumps({"type": "connection_init",
                            "payload": {"authorization": f"Bearer {callers['owner'].token}"}}))
        assert json.loads(ws.recv(timeout=30))["type"] == "connection_ack"
        ws.send(message)
        answers: list[str | bytes] = []
        try:
            while len(answers) < 3:  # an operation's results up to its end, or what a frame is answered with
                answers.append(ws.recv(timeout=0.3))
                if '"type":"complete"' in str(answers[-1]).replace(" ", "") or "pong" in str(answers[-1]):
                    break
        except TimeoutError:
            pass  # nothing (more) to say to it: the socket stays open
        except ConnectionClosed as closed:
            frame = closed.rcvd
            assert frame is not None and (4000 <= frame.code < 5000 or frame.code == 1000), frame
            answers.append(frame.reason)
        for answer in answers:
            text = answer if isinstance(answer, str) else answer.decode("utf-8", "replace")
            for what, pattern in LEAKS:
                found = pattern.search(text)
                assert found is None or found.group() in str(message), f"shows {what}: {text[:500]}"


# --- what the fuzzer found, kept as plain tests ---------------------------------------------------


@pytest.mark.parametrize("body", [b"null", b"1", b'"{ viewer { name } }"', b"true", b"[1]", b"[null]"])
def test_a_graphql_body_that_is_json_but_no_object_is_a_400_with_a_reason(http, callers, body) -> None:
    """Found: `null` (any JSON but an object) as the body of POST /graphql was a 500."""
    response = http.post("/graphql", content=body, headers={**callers["owner"].headers(),
                                                             "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "JSON object" in error["message"] or "batch" in error["message"].lower(), error


@pytest.mark.parametrize("frame", [
    "null", "[]", "1", '"connection_init"', '{"type": 1}', '{"type": "complete", "id": {"a": 1}}',
    '{"type": "subscribe", "id": ["x"], "payload": {"query": "{ viewer { name } }"}}',
    '{"type": "subscribe", "id": "1", "payload": []}',
    '{"type": "subscribe", "id": "1", "payload": {"query": 1}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ viewer { name } }", "variables": []}}',
])
def test_a_websocket_frame_that_is_json_but_no_message_closes_with_4400_and_a_reason(ws_url, callers, frame) -> None:
    """Found: `null` (any JSON but a message object, or an id or payload of the wrong shape) broke the
    server's handler and dropped the connection without a close frame."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=30) as ws:
        ws.send(json.dumps({"type": "connection_init",
                            "payload": {"authorization": f"Bearer {callers['owner'].token}"}}))
        assert json.loads(ws.recv(timeout=30))["type"] == "connection_ack"
        ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value
    assert "message" in closed.value.rcvd.reason
