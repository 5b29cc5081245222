"""Bad requests get a clear error and no stack trace; the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
import websockets
from gql import gql
from gql.transport.exceptions import TransportQueryError
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull, Undefined, build_schema
from strawberry.utils.str_converters import to_snake_case

from graph import input_checks
from services.documents import signed_pdf_path
from tests.client import ws_client
from tests.db import org_footprint


async def _raw(
    stack,
    body: str | None = None,
    *,
    token: str | None = None,
    method: str = "POST",
    content_type: str = "application/json",
) -> tuple[int, str]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, stack.graphql_url, data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ("{not json", 400, "Unable to parse request body as JSON"),
        ('{"variables": {}}', 400, "No GraphQL query found"),
        ('{"query": "{ viewer { name } }", "variables": "nope"}', 400, "variables"),
    ],
)
async def test_malformed_requests_get_400_with_a_reason(stack, tenant, body, status, needle) -> None:
    got, text = await _raw(stack, body, token=tenant.api_key)
    assert got == status and needle in text and "Traceback" not in text


async def test_invalid_documents_get_graphql_errors(stack, tenant) -> None:
    with pytest.raises(TransportQueryError) as error:
        await tenant.api("{ viewer { nope } }")
    assert "Cannot query field 'nope'" in str(error.value)
    _status, text = await _raw(stack, '{"query": "{ viewer { "}', token=tenant.api_key)
    assert "Syntax Error" in text and "Traceback" not in text
    with pytest.raises(TransportQueryError) as error:
        await tenant.api("query($n: Int) { apiKeys(first: $n) { totalCount } }", n="ten")
    assert "Int cannot represent non-integer value" in str(error.value)


async def test_unknown_operation_name_is_an_error(stack, tenant) -> None:
    status, text = await _raw(
        stack, '{"query": "query A { viewer { name } }", "operationName": "B"}', token=tenant.api_key
    )
    assert status == 400 and 'Unknown operation named \\"B\\"' in text and "Traceback" not in text


async def test_over_aliased_queries_are_refused(tenant) -> None:
    aliased = "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(40)) + " }"
    with pytest.raises(TransportQueryError) as error:
        await tenant.api(aliased)
    assert error.value.errors[0]["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert "40 aliases" in error.value.errors[0]["message"]


async def test_mutations_over_get_are_refused(stack, tenant) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            stack.graphql_url,
            params={"query": 'mutation { login(input: {email: "a", password: "b"}) { token } }'},
            headers={"Authorization": f"Bearer {tenant.api_key}", "Accept": "application/json"},
        ) as response,
    ):
        assert response.status in (400, 405)


async def test_bad_pagination_arguments_are_client_errors(tenant) -> None:
    for args, needle in [("first: 5000", "first must be between"), ('after: "garbage"', "cursor")]:
        with pytest.raises(TransportQueryError) as error:
            await tenant.api(f"{{ apiKeys({args}) {{ totalCount }} }}")
        assert needle in str(error.value)
        assert error.value.errors[0]["extensions"]["code"] == "BAD_PAGINATION"


async def test_websocket_without_or_with_a_bad_token_is_rejected(stack, tenant) -> None:
    for payload in [{}, {"authorization": "Bearer vv_unknown"}]:
        async with websockets.connect(stack.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=5)
        assert closed.value.rcvd.code == 4403


async def test_websocket_with_a_good_token_is_accepted(stack, tenant) -> None:
    async with ws_client(stack.ws_url, tenant.api_key) as session:
        assert (await session.execute(gql("{ viewer { name } }")))["viewer"]["name"] == "default"


async def test_graphiql_is_served_to_browsers(stack) -> None:
    async with aiohttp.ClientSession() as http, http.get(stack.graphql_url, headers={"Accept": "text/html"}) as r:
        assert r.status == 200 and "graphiql" in (await r.text()).lower()


async def test_server_still_serves_after_all_that(stack, tenant) -> None:
    assert (await tenant.api("{ viewer { name } }"))["viewer"]["name"] == "default"


async def test_over_deep_queries_are_refused(tenant) -> None:
    on_customer = "subscriptions { plan { charges { billableMetric { filters { key } } } } }"
    for _ in range(3):  # customer -> subscriptions -> customer -> ...: 14 levels in all
        on_customer = f"subscriptions {{ customer {{ {on_customer} }} }}"
    with pytest.raises(TransportQueryError) as error:
        await tenant.api("{ customers { nodes { " + on_customer + " } } }")
    assert error.value.errors[0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert "at most 12" in error.value.errors[0]["message"]


# --- text every column can store, no longer than its column (graph/input_checks.py) --------------

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
SAMPLES = {"String": "x", "ID": "00000000-0000-0000-0000-000000000000", "Int": 1, "Float": 1.0, "Boolean": False,
           "Decimal": "1", "DateTime": "2026-01-01T00:00:00+00:00", "Date": "2026-01-01", "JSON": {}}


def _named(type_):
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _sample(type_):
    """The smallest value of a type that coercion accepts (required fields only)."""
    if isinstance(type_, GraphQLNonNull):
        return _sample(type_.of_type)
    if isinstance(type_, GraphQLList):
        return []
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {name: _sample(f.type) for name, f in type_.fields.items()
                if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined}
    return SAMPLES[type_.name]


def _text_fields(type_, path=()):
    """(path, input type name, field name, is a list) of every String/ID field reachable in an input."""
    for name, f in type_.fields.items():
        named, is_list = _named(f.type), "[" in str(f.type)
        if isinstance(named, GraphQLInputObjectType):
            yield from _text_fields(named, (*path, name, "0") if is_list else (*path, name))
        elif named.name in ("String", "ID"):
            yield (*path, name), type_.name, name, is_list


def _with(value: dict, input_type, path: tuple, leaf) -> dict:
    """A copy of the sample input with `leaf` at `path` (list items and nested inputs made as needed)."""
    value = dict(value)
    head, *rest = path
    field_type = input_type.fields[head].type
    if not rest:
        value[head] = leaf
        return value
    named = _named(field_type)
    if rest[0] == "0":
        value[head] = [_with(_sample(named), named, tuple(rest[1:]), leaf)]
    else:
        value[head] = _with(value.get(head) or _sample(named), named, tuple(rest), leaf)
    return value


def _mutation_cases():
    for name, f in SCHEMA.mutation_type.fields.items():
        if name in input_checks.CHECKED_BY_THEMSELVES or "input" not in f.args:
            continue  # no input: nothing typed to check (startSecondFactorEnrolment)
        input_type = _named(f.args["input"].type)
        for path, type_name, field, is_list in _text_fields(input_type):
            yield name, input_type, path, type_name, field, is_list


MUTATION_CASES = list(_mutation_cases())
LENGTHS = input_checks.MAX_LENGTHS


async def _mutate(api, mutation: str, input_type, value: dict) -> list[dict]:
    document = f"mutation($input: {input_type.name}!) {{ {mutation}(input: $input) {{ userErrors {{ field code }} }} }}"
    return (await api(document, input=value))[mutation]["userErrors"]


async def test_every_text_argument_of_every_mutation_refuses_nul_with_a_user_error(stack, tenant) -> None:
    """U+0000 cannot be stored in PostgreSQL text: a userError at its path, never an internal error."""
    assert len(MUTATION_CASES) > 60
    before = await org_footprint(stack.database_url, tenant.organization_id)
    for mutation, input_type, path, _, _, is_list in MUTATION_CASES:
        leaf = ["a\x00b"] if is_list else "a\x00b"
        errors = await _mutate(tenant.api, mutation, input_type, _with(_sample(input_type), input_type, path, leaf))
        where = ["input", *path, "0"] if is_list else ["input", *path]
        assert {"field": where, "code": "INVALID_TEXT"} in errors, (mutation, path, errors)
    assert await org_footprint(stack.database_url, tenant.organization_id) == before


async def test_text_longer_than_its_column_is_a_user_error_naming_the_field(stack, tenant) -> None:
    checked = 0
    for mutation, input_type, path, type_name, field, _ in MUTATION_CASES:
        limit = LENGTHS.get(type_name, {}).get(to_snake_case(field))
        if limit is None:
            continue
        sample = _sample(input_type)
        errors = await _mutate(tenant.api, mutation, input_type, _with(sample, input_type, path, "y" * (limit + 1)))
        assert {"field": ["input", *path], "code": "TOO_LONG"} in errors, (mutation, path, errors)
        errors = await _mutate(tenant.api, mutation, input_type, _with(sample, input_type, path, "y" * limit))
        assert {"field": ["input", *path], "code": "TOO_LONG"} not in errors, (mutation, path)
        checked += 1
    assert checked > 40
    country = await _mutate(tenant.api, "createCustomer", SCHEMA.get_type("CreateCustomerInput"),
                            {"externalId": "c", "country": "FRA"})  # a list says more than a length
    assert country == [{"field": ["input", "country"], "code": "UNKNOWN_COUNTRY"}]
    answer = (await tenant.api('mutation { createCustomer(input: {externalId: "c", name: "' + "n" * 301 + '"}) { '
                               "customer { id } userErrors { field code message } } }"))["createCustomer"]
    assert answer == {"customer": None, "userErrors": [
        {"field": ["input", "name"], "code": "TOO_LONG", "message": "at most 300 characters (301 given)"}]}


async def test_json_text_and_lone_surrogates_are_checked_too(stack, tenant) -> None:
    errors = await _mutate(tenant.api, "createCustomer", SCHEMA.get_type("CreateCustomerInput"),
                           {"externalId": "j", "metadata": {"plan\x00": "gold", "tier": "a\x00"}})
    assert {"field": ["input", "metadata", "plan\x00"], "code": "INVALID_TEXT"} in errors
    assert {"field": ["input", "metadata", "tier"], "code": "INVALID_TEXT"} in errors
    literal = 'mutation { createCustomer(input: {externalId: "a\\u0000"}) { userErrors { field code } } }'
    assert (await tenant.api(literal))["createCustomer"]["userErrors"] == [
        {"field": ["input", "externalId"], "code": "INVALID_TEXT"}]


async def test_query_arguments_refuse_nul_with_an_error_not_a_mask(stack, tenant) -> None:
    for name, f in SCHEMA.query_type.fields.items():
        texts = [a for a, arg in f.args.items() if _named(arg.type).name in ("String", "ID")]
        if not texts:
            continue
        args = {a: _sample(arg.type) for a, arg in f.args.items() if isinstance(arg.type, GraphQLNonNull)}
        args[texts[0]] = "a\x00b"
        declared = ", ".join(f"${a}: {f.args[a].type}" for a in args)
        used = ", ".join(f"{a}: ${a}" for a in args)
        selection = "" if _named(f.type).name in SAMPLES else " { __typename }"
        with pytest.raises(TransportQueryError) as refused:
            await tenant.api(f"query({declared}) {{ {name}({used}){selection} }}", **args)
        error = refused.value.errors[0]
        assert error["extensions"]["code"] == "INVALID_TEXT" and "U+0000" in error["message"], (name, error)


async def test_subscription_arguments_refuse_nul(stack, tenant) -> None:
    async with ws_client(stack.ws_url, tenant.api_key) as session:
        with pytest.raises(TransportQueryError) as refused:
            async for _ in session.subscribe(gql('subscription { usageUpdated(customerExternalId: "a\\u0000") '
                                                 "{ amount } }")):
                pass
    assert refused.value.errors[0]["extensions"]["code"] == "INVALID_TEXT"


# --- signed PDF links -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["invoices", "credit-notes"])
@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("expires=%C2%B2&signature=" + "a" * 43, 400),  # '²' is a digit to str.isdigit, not to int()
        ("expires=" + "9" * 5000 + "&signature=" + "a" * 43, 400),
        ("expires=9999999999&signature=%C3%A9", 403),
        ("expires=9999999999&signature=" + "%FF" * 10, 403),
        ("expires=9999999999&signature=" + "a" * 5000, 403),
        ("expires=9999999999", 400),
        ("", 400),
        ("expires=9999999999&signature=" + "a" * 43, 403),
        ("expires=1&signature=" + "a" * 43, 403),
    ],
)
async def test_bad_pdf_links_are_refused_with_a_reason(stack, kind, query, status) -> None:
    url = f"{stack.api_url}/v1/{kind}/{uuid.uuid4()}/pdf?{query}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json()
    assert response.status == status
    assert body["errors"][0]["extensions"]["code"] == ("BAD_REQUEST" if status == 400 else "FORBIDDEN")
    assert "pdfUrl" in body["errors"][0]["message"]


async def test_an_expired_link_says_so(stack) -> None:
    document_id = uuid.uuid4()
    path = signed_pdf_path(document_id, stack.secret_key, now=time.time() - 7200)
    async with aiohttp.ClientSession() as http, http.get(f"{stack.api_url}{path}") as response:
        assert response.status == 403
        assert "expired" in (await response.json())["errors"][0]["message"]
    fresh = signed_pdf_path(document_id, stack.secret_key)
    async with aiohttp.ClientSession() as http, http.get(f"{stack.api_url}{fresh}") as response:
        assert response.status == 404  # a good link to a document that does not exist
