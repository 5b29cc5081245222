"""One tenant's bad events never fail another tenant, nor the valid events beside them (docs/reliability.md).

Every bad event is rejected by itself with a code before it reaches the group commit that requests
of all organizations share; 503 means only that storage is unavailable.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import orjson
import pytest

from tests.db import execute, scalar
from tests.graph.catalog_helpers import INGEST, USAGE, customer, metric, plan, subscribe, uid
from tests.usage.helpers import post_events


async def _setup(api, prefix: str = "poison") -> tuple[str, str]:
    m = uid(prefix)
    await metric(api, m, "SUM", "value", filters=[{"key": "region", "values": ["eu", "us"]}])
    await plan(api, "p-" + m, [{"billableMetricCode": m, "model": "STANDARD", "properties": {"amount": "1"}}])
    await customer(api, "c-" + m)
    await subscribe(api, "c-" + m, "p-" + m, "s-" + m)
    return m, "c-" + m


def _event(m: str, c: str, tid: str, value: object = 1, **extra) -> dict:
    return {"transactionId": tid, "customerExternalId": c, "metricCode": m, "properties": {"value": value},
            **extra}


def _deep(depth: int) -> dict:
    node: dict = {"leaf": 1}
    for _ in range(depth - 1):
        node = {"n": node}
    return node


def _poisoned(m: str, c: str, prefix: str) -> tuple[list[dict], list[str]]:
    """A batch of bad events, each beside a valid one, and the code each bad one must get."""
    now = datetime.now(UTC)
    bad: list[tuple[dict, str]] = [
        (_event(m, c, f"{prefix}-exp", Decimal("1e999999")), "NUMBER_OUT_OF_RANGE"),
        ({**_event(m, c, f"{prefix}-exp-other"), "properties": {"value": 1, "id": Decimal("1e999999")}},
         "NUMBER_OUT_OF_RANGE"),
        (_event(m, c, f"{prefix}-digits", int("9" * 4000)), "NUMBER_OUT_OF_RANGE"),
        (_event(m, c, f"{prefix}-digit-text", "9" * 4000), "NUMBER_OUT_OF_RANGE"),
        (_event(m, c, f"{prefix}-places", Decimal("0.0000000000001")), "NUMBER_OUT_OF_RANGE"),
        (_event(m, c, f"{prefix}-nan", "NaN"), "INVALID_PROPERTY"),
        (_event(m, c, f"{prefix}-inf", "Infinity"), "INVALID_PROPERTY"),
        (_event(m, c, f"{prefix}-nul\x00id"), "INVALID_TRANSACTION_ID"),
        ({**_event(m, c, f"{prefix}-nul-key"), "properties": {"value": 1, "re\x00gion": "eu"}}, "INVALID_TEXT"),
        ({**_event(m, c, f"{prefix}-nul-value"), "properties": {"value": 1, "region": "e\x00u"}}, "INVALID_TEXT"),
        ({**_event(m, c, f"{prefix}-nul-customer"), "customerExternalId": c + "\x00"}, "CUSTOMER_NOT_FOUND"),
        ({**_event(m, c, f"{prefix}-long-customer"), "customerExternalId": "c" * 201}, "CUSTOMER_NOT_FOUND"),
        ({**_event(m, c, f"{prefix}-long-sub"), "subscriptionExternalId": "s" * 201}, "SUBSCRIPTION_NOT_FOUND"),
        ({**_event(m, c, f"{prefix}-nul-metric"), "metricCode": m + "\x00"}, "UNKNOWN_METRIC"),
        ({**_event(m, c, f"{prefix}-long-metric"), "metricCode": "m" * 5000}, "UNKNOWN_METRIC"),
        (_event(m, c, "t" * 201), "INVALID_TRANSACTION_ID"),
        ({**_event(m, c, f"{prefix}-deep"), "properties": {"value": 1, "tree": _deep(200)}}, "PROPERTIES_TOO_DEEP"),
        ({**_event(m, c, f"{prefix}-big"), "properties": {"value": 1, "blob": "x" * 9000}}, "PROPERTIES_TOO_LARGE"),
        (_event(m, c, f"{prefix}-ts-1e20", timestamp=10**20), "INVALID_TIMESTAMP"),
        (_event(m, c, f"{prefix}-ts-exp", timestamp=Decimal("1e999999")), "INVALID_TIMESTAMP"),
        (_event(m, c, f"{prefix}-ts-year", timestamp="10000-01-01T00:00:00Z"), "INVALID_TIMESTAMP"),
        (_event(m, c, f"{prefix}-ts-year-1", timestamp="0001-01-01T00:00:00+01:00"), "INVALID_TIMESTAMP"),
        (_event(m, c, f"{prefix}-ts-old", timestamp=(now - timedelta(days=36)).isoformat()), "TIMESTAMP_TOO_OLD"),
        (_event(m, c, f"{prefix}-ts-ahead", timestamp=(now + timedelta(minutes=6)).isoformat()),
         "TIMESTAMP_IN_FUTURE"),
    ]
    events, codes = [], []
    for n, (event, code) in enumerate(bad):
        events += [event, _event(m, c, f"{prefix}-ok-{n}", Decimal("0.5"), timestamp=int(now.timestamp()))]
        codes.append(code)
    return events, codes


def _json(events: list[dict]) -> bytes:
    """JSON with numbers written as they are (Decimal and huge ints included), as a sender writes them."""
    import msgspec

    return msgspec.json.Encoder(decimal_format="number").encode(events)


async def test_bad_events_are_rejected_by_themselves_with_codes_and_the_valid_ones_count(stack, tenant) -> None:
    m, c = await _setup(tenant.api)
    events, codes = _poisoned(m, c, "solo")
    status, answer = await post_events(stack, tenant.api_key, None, raw=_json(events))
    assert status == 200, answer
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(2 * n, code) for n, code in enumerate(codes)]
    assert all(r["message"] and len(r["message"]) < 400 for r in answer["rejected"])
    assert answer["accepted"] == len(codes) and answer["duplicates"] == 0
    assert answer["rejected"][0]["transactionId"] == "solo-exp"
    usage = (await tenant.api(USAGE, c=c))["customerUsage"]
    assert Decimal(usage["charges"][0]["units"]) == Decimal("0.5") * len(codes)
    again, replay = await post_events(stack, tenant.api_key, None, raw=_json(events))  # the same answer, replayed
    assert again == 200 and replay["duplicates"] == len(codes) and len(replay["rejected"]) == len(codes)


async def test_cloudevents_batches_are_checked_alike(stack, tenant) -> None:
    m, c = await _setup(tenant.api)
    now = datetime.now(UTC).isoformat()
    body = [{"specversion": "1.0", "id": f"ce-{i}", "source": "/t", "type": m, "subject": c, "time": now,
             "data": data} for i, data in enumerate([{"value": 2}, {"value": Decimal("1e999999")},
                                                     {"value": 1, "k": "\x00"}, {"value": 3}])]
    body.append({"specversion": "1.0", "id": "ce-ts", "type": m, "subject": c, "time": "+10000-01-01T00:00:00Z",
                 "data": {"value": 1}})
    status, answer = await post_events(stack, tenant.api_key, None, raw=_json(body),
                                       content_type="application/cloudevents-batch+json")
    assert status == 200, answer
    assert answer["accepted"] == 2
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [
        (1, "NUMBER_OUT_OF_RANGE"), (2, "INVALID_TEXT"), (4, "INVALID_TIMESTAMP")]
    assert (await tenant.api(USAGE, c=c))["customerUsage"]["charges"][0]["units"] == "5"


async def test_ingest_usage_checks_events_alike(stack, tenant) -> None:
    m, c = await _setup(tenant.api)
    events = [
        _event(m, c, "gql-ok", "1.5"),
        _event(m, c, "gql-nul\x00"),
        _event(m, c, "gql-exp", "1e999999"),
        {**_event(m, c, "gql-digits"), "properties": {"value": int("9" * 4000)}},
        {**_event(m, c, "gql-nul-value"), "properties": {"value": 1, "region": "\x00"}},
        # Deeper than an event's properties may nest, within what a /graphql body may nest (64).
        {**_event(m, c, "gql-deep"), "properties": {"value": 1, "tree": _deep(30)}},
        {**_event(m, c, "gql-customer"), "customerExternalId": "x\x00" * 150},
        {**_event(m, c, "gql-year"), "timestamp": "0001-01-01T00:00:00+01:00"},
    ]
    result = (await tenant.api(INGEST, input={"events": events}))["ingestUsage"]
    assert result["accepted"] == 1 and result["userErrors"] == []
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (1, "INVALID_TRANSACTION_ID"), (2, "NUMBER_OUT_OF_RANGE"), (3, "NUMBER_OUT_OF_RANGE"), (4, "INVALID_TEXT"),
        (5, "PROPERTIES_TOO_DEEP"), (6, "CUSTOMER_NOT_FOUND"), (7, "INVALID_TIMESTAMP")]
    assert (await tenant.api(USAGE, c=c))["customerUsage"]["charges"][0]["units"] == "1.5"


async def test_one_tenants_poison_never_fails_another_tenants_clean_batches(stack, tenant, other_tenant) -> None:
    """Poisoned batches of one organization, sent concurrently with clean ones of another, share group commits:
    the clean organization never gets a 503 and every one of its events counts."""
    bad_metric, bad_customer = await _setup(tenant.api, "bad")
    good_metric, good_customer = await _setup(other_tenant.api, "good")
    headers = {"Content-Type": "application/json"}
    poisoned = [_poisoned(bad_metric, bad_customer, f"p{n}") for n in range(12)]
    clean = [[_event(good_metric, good_customer, f"clean-{n}-{i}", 1) for i in range(200)] for n in range(24)]

    async def send(http, key: str, body: bytes) -> tuple[int, dict]:
        async with http.post(f"{stack.api_url}/v1/events", data=body,
                             headers={**headers, "Authorization": f"Bearer {key}"}) as response:
            return response.status, await response.json()

    async with aiohttp.ClientSession() as http:
        sends = [send(http, other_tenant.api_key, _json(b)) for b in clean]
        sends += [send(http, tenant.api_key, _json(events)) for events, _ in poisoned]
        answers = await asyncio.gather(*sends)
    for status, answer in answers[: len(clean)]:
        assert status == 200 and answer == {"accepted": 200, "duplicates": 0, "rejected": []}, answer
    for (status, answer), (_, codes) in zip(answers[len(clean):], poisoned, strict=True):
        assert status == 200, answer
        assert [r["code"] for r in answer["rejected"]] == codes and answer["accepted"] == len(codes)
    good = (await other_tenant.api(USAGE, c=good_customer))["customerUsage"]
    assert good["charges"][0]["units"] == str(200 * len(clean))
    bad = (await tenant.api(USAGE, c=bad_customer))["customerUsage"]
    assert Decimal(bad["charges"][0]["units"]) == Decimal("0.5") * sum(len(codes) for _, codes in poisoned)


@pytest.mark.parametrize(("raw", "needle"), [
    (b'[{"transactionId": "\xff"}]', "UTF-8"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b'[{"transactionId": "a", "properties": {"v": ' + b"[" * 3000 + b"]" * 3000 + b"}}]", "nested too deeply"),
    (b'[{"transactionId": "a", "properties": {"v": 1' + b"0" * 5000 + b"}}]", "not JSON"),
    (b'[{"transactionId": "\\ud800"}]', "not JSON"),
])
async def test_bodies_that_cannot_be_read_are_400_with_a_reason(stack, tenant, raw, needle) -> None:
    status, answer = await post_events(stack, tenant.api_key, None, raw=raw)
    assert status == 400 and answer["errors"][0]["extensions"]["code"] == "INVALID_JSON"
    assert needle in answer["errors"][0]["message"]


async def test_an_exponent_no_decimal_can_hold_is_rejected_by_itself(stack, tenant) -> None:
    m, c = await _setup(tenant.api)
    raw = (f'[{{"transactionId": "e1", "customerExternalId": "{c}", "metricCode": "{m}", '
           f'"properties": {{"value": 1e99999999999999999999}}}}, '
           f'{{"transactionId": "e2", "customerExternalId": "{c}", "metricCode": "{m}", '
           f'"timestamp": 1e99999999999999999999, "properties": {{"value": 1}}}}, '
           f'{{"transactionId": "e3", "customerExternalId": "{c}", "metricCode": "{m}", '
           f'"properties": {{"value": 2}}}}]').encode()
    status, answer = await post_events(stack, tenant.api_key, None, raw=raw)
    assert status == 200 and answer["accepted"] == 1, answer
    assert [r["code"] for r in answer["rejected"]] == ["NUMBER_OUT_OF_RANGE", "INVALID_TIMESTAMP"]


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    return int(head.split()[1]), orjson.loads(await reader.readexactly(length))


async def _raw_post(stack, key: str, headers: str, send_body) -> tuple[int, dict]:
    """POST /v1/events over a plain socket, so that the test decides how much of the body is ever sent;
    the answer is read while the body is being sent."""
    host, port = stack.api_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        answer = asyncio.create_task(_response(reader))
        writer.write((f"POST /v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
                      f"Content-Type: application/json\r\n{headers}\r\n").encode())
        await send_body(writer, answer)
        return await asyncio.wait_for(answer, timeout=30)
    finally:
        writer.close()


# How much the chunked client sends at most before giving up. The server answers once it has read 16 MiB; the
# client notices the answer only between writes, and loopback buffers let it push tens of MiB more meanwhile on
# a loaded machine (64 MiB was once not enough), so the ceiling is far above what the server reads.
CHUNKED_CEILING = 512 * 2**20


async def test_a_body_over_16_mib_is_refused_before_it_is_read_whole(stack, tenant) -> None:
    async def nothing_more(writer, answer) -> None:
        writer.write(b"[")  # and never the other 20 MiB that were announced

    status, answer = await _raw_post(stack, tenant.api_key, f"Content-Length: {20 * 2**20}\r\n", nothing_more)
    assert status == 413 and answer["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "16 MiB" in answer["errors"][0]["message"]

    sent = 0

    async def chunks_until_answered(writer, answer) -> None:  # no Content-Length: counted as it streams in
        nonlocal sent
        chunk = b" " * 2**20
        try:
            while sent < CHUNKED_CEILING and not answer.done():
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
        except ConnectionError:
            pass  # the server answered and closed: it read no further

    status, answer = await _raw_post(stack, tenant.api_key, "Transfer-Encoding: chunked\r\n", chunks_until_answered)
    assert status == 413 and answer["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert sent < CHUNKED_CEILING  # the body never ended (no last chunk): it was refused while it streamed


async def test_events_the_database_refuses_fail_alone_and_the_rest_of_the_group_commit_is_stored(
    stack, tenant, other_tenant
) -> None:
    """If PostgreSQL still refuses a row of a shared commit, the writer isolates it: only that event is
    rejected (STORAGE_REJECTED, not 503), every other request and event of the commit is stored."""
    bad_metric, bad_customer = await _setup(tenant.api, "refused")
    good_metric, good_customer = await _setup(other_tenant.api, "kept")
    # A rule only the database knows, standing for any refusal validation could not foresee.
    await execute(stack.database_url, "ALTER TABLE usage_events ADD CONSTRAINT test_refused_rows "
                                      "CHECK (transaction_id NOT LIKE 'refused-row-%')")
    try:
        mixed = [[_event(bad_metric, bad_customer, f"refused-row-{n}-{i}" if i % 97 == 5 else f"fine-{n}-{i}")
                  for i in range(300)] for n in range(6)]
        clean = [[_event(good_metric, good_customer, f"kept-{n}-{i}") for i in range(300)] for n in range(12)]

        async def send(api_key: str, events: list[dict]) -> tuple[int, dict]:
            return await post_events(stack, api_key, events)

        answers = await asyncio.gather(*[send(other_tenant.api_key, b) for b in clean],
                                       *[send(tenant.api_key, b) for b in mixed])
    finally:
        await execute(stack.database_url, "ALTER TABLE usage_events DROP CONSTRAINT test_refused_rows")
    for status, answer in answers[: len(clean)]:
        assert status == 200 and answer == {"accepted": 300, "duplicates": 0, "rejected": []}, answer
    refused = 0
    for status, answer in answers[len(clean):]:
        assert status == 200, answer
        assert {r["code"] for r in answer["rejected"]} == {"STORAGE_REJECTED"}
        assert all(r["transactionId"].startswith("refused-row-") for r in answer["rejected"])
        assert "SQLSTATE 23514" in answer["rejected"][0]["message"]
        assert answer["accepted"] + len(answer["rejected"]) == 300
        refused += len(answer["rejected"])
    assert refused == 6 * 4
    assert (await other_tenant.api(USAGE, c=good_customer))["customerUsage"]["charges"][0]["units"] == "3600"
    assert (await tenant.api(USAGE, c=bad_customer))["customerUsage"]["charges"][0]["units"] == str(1800 - 24)
    keys = await scalar(stack.database_url, "SELECT count(*) FROM usage_event_keys WHERE organization_id = $1::uuid",
                        tenant.organization_id)
    assert keys == 1800 - 24  # a refused event leaves no idempotency key: it can be sent again once fixed
