"""Durable on ack: a server killed with SIGKILL mid-load loses no acknowledged event and counts none twice."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import aiohttp
import asyncpg
import orjson
import psutil

from tests.client import Api
from tests.graph.catalog_helpers import USAGE, customer, metric, plan, subscribe
from tests.stack import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(stack, port: int, log) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "valueverse.cli", "serve", "--no-worker", "--port", str(port)],
                               env=stack.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return process
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")


def _batch(customer_id: str, metric_code: str, n: int, size: int) -> list[dict]:
    return [{"transactionId": f"crash-{n}-{i}", "customerExternalId": customer_id, "metricCode": metric_code,
             "properties": {"value": 1}} for i in range(size)]


async def test_acked_events_survive_kill_9_exactly_once(stack, tenant, tmp_path) -> None:
    port = _free_port()
    server = _start(stack, port, (tmp_path / "crash.log").open("w"))
    url = f"http://127.0.0.1:{port}"
    api = Api(f"{url}/graphql", tenant.api_key)
    await metric(api, "crash_units", "SUM", "value")
    await plan(api, "crash-plan", [{"billableMetricCode": "crash_units", "model": "STANDARD",
                                    "properties": {"amount": "1"}}])
    await customer(api, "crash-customer")
    await subscribe(api, "crash-customer", "crash-plan", "crash-sub")
    batches = [_batch("crash-customer", "crash_units", n, 200) for n in range(400)]
    acked: set[str] = set()
    headers = {"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"}
    killed, enough = asyncio.Event(), asyncio.Event()

    async def sender(worker: int) -> None:
        async with aiohttp.ClientSession() as http:
            for n in range(worker, len(batches), 4):
                try:
                    async with http.post(f"{url}/v1/events", data=orjson.dumps(batches[n]), headers=headers) as r:
                        answer = await r.json()
                except (TimeoutError, aiohttp.ClientError):
                    return  # the server is gone
                assert r.status == 200 and answer["accepted"] == 200, answer
                acked.update(e["transactionId"] for e in batches[n])
                if len(acked) >= 4_000:  # mid-load: some batches acked, others in flight
                    enough.set()
                if killed.is_set():
                    return

    async def killer() -> None:
        await enough.wait()
        # The whole API at once: `serve` and the API processes it runs (WEB_CONCURRENCY), mid-write.
        for process in [*psutil.Process(server.pid).children(recursive=True), psutil.Process(server.pid)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        killed.set()

    await asyncio.wait_for(asyncio.gather(killer(), *[sender(w) for w in range(4)]), timeout=120)
    server.wait(timeout=30)
    assert server.returncode == -signal.SIGKILL
    assert 4_000 <= len(acked) < 80_000

    conn = await asyncpg.connect(stack.database_url)
    try:
        stored = {r["transaction_id"] for r in await conn.fetch(
            "SELECT transaction_id FROM usage_event_keys WHERE organization_id = $1::uuid", tenant.organization_id)}
        events = await conn.fetchval("SELECT count(*) FROM usage_events WHERE organization_id = $1::uuid",
                                     tenant.organization_id)
    finally:
        await conn.close()
    assert acked <= stored  # every acknowledged event survived
    assert events == len(stored)  # and each stored event once, with its key

    server = _start(stack, port, (tmp_path / "restart.log").open("w"))
    try:
        async with aiohttp.ClientSession() as http:  # the sender retries everything after the crash
            accepted = duplicates = 0
            for batch in batches:
                async with http.post(f"{url}/v1/events", data=orjson.dumps(batch), headers=headers) as r:
                    answer = await r.json()
                accepted += answer["accepted"]
                duplicates += answer["duplicates"]
        assert duplicates == len(stored) and accepted + duplicates == 80_000
        usage = (await api(USAGE, c="crash-customer"))["customerUsage"]
        assert usage["charges"][0]["units"] == "80000"
    finally:
        server.terminate()
        server.wait(timeout=30)
