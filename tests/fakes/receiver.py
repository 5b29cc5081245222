"""A local HTTP receiver for webhooks (ours to providers' fakes, or outbound ones): records what arrives."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.server import FakeServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class WebhookReceiver:
    """Answers every POST with `status` (after `delay` seconds) and keeps what it received."""

    status: int = 200
    delay: float = 0.0
    reply: bytes = b"ok"
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._arrived = asyncio.Condition()
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = FakeServer(app)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self._arrived:
            self.received.append(Received(request.path, dict(request.headers), body))
            self._arrived.notify_all()
        if self.delay:  # a slow receiver, let go at once when the test ends
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.delay)
        return web.Response(status=self.status, body=self.reply)

    async def wait_for(self, predicate: Callable[[Received], bool] = lambda r: True, within: float = 5.0) -> Received:
        """The first received request matching `predicate`, waiting up to `within` seconds for it."""

        def found() -> Received | None:
            return next((r for r in self.received if predicate(r)), None)

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: found() is not None), within)
        hit = found()
        assert hit is not None
        return hit

    async def __aenter__(self) -> WebhookReceiver:
        self.url = await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        await self._server.stop()
