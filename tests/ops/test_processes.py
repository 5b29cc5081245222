"""`serve` runs WEB_CONCURRENCY API processes on one port (the test stack runs two): each answers, /metrics
counts for all of them whichever answers, and a process that stops answering holds up no other."""

from __future__ import annotations

import asyncio
import secrets
import signal

import psutil

from tests.pinned import PinnedClient, api_processes, clients_in_two_processes
from tests.stack import Stack


def _count(metrics: str, operation: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("valueverse_graphql_operations_total{") and f'operation="{operation}"' in line
    )


async def test_two_api_processes_answer_on_one_port(stack: Stack, tenant) -> None:
    processes = api_processes(stack)
    assert len(processes) == 2
    async with clients_in_two_processes(stack, tenant.api_key) as (first, second):
        assert {first.pid, second.pid} == {p.pid for p in processes}
        for client in (first, second):
            assert (await client.graphql("{ viewer { name } }"))["viewer"]["name"]


async def test_metrics_count_the_requests_of_every_process(stack: Stack, tenant) -> None:
    operation = f"Probe{secrets.token_hex(4)}"
    async with clients_in_two_processes(stack, tenant.api_key) as (first, second):
        for _ in range(3):
            await first.graphql(f"query {operation} {{ viewer {{ name }} }}")
        for _ in range(2):
            await second.graphql(f"query {operation} {{ viewer {{ name }} }}")
        for client in (first, second):
            async with client.http.get(f"{stack.api_url}/metrics",
                                       headers={"Authorization": f"Bearer {stack.env['METRICS_TOKEN']}"}) as response:
                assert response.status == 200
                assert _count(await response.text(), operation) == 5


async def test_a_stalled_process_holds_up_no_other(stack: Stack, tenant) -> None:
    async with clients_in_two_processes(stack, tenant.api_key) as (stalled, other):
        process = psutil.Process(stalled.pid)
        process.send_signal(signal.SIGSTOP)  # as if one request kept its event loop busy for good
        try:
            async with asyncio.timeout(10):
                assert (await other.graphql("{ viewer { name } }"))["viewer"]["name"]
                for _ in range(5):  # new connections go to the process that accepts them
                    fresh = PinnedClient(stack, tenant.api_key)
                    try:
                        status, _ = await fresh.request("GET", "/healthz")
                        assert status == 200 and fresh.pid == other.pid
                    finally:
                        await fresh.close()
        finally:
            process.send_signal(signal.SIGCONT)
        assert (await stalled.graphql("{ viewer { name } }"))["viewer"]["name"]
