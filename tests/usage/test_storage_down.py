"""503 means storage is really unavailable, and then nothing of the request was accepted; when the database
is back, ingestion resumes without a restart.

The database is taken away from one API process of its own only: it reaches PostgreSQL through a TCP
relay in this test, which the test cuts (every open connection dropped, new ones closed at once) and
restores. The shared test stack never loses its database.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
import pytest

from db.usage_writer import EventRow, UsageWriter, WriterUnavailable
from tests.client import Api
from tests.graph.catalog_helpers import USAGE, customer, metric, plan, subscribe
from tests.usage.test_crash import _free_port, _start


class Relay:
    """A TCP relay to PostgreSQL that can be cut and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut = False
        self.pipes: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.pipes |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.pipes -= {writer, up_writer}

    def take_down(self) -> None:
        self.cut = True
        for pipe in list(self.pipes):
            pipe.transport.abort()

    def bring_back(self) -> None:
        self.cut = False

    async def stop(self) -> None:
        self.take_down()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def _batch(customer_id: str, metric_code: str, name: str) -> bytes:
    return orjson.dumps([{"transactionId": f"{name}-{i}", "customerExternalId": customer_id,
                          "metricCode": metric_code, "properties": {"value": 1}} for i in range(50)])


async def test_503_with_retry_after_only_while_the_database_is_down_and_nothing_of_it_is_kept(
    stack, tenant, tmp_path
) -> None:
    parts = urlsplit(stack.database_url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    relay_port = await relay.start()
    netloc = f"{parts.username}@127.0.0.1:{relay_port}" if parts.username else f"127.0.0.1:{relay_port}"
    env = {**stack.env, "DATABASE_URL": urlunsplit(parts._replace(netloc=netloc))}
    port = _free_port()
    server = await asyncio.to_thread(_start, SimpleNamespace(env=env), port, (tmp_path / "api.log").open("w"))
    url = f"http://127.0.0.1:{port}"
    api = Api(f"{url}/graphql", tenant.api_key)
    headers = {"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"}
    try:
        await metric(api, "down_units", "SUM", "value")
        await plan(api, "down-plan", [{"billableMetricCode": "down_units", "model": "STANDARD",
                                       "properties": {"amount": "1"}}])
        await customer(api, "down-customer")
        await subscribe(api, "down-customer", "down-plan", "down-sub")
        async with aiohttp.ClientSession() as http:

            async def post(body: bytes) -> tuple[int, dict, dict]:
                async with http.post(f"{url}/v1/events", data=body, headers=headers) as response:
                    return response.status, dict(response.headers), await response.json()

            status, _, answer = await post(_batch("down-customer", "down_units", "before"))
            assert status == 200 and answer["accepted"] == 50, answer

            relay.take_down()
            for attempt in ("during-a", "during-b"):
                status, response_headers, answer = await post(_batch("down-customer", "down_units", attempt))
                assert status == 503, answer
                assert answer["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                assert int(response_headers["Retry-After"]) >= 1

            relay.bring_back()
            for attempt in ("during-a", "during-b"):  # the client retries: nothing of it had been kept
                status, _, answer = await post(_batch("down-customer", "down_units", attempt))
                assert status == 200 and answer == {"accepted": 50, "duplicates": 0, "rejected": []}, answer
        assert (await api(USAGE, c="down-customer"))["customerUsage"]["charges"][0]["units"] == "150"
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 30)
        await relay.stop()


async def test_the_writer_fails_a_batch_as_unavailable_only_when_the_database_is_gone(stack, tenant) -> None:
    """The group-commit writer itself (what answers 503 when a write, not a read, meets the outage)."""
    parts = urlsplit(stack.database_url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    relay_port = await relay.start()
    netloc = f"{parts.username}@127.0.0.1:{relay_port}" if parts.username else f"127.0.0.1:{relay_port}"
    writer = UsageWriter(urlunsplit(parts._replace(netloc=netloc)))
    await writer.start()
    now = datetime.now(UTC)

    def rows(name: str) -> list[EventRow]:
        return [EventRow(uuid.UUID(tenant.organization_id), f"{name}-{i}", "writer-customer", None, "writer_units",
                         now, '{"value": 1}', None, "", now) for i in range(20)]

    try:
        assert len(await writer.write(rows("up"))) == 20
        relay.take_down()
        with pytest.raises(WriterUnavailable):
            await writer.store(rows("down"))
        relay.bring_back()
        stored = await writer.store(rows("down"))  # nothing of the failed batch had been kept
        assert len(stored.inserted) == 20 and stored.refused == {}
    finally:
        await writer.stop()
        await relay.stop()
