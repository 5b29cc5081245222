"""Redis comes and goes: the API starts and serves without it, and live pushes and jobs resume when it returns.

Each test runs a redis-server of its own (stopped and started again on the same port) under an API or a
worker process of its own, on the run's database."""

from __future__ import annotations

import asyncio
import time

from arq import create_pool
from arq.connections import RedisSettings
from gql import gql

from tests.client import Api, ws_client
from tests.graph.catalog_helpers import customer, metric, plan, subscribe, uid
from tests.ops.servers import RedisServer, api_process, post_events, until_ready, worker_process
from workers.settings import QUEUE_NAME

LIVE = """subscription($c: String!) { usageUpdated(customerExternalId: $c) { amount } }"""


async def _metered_customer(api: Api) -> tuple[str, str]:
    """A customer billed 2 per unit of a SUM metric: (metric code, customer external id)."""
    code = uid("outage")
    await metric(api, code, "SUM", "value")
    await plan(api, "p-" + code, [{"billableMetricCode": code, "model": "STANDARD", "properties": {"amount": "2"}}])
    await customer(api, "cust-" + code)
    await subscribe(api, "cust-" + code, "p-" + code, "sub-" + code)
    return code, "cust-" + code


async def _ingest(api_url: str, key: str, code: str, cust: str, value: int) -> None:
    started = time.monotonic()
    status, body = await post_events(api_url, key, [
        {"transactionId": uid("tx"), "customerExternalId": cust, "metricCode": code, "properties": {"value": value}}])
    assert (status, body.get("accepted")) == (200, 1), body
    assert time.monotonic() - started < 2  # Redis away or not, an ingest is not held up by it


async def _push_with_amount(stream, amount: str, within: float = 20) -> None:
    """Read pushes until one shows `amount` (an earlier push may show less)."""
    async with asyncio.timeout(within):
        while (await stream.__anext__())["usageUpdated"]["amount"] != amount:
            pass


def _live(cust: str):
    request = gql(LIVE)
    request.variable_values = {"c": cust}
    return request


async def test_live_pushes_resume_after_redis_restarts_under_a_running_api(stack, tenant, tmp_path) -> None:
    code, cust = await _metered_customer(tenant.api)
    with RedisServer(tmp_path / "redis") as redis, api_process(stack, tmp_path / "api.log", REDIS_URL=redis.url) as api:
        await until_ready(api, "ready")
        async with ws_client(api.replace("http://", "ws://") + "/graphql", tenant.api_key) as session:
            stream = session.subscribe(_live(cust)).__aiter__()
            await _push_with_amount(stream, "0.00")
            await _ingest(api, tenant.api_key, code, cust, 1)
            await _push_with_amount(stream, "2.00")

            redis.stop()
            body = await until_ready(api, "degraded")
            assert body["checks"]["database"] == "ok" and body["checks"]["redis"].startswith("unreachable")
            # Ingestion and mutations keep working while Redis is away: they are durable in PostgreSQL.
            await _ingest(api, tenant.api_key, code, cust, 2)
            created = await Api(f"{api}/graphql", tenant.api_key)(
                "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { userErrors { code } } }",
                i={"externalId": uid("during-outage"), "name": "During the outage"},
            )
            assert created["createCustomer"]["userErrors"] == []

            redis.start()  # the same port, no API restart
            await until_ready(api, "ready")
            # Once back, the subscription is told at once what was stored while Redis was away ...
            await _push_with_amount(stream, "6.00")
            # ... and new usage is pushed again.
            await _ingest(api, tenant.api_key, code, cust, 3)
            await _push_with_amount(stream, "12.00")
            await stream.aclose()
    log = (tmp_path / "api.log").read_text()
    assert "live hub lost Redis" in log and "live hub reconnected" in log
    assert "Traceback" not in log


async def test_the_api_starts_without_redis_and_goes_live_when_it_arrives(stack, tenant, tmp_path) -> None:
    code, cust = await _metered_customer(tenant.api)
    redis = RedisServer(tmp_path / "redis")  # nothing listens on its port yet
    try:
        with api_process(stack, tmp_path / "api.log", REDIS_URL=redis.url) as api:
            body = await until_ready(api, "degraded")
            assert body["checks"] == {"database": "ok", "redis": "unreachable: ConnectionError"}
            await _ingest(api, tenant.api_key, code, cust, 1)
            async with ws_client(api.replace("http://", "ws://") + "/graphql", tenant.api_key) as session:
                stream = session.subscribe(_live(cust)).__aiter__()
                await _push_with_amount(stream, "2.00")  # the first push is read, not published: it works at once
                redis.start()
                await until_ready(api, "ready")
                await _ingest(api, tenant.api_key, code, cust, 4)
                await _push_with_amount(stream, "10.00")
                await stream.aclose()
    finally:
        redis.stop()


async def _ping(redis_url: str) -> str:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        job = await pool.enqueue_job("ping", _queue_name=QUEUE_NAME)
        assert job is not None
        return await job.result(timeout=30)
    finally:
        await pool.aclose()


async def test_the_worker_rides_out_a_redis_restart(stack, tmp_path) -> None:
    log = tmp_path / "worker.log"
    with RedisServer(tmp_path / "redis") as redis, worker_process(stack, log, REDIS_URL=redis.url) as worker:
        assert await _ping(redis.url) == "pong"
        redis.stop()
        async with asyncio.timeout(30):
            while "starting again" not in log.read_text():
                assert worker.poll() is None, log.read_text()[-3000:]
                await asyncio.sleep(0.1)
        redis.start()
        assert await _ping(redis.url) == "pong"
        assert worker.poll() is None
        worker.terminate()
        assert worker.wait(timeout=20) == 0
    assert "Traceback" not in log.read_text()
