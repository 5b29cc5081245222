"""A GraphQL client for tests: the gql library over HTTP and graphql-transport-ws."""

from __future__ import annotations

from typing import Any

from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

__all__ = ["Api", "TransportQueryError", "ws_client"]


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
