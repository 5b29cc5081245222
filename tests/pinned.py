"""Clients whose requests all go to one chosen API process of the stack.

`serve` runs several API processes on one listening socket; which one takes a new connection is the
kernel's choice. A keep-alive connection stays with the process that accepted it, so a client with
exactly one connection talks to one process, and the server side of that connection (found with psutil
by the client's port) tells which.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import psutil

from tests.stack import Stack, _free_port


def api_processes(stack: Stack) -> list[psutil.Process]:
    """The API processes serving the stack's port (the children uvicorn spawned), waiting for them to start."""
    parent = psutil.Process(stack.processes[0].pid)
    deadline = time.monotonic() + 30
    while True:
        children = [p for p in parent.children() if "multiprocessing.spawn" in " ".join(p.cmdline())]
        if children or time.monotonic() > deadline:
            return children or [parent]
        time.sleep(0.05)


def _serving_pid(processes: list[psutil.Process], client_port: int) -> int | None:
    for process in processes:
        for conn in process.net_connections(kind="tcp"):
            if conn.raddr and conn.raddr.port == client_port and conn.status == psutil.CONN_ESTABLISHED:
                return process.pid
    return None


class PinnedClient:
    """One keep-alive connection, hence one API process (`pid`); every request checks it is still that one."""

    def __init__(self, stack: Stack, token: str | None) -> None:
        self.stack, self.token = stack, token
        # Our own local port: the server side of the connection is the process with a socket to it.
        self.port = _free_port()
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, local_addr=("127.0.0.1", self.port)))
        self.pid: int | None = None
        self._processes = api_processes(stack)

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = orjson.dumps(body) if body is not None else None
        async with self.http.request(method, self.stack.api_url + path, data=data, headers=headers) as response:
            payload = await response.read()
        pid = _serving_pid(self._processes, self.port)
        assert pid is not None, "the connection is served by none of the API processes"
        if self.pid is None:
            self.pid = pid
        assert pid == self.pid, f"the connection moved from process {self.pid} to {pid}"
        return response.status, orjson.loads(payload) if payload else None

    async def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        status, payload = await self.request("POST", "/graphql", {"query": query, "variables": variables})
        assert status == 200 and not payload.get("errors"), payload
        return payload["data"]

    async def close(self) -> None:
        await self.http.close()


@asynccontextmanager
async def clients_in_two_processes(stack: Stack, token: str | None) -> AsyncIterator[tuple[PinnedClient, PinnedClient]]:
    """Two clients served by two different API processes (new connections until the kernel gave us both)."""
    opened: list[PinnedClient] = []
    try:
        by_pid: dict[int, PinnedClient] = {}
        deadline = time.monotonic() + 30
        while len(by_pid) < 2:
            assert time.monotonic() < deadline, f"every connection went to the same process: {list(by_pid)}"
            client = PinnedClient(stack, token)
            opened.append(client)
            await client.request("GET", "/healthz")
            assert client.pid is not None
            by_pid.setdefault(client.pid, client)
        first, second = by_pid.values()
        yield first, second
    finally:
        for client in opened:
            await client.close()
