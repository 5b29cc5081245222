"""What the fake providers share: an in-process aiohttp server, injected faults, a request log, signed deliveries.

A fake runs in the test's own event loop on 127.0.0.1 and a free port (`async with
FakeServer(app) as server: server.url`), or as a process for manual use and benchmarks
(`python -m tests.fakes.stripe --port 12111`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """An id shaped like the providers' (`pi_3Nx…`): a prefix and random base62."""
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


@dataclass
class Fault:
    """One injected failure, taken by the next `count` matching requests.

    kinds: ``error`` answers `status` (500 by default) without doing anything; ``drop`` closes
    the connection without an answer before doing anything; ``drop_after`` does the work (and
    stores its idempotent result) and then closes the connection, as a response lost on the
    way back; ``delay`` waits `seconds` before handling the request; ``late_answer`` does the work (its
    events are sent at once, as Stripe sends them) and waits `seconds` before answering, so that the events
    reach their endpoint before the caller has the answer.
    """

    kind: str = "error"
    status: int = 500
    path_prefix: str = ""
    method: str | None = None
    count: int = 1
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and (self.method is None or self.method.upper() == method)


class Faults:
    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.pending.append(fault)

    def clear(self) -> None:
        self.pending.clear()

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.pending:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.pending.remove(fault)
                return fault
        return None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    params: Any
    idempotency_key: str | None
    status: int | None = None
    replayed: bool = False
    fault: str | None = None
    account: str | None = None
    at: float = field(default_factory=time.time)


@dataclass
class Delivery:
    event_id: str
    event_type: str
    url: str
    status: int | None
    error: str | None
    at: float = field(default_factory=time.time)


class WebhookDeliverer:
    """Posts signed event bodies to endpoints in the background; `drain()` waits until all were answered."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: ClientSession | None = None

    def send(self, *, url: str, body: bytes, headers: Mapping[str, str], event_id: str, event_type: str) -> None:
        task = asyncio.get_running_loop().create_task(self._post(url, body, dict(headers), event_id, event_type))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, body: bytes, headers: dict[str, str], event_id: str, event_type: str) -> None:
        if self._session is None or self._session.closed:
            self._session = ClientSession(timeout=ClientTimeout(total=self.timeout))
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                await response.read()
                self.deliveries.append(Delivery(event_id, event_type, url, response.status, None))
        except Exception as error:  # a receiver that is down is a delivery result, not a crash of the fake
            self.deliveries.append(Delivery(event_id, event_type, url, None, repr(error)))

    async def drain(self, within: float = 10.0) -> None:
        """Wait for every delivery started so far (and those they start) to be answered."""
        deadline = asyncio.get_running_loop().time() + within
        while self._tasks:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("webhook deliveries still pending")
            await asyncio.wait(set(self._tasks), timeout=left)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer: the client sees the network fail."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError  # aiohttp ends the handler quietly; nothing is written


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, indent=2).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def read_json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError as error:
        raise web.HTTPBadRequest(text=f"body is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


def fault_routes(faults: Faults, requests: list[RecordedRequest]) -> list[web.RouteDef]:
    """Control routes every fake has: faults and the request log."""

    async def add_fault(request: web.Request) -> web.Response:
        data = await read_json(request)
        known = {"kind", "status", "path_prefix", "method", "count", "seconds"}
        fault = Fault(**{k: v for k, v in data.items() if k in known})
        faults.add(fault)
        return json_response(asdict(fault), status=201)

    async def clear_faults(request: web.Request) -> web.Response:
        faults.clear()
        return json_response({"cleared": True})

    async def list_requests(request: web.Request) -> web.Response:
        prefix = request.query.get("path_prefix", "")
        return json_response([asdict(r) for r in requests if r.path.startswith(prefix)])

    return [
        web.post("/_control/faults", add_fault),
        web.delete("/_control/faults", clear_faults),
        web.get("/_control/requests", list_requests),
    ]


class FakeServer:
    """An aiohttp application served on 127.0.0.1 in the running loop."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class Fake:
    """Base of the fakes: state plus an aiohttp app, served with `start()` / `stop()` or `async with`."""

    name = "fake"

    def __init__(self) -> None:
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.deliverer = WebhookDeliverer()
        self.base_url = ""
        self._server: FakeServer | None = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = FakeServer(self.build_app(), host, port)
        self.base_url = await self._server.start()
        return self.base_url

    async def stop(self) -> None:
        await self.deliverer.close()
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def drain(self, within: float = 10.0) -> None:
        """Wait until every webhook sent so far was answered by its receiver."""
        await self.deliverer.drain(within)

    async def __aenter__(self) -> Fake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def run_cli(description: str, make: Callable[[argparse.Namespace], Fake], parser: argparse.ArgumentParser) -> None:
    """`python -m tests.fakes.<provider> --port N`: serve the fake until interrupted."""
    parser.description = description
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()

    async def main() -> None:
        fake = make(args)
        url = await fake.start(args.host, args.port)
        print(f"{description} listening on {url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await fake.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
