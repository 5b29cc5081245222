"""A GraphQL client for tests: the gql library over HTTP and graphql-transport-ws."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

__all__ = ["Api", "LiveSubscription", "TransportQueryError", "ws_client"]


class Api:
    """`await api(query, **variables)` returns `data`; GraphQL errors raise TransportQueryError."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        transport = AIOHTTPTransport(url=self.url, headers=self.headers(), ssl=False)
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            request = gql(query)
            request.variable_values = variables or None
            return await session.execute(request)

    def as_(self, token: str | None) -> Api:
        return Api(self.url, token)


def ws_client(ws_url: str, token: str | None) -> Client:
    init = {"authorization": f"Bearer {token}"} if token else {}
    transport = WebsocketsTransport(url=ws_url, init_payload=init, subprotocols=["graphql-transport-ws"])
    return Client(transport=transport, fetch_schema_from_transport=False)


@dataclass(frozen=True)
class Closed:
    """How the server ended a WebSocket: close code and reason (None if it ended otherwise), and when."""

    code: int | None
    reason: str | None
    at: float  # time.monotonic()


def _close_frame(exc: BaseException | None) -> tuple[int | None, str | None]:
    from websockets.exceptions import ConnectionClosed

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionClosed):
            frame = exc.rcvd
            return (frame.code, frame.reason) if frame is not None else (None, None)
        exc = exc.__cause__ or exc.__context__
    return None, None


class LiveSubscription:
    """One subscription over graphql-transport-ws (the gql client), recording what it receives and how
    the server closes it: `async with LiveSubscription(url, token, query) as live: await live.next()`."""

    def __init__(self, ws_url: str, token: str | None, query: str, **variables: Any) -> None:
        self.client = ws_client(ws_url, token)
        self.query = query
        self.variables = variables or None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: asyncio.Future[Closed] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> LiveSubscription:
        try:
            session = await self.client.connect_async(reconnecting=False)
        except Exception as exc:  # closed during connection_init (refused, rate limited)
            code, reason = _close_frame(exc)
            self.closed.set_result(Closed(code, reason, time.monotonic()))
            return self
        request = gql(self.query)
        request.variable_values = self.variables

        async def consume() -> None:
            try:
                async for result in session.subscribe(request):
                    await self.events.put(result)
                outcome: BaseException | None = None
            except Exception as exc:
                outcome = exc
            code, reason = _close_frame(outcome)
            if not self.closed.done():
                self.closed.set_result(Closed(code, reason, time.monotonic()))

        self._task = asyncio.create_task(consume())
        return self

    async def next(self, within: float = 10) -> dict[str, Any]:
        """The next result, waiting at most `within` seconds (TimeoutError)."""
        return await asyncio.wait_for(self.events.get(), within)

    async def wait_closed(self, within: float = 15) -> Closed:
        return await asyncio.wait_for(asyncio.shield(self.closed), within)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        with contextlib.suppress(Exception):
            await self.client.close_async()
