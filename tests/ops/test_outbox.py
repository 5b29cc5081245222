"""The outbox (db/outbox.py): jobs and live messages commit or roll back with their change, are dispatched at
once after COMMIT, and whatever could not be dispatched is sent by the worker's drain.

The module runs on servers of its own: a database of its own (created, migrated, dropped here: no other
worker drains its outbox), a redis-server of its own that a test stops and starts again, and a real worker
process on both. Use cases run in this process, through a `Database` wired as the API wires its own."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis
from arq.connections import ArqRedis
from arq.jobs import Job, JobStatus

from db import outbox
from db.migrate import upgrade
from db.session import Database
from integrations.jobs import QUEUE_NAME, JobQueue
from integrations.pubsub import RedisPublisher
from services.actors import Actor, system_actor
from services.audit import audit_channel
from services.customers import CustomerFields, create_customer
from services.errors import AlreadyExists
from services.organizations import create_organization
from tests.client import Api
from tests.ops.servers import RedisServer, api_process, until_ready, worker_process
from tests.stack import Stack


@dataclass
class Servers:
    database_url: str
    redis: RedisServer
    worker_log: Path


async def _sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def servers(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    directory = tmp_path_factory.mktemp("outbox")
    admin_url = stack.database_url.rsplit("/", 1)[0] + "/postgres"
    name = f"vv_test_outbox_{secrets.token_hex(4)}"
    asyncio.run(_sql(admin_url, f'CREATE DATABASE "{name}"'))
    database_url = stack.database_url.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(database_url)
        log = directory / "worker.log"
        with RedisServer(directory / "redis") as redis, worker_process(
            stack, log, DATABASE_URL=database_url, REDIS_URL=redis.url
        ):
            yield Servers(database_url, redis, log)
    finally:
        asyncio.run(_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def db(servers: Servers) -> AsyncIterator[Database]:
    """A database as the API builds its own: publishing and queueing on the module's Redis."""
    publish, enqueue = RedisPublisher(servers.redis.url), JobQueue(servers.redis.url)
    database = Database(servers.database_url, pool_size=2, publish=publish, enqueue=enqueue)
    yield database
    await database.dispose()
    await publish.close()
    await enqueue.close()


@pytest.fixture
async def actor(db: Database) -> Actor:
    async with db.unit_of_work() as uow:
        created = await create_organization(uow, name="Outbox Ltd")
    return system_actor(created.organization.id)


@pytest.fixture
async def arq_redis(servers: Servers) -> AsyncIterator[ArqRedis]:
    client = ArqRedis.from_url(servers.redis.url)
    yield client
    await client.aclose()


def _job(job_id: str, redis: ArqRedis) -> Job:
    return Job(job_id, redis, _queue_name=QUEUE_NAME)


async def _result_once_queued(job: Job, within: float = 60) -> object:
    """The job's result, waiting (bounded) for someone to queue it first."""
    async def queued() -> bool:
        return await job.status() != JobStatus.not_found

    await _until(queued, within)
    return await job.result(timeout=within)


async def _value(url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _rows_naming(url: str, text: str) -> list[asyncpg.Record]:
    """The outbox rows whose jobs or messages mention `text`."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            "SELECT id, dispatched_at FROM outbox WHERE strpos(jobs::text || messages::text, $1) > 0 ORDER BY id", text
        )
    finally:
        await conn.close()


async def _rows_with_message(url: str, channel: str, message: bytes) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            "SELECT id, dispatched_at FROM outbox WHERE messages @> $1::jsonb ORDER BY id",
            orjson.dumps([[channel, message.decode()]]).decode(),
        )
    finally:
        await conn.close()


def _entry_message(entry_id: object) -> bytes:
    return orjson.dumps({"id": entry_id})


async def _customers(url: str, external_id: str) -> object:
    return await _value(url, "SELECT count(*) FROM customers WHERE external_id = $1", external_id)


async def _until(condition, within: float = 30) -> None:
    """Poll `condition` until it holds (a bounded wait, not a sleep)."""
    async with asyncio.timeout(within):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _listening(url: str, channel: str) -> AsyncIterator[aioredis.client.PubSub]:
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
    try:
        yield pubsub
    finally:
        await pubsub.aclose()
        await client.aclose()


async def _next_message(pubsub: aioredis.client.PubSub, within: float = 30) -> bytes:
    async with asyncio.timeout(within):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=within)
            if message is not None:
                return message["data"]


async def test_a_rolled_back_use_case_enqueues_nothing_and_publishes_nothing(db, actor, servers, arq_redis) -> None:
    channel, job_id, cust = f"test.outbox.{uuid.uuid4()}", f"ping:rolled-back:{uuid.uuid4()}", f"c-{uuid.uuid4()}"
    async with _listening(servers.redis.url, channel) as heard:
        with pytest.raises(AlreadyExists):
            async with db.unit_of_work() as uow:
                await create_customer(uow, actor, cust, CustomerFields())
                uow.enqueue_after_commit("ping", job_id=job_id)
                uow.publish_after_commit(channel, b'{"rolled": "back"}')
                await create_customer(uow, actor, cust, CustomerFields())  # the use case fails: all of it goes
        # A committed transaction after it, on the same channel and queue: had anything gone out before it,
        # it would arrive first.
        fence_job = f"ping:fence:{uuid.uuid4()}"
        async with db.unit_of_work() as uow:
            uow.enqueue_after_commit("ping", job_id=fence_job)
            uow.publish_after_commit(channel, b'{"fence": true}')
        assert await _next_message(heard) == b'{"fence": true}'
    assert await _job(fence_job, arq_redis).result(timeout=30) == "pong"
    assert await _job(job_id, arq_redis).status() == JobStatus.not_found
    assert await _rows_naming(servers.database_url, job_id) == []
    assert await _customers(servers.database_url, cust) == 0


REFUSE_AT_COMMIT = """
CREATE OR REPLACE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.external_id LIKE 'refused-at-commit-%' THEN RAISE EXCEPTION 'refused at commit'; END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS refuse_at_commit ON customers;
CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON customers DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION refuse_at_commit();
"""


async def test_the_outbox_row_and_its_change_commit_together(db, actor, servers, arq_redis) -> None:
    cust, job_id = f"c-{uuid.uuid4()}", f"ping:committed:{uuid.uuid4()}"
    async with db.unit_of_work() as uow:
        customer = await create_customer(uow, actor, cust, CustomerFields())
        uow.enqueue_after_commit("ping", job_id=job_id)
    assert await _customers(servers.database_url, cust) == 1
    [row] = await _rows_naming(servers.database_url, job_id)
    assert await _job(job_id, arq_redis).status() != JobStatus.not_found  # queued at once, by this process

    async def marked() -> bool:  # a moment after COMMIT, well before the drain would look at it
        [again] = await _rows_naming(servers.database_url, job_id)
        return again["dispatched_at"] is not None

    await _until(marked, within=outbox.GRACE.total_seconds())
    # The same row carries the audit entry's live message (written by the audit seal, just before COMMIT).
    entry = await _value(servers.database_url, "SELECT id FROM audit_entries WHERE target_id = $1", str(customer.id))
    channel = audit_channel(actor.organization_id)
    assert [r["id"] for r in await _rows_with_message(servers.database_url, channel, _entry_message(entry))] == [
        row["id"]
    ]
    assert await _job(job_id, arq_redis).result(timeout=30) == "pong"

    # A transaction that fails at COMMIT itself, after its outbox row was written (a deferred constraint of
    # this module's own database): the row goes with the change, and nothing is sent.
    await _sql(servers.database_url, REFUSE_AT_COMMIT)
    refused, refused_job = f"refused-at-commit-{uuid.uuid4()}", f"ping:refused:{uuid.uuid4()}"
    async with _listening(servers.redis.url, channel) as heard:
        with pytest.raises(Exception, match="refused at commit"):
            async with db.unit_of_work() as uow:
                await create_customer(uow, actor, refused, CustomerFields())
                uow.enqueue_after_commit("ping", job_id=refused_job)
        assert await _customers(servers.database_url, refused) == 0
        assert await _rows_naming(servers.database_url, refused_job) == []
        async with db.unit_of_work() as uow:  # the fence: the next message on the channel is this one's
            fence = await create_customer(uow, actor, f"c-{uuid.uuid4()}", CustomerFields())
        fence_entry = await _value(
            servers.database_url, "SELECT id FROM audit_entries WHERE target_id = $1", str(fence.id)
        )
        assert await _next_message(heard) == _entry_message(fence_entry)
    assert await _job(refused_job, arq_redis).status() == JobStatus.not_found


async def test_a_change_committed_while_redis_is_away_is_dispatched_by_the_drain_when_it_returns(
    stack, db, actor, servers, arq_redis, tmp_path
) -> None:
    async with db.unit_of_work() as uow:
        created_org = await create_organization(uow, name="Outage Ltd")
    key, org = created_org.api_key.secret, created_org.organization.id
    with api_process(
        stack, tmp_path / "api.log", DATABASE_URL=servers.database_url, REDIS_URL=servers.redis.url,
        WEB_CONCURRENCY="1",
    ) as api:
        await until_ready(api, "ready")
        servers.redis.stop()
        try:
            await until_ready(api, "degraded")
            cust, job_id = f"c-{uuid.uuid4()}", f"ping:outage:{uuid.uuid4()}"
            async with db.unit_of_work() as uow:
                await create_customer(uow, actor, cust, CustomerFields())
                uow.enqueue_after_commit("ping", job_id=job_id)
            [job_row] = await _rows_naming(servers.database_url, job_id)
            assert job_row["dispatched_at"] is None  # committed, not sent: Redis is away
            # A mutation through the API while Redis is away: committed, its audit message waits in the outbox.
            api_cust = f"api-{uuid.uuid4()}"
            created = await Api(f"{api}/graphql", key)(
                "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { userErrors { code } } }",
                i={"externalId": api_cust, "name": "During the outage"},
            )
            committed = time.monotonic()
            assert created["createCustomer"]["userErrors"] == []
            entry = await _value(
                servers.database_url,
                "SELECT id FROM audit_entries WHERE action = 'customer.created' AND organization_id = $1",
                org,
            )
            [api_row] = await _rows_with_message(servers.database_url, audit_channel(org), _entry_message(entry))
            assert api_row["dispatched_at"] is None
        finally:
            servers.redis.start()  # the same port; the worker and the API ride it out
        async with _listening(servers.redis.url, audit_channel(org)) as heard:
            # The drain leaves rows younger than its grace to their own process: listening in time is ours to do.
            assert time.monotonic() - committed < outbox.GRACE.total_seconds()
            assert await _result_once_queued(_job(job_id, arq_redis)) == "pong"  # the job was not lost
            assert await _next_message(heard, within=60) == _entry_message(entry)

        async def both_dispatched() -> bool:
            rows = await _rows_naming(servers.database_url, job_id) + await _rows_with_message(
                servers.database_url, audit_channel(org), _entry_message(entry)
            )
            return len(rows) == 2 and all(r["dispatched_at"] is not None for r in rows)

        await _until(both_dispatched)
    assert "outbox drained" in servers.worker_log.read_text()
    assert "Traceback" not in (tmp_path / "api.log").read_text()


async def test_a_row_dispatched_twice_runs_its_job_once(db, servers, arq_redis) -> None:
    job_id = f"ping:twice:{uuid.uuid4()}"
    async with db.unit_of_work() as uow:
        uow.enqueue_after_commit("ping", job_id=job_id)
    job = _job(job_id, arq_redis)
    assert await job.result(timeout=30) == "pong"
    first = await job.result_info()
    [row] = await _rows_naming(servers.database_url, job_id)
    # As if the process had died after queueing the job and before marking the row: the drain sends it again.
    drained_before = servers.worker_log.read_text().count("outbox drained")
    await _sql(
        servers.database_url,
        f"UPDATE outbox SET dispatched_at = NULL, created_at = created_at - interval '1 minute' WHERE id = {row['id']}",
    )

    async def dispatched_again() -> bool:
        [again] = await _rows_naming(servers.database_url, job_id)
        return again["dispatched_at"] is not None

    await _until(dispatched_again)
    assert servers.worker_log.read_text().count("outbox drained") > drained_before
    assert await job.status() == JobStatus.complete
    again = await job.result_info()
    assert (again.job_try, again.start_time, again.finish_time) == (first.job_try, first.start_time, first.finish_time)
    assert first.job_try == 1
    assert await arq_redis.zscore(QUEUE_NAME, job_id) is None  # not queued again


async def test_old_dispatched_rows_are_pruned_by_the_worker(db, servers) -> None:
    job_id = f"ping:old:{uuid.uuid4()}"
    async with db.unit_of_work() as uow:
        uow.enqueue_after_commit("ping", job_id=job_id)
    [row] = await _rows_naming(servers.database_url, job_id)
    await _sql(servers.database_url, f"UPDATE outbox SET created_at = now() - interval '2 days' WHERE id = {row['id']}")

    async def pruned() -> bool:
        return await _rows_naming(servers.database_url, job_id) == []

    await _until(pruned)
    log = servers.worker_log.read_text()
    assert "drain failed" not in log and "Traceback" not in log


async def test_a_job_argument_that_is_not_json_is_refused_when_enqueued(db) -> None:
    with pytest.raises(TypeError, match="JSON value"):
        async with db.unit_of_work() as uow:
            uow.enqueue_after_commit("bill_customer", uuid.uuid4(), job_id="bill_customer:x")


async def test_the_api_reports_the_outbox_backlog(stack) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(
        f"{stack.api_url}/metrics", headers={"Authorization": f"Bearer {stack.env['METRICS_TOKEN']}"}
    ) as response:
        body = await response.text()
    assert response.status == 200
    assert "valueverse_outbox_backlog" in body and "valueverse_outbox_oldest_seconds" in body
