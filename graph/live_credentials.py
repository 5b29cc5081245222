"""A WebSocket lives no longer than its credentials (graphql-transport-ws).

Once a socket is acknowledged, a watcher checks its credentials again (from the database, as an
HTTP request would be checked):

- at once when its organization's `credentials.<org>` channel says that its API key, its user or its
  session changed (published after commit by revokeApiKey, logout, revokeSession, disableStaffUser,
  enableStaffUser, changeStaffUserRole);
- when its session expires;
- and every `recheck_seconds` in any case, so a missed message (Redis away) is caught too.

Credentials no longer valid close the socket with 4401; a role that no longer allows one of its
running subscriptions closes it with 4403. A rate-limited `connection_init` is closed with 4429, one
whose credentials cannot be read (the database unreachable) with 1013 (try again later). A frame
that is no protocol message (not an object, an id or payload of the wrong shape) is closed with 4400.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import datetime
from typing import Any

import orjson
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

from db.faults import storage_unavailable
from db.models import Role
from graph.context import Context
from graph.errors import UNAVAILABLE_MESSAGE
from services.actors import ROLE_RANK, Actor
from services.auth import credentials_channel
from services.errors import Unauthenticated
from services.rate_limits import RateLimited

log = logging.getLogger("valueverse.live")
CREDENTIALS_INVALID = 4401
ROLE_INSUFFICIENT = 4403
RATE_LIMITED = 4429
TRY_AGAIN_LATER = 1013  # RFC 6455's registry: the database cannot be reached to check the credentials
MAX_REASON_BYTES = 120  # a close frame's reason holds at most 123 bytes


def concerns(actor: Actor, message: dict[str, Any]) -> bool:
    """Whether a revocation message is about the credentials behind `actor`."""
    kind, target = message.get("kind"), message.get("id")
    if kind == "apiKey":
        return actor.kind == "api_key" and actor.id == target
    if kind == "staffUser":
        return actor.kind == "user" and actor.id == target
    if kind == "session":
        return actor.session_id is not None and str(actor.session_id) == target
    if kind == "portalSession":
        return actor.is_portal and actor.id == target
    return False


def protocol_problem(message: Any) -> str | None:
    """What makes a frame (JSON already) no graphql-transport-ws message, or None. Such a frame closes the socket
    with 4400 and this reason, as a frame that is not JSON does (the protocol's answer to an invalid message)."""
    if not isinstance(message, dict):
        return "a message is a JSON object with a type"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message's type is a string"
    if kind in ("subscribe", "complete") and not isinstance(message.get("id"), str):
        return f"a {kind} message's id is a string"
    if kind == "subscribe":
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "a subscribe message's payload is an object with a query (a string)"
        if not isinstance(payload.get("variables"), dict | None) or not isinstance(
            payload.get("operationName"), str | None
        ):
            return "a subscribe message's variables are an object and its operationName a string"
    return None


class CredentialWatchingHandler(BaseGraphQLTransportWSHandler[Context, None]):
    watcher: asyncio.Task | None = None

    async def handle_message(self, message: Any) -> None:
        if (problem := protocol_problem(message)) is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except RateLimited as exc:
            await self.end(RATE_LIMITED, str(exc))
            return
        except Exception as exc:
            if not storage_unavailable(exc):
                raise
            await self.end(TRY_AGAIN_LATER, UNAVAILABLE_MESSAGE)  # the credentials cannot be read now
            return
        if self.connection_acknowledged and self.watcher is None and self.context.actor is not None:
            self.watcher = asyncio.create_task(self.watch(self.context.actor))

    async def shutdown(self) -> None:
        if self.watcher is not None and self.watcher is not asyncio.current_task():
            self.watcher.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self.watcher
        await super().shutdown()

    async def end(self, code: int, reason: str) -> None:
        """Stop every operation first, so that nothing is sent after the close frame."""
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        encoded = reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")
        with suppress(Exception):  # the client may be gone already
            await self.websocket.close(code=code, reason=encoded)

    async def watch(self, actor: Actor) -> None:
        services = self.context.services
        changed = asyncio.Event()
        listener = asyncio.create_task(self.listen(actor, changed))
        try:
            expires_at: datetime | None = None
            while True:
                verdict, expires_at = await self.check(expires_at)
                if verdict is not None:
                    await self.end(*verdict)
                    return
                timeout = services.recheck_seconds
                if expires_at is not None:
                    timeout = min(timeout, max(0.0, (expires_at - self.context.clock.now()).total_seconds()) + 0.05)
                with suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout)
                changed.clear()
        finally:
            listener.cancel()

    async def check(self, expires_at: datetime | None) -> tuple[tuple[int, str] | None, datetime | None]:
        """(close code and reason, or None to keep the socket open; the credentials' expiry)."""
        context = self.context
        try:
            credentials = await context.services.authenticator.verify(context.authorization, touch=False, kept=False)
        except Unauthenticated as exc:
            return (CREDENTIALS_INVALID, exc.reason), None
        except Exception:  # the database is away: keep the socket, check again at the next round
            log.warning("could not check a WebSocket's credentials", exc_info=True)
            return None, expires_at
        if credentials is None:
            return (CREDENTIALS_INVALID, "the credentials of this connection are gone"), None
        context.actor = credentials.actor
        needed = self.needed_role()
        if needed is not None and not credentials.actor.has_role(needed):
            return (
                ROLE_INSUFFICIENT,
                f"a running subscription needs the {needed} role; the caller is now {credentials.actor.role}",
            ), credentials.expires_at
        return None, credentials.expires_at

    def needed_role(self) -> Role | None:
        roles = self.context.live_roles
        for task in [t for t in roles if t.done()]:
            del roles[task]
        return max(roles.values(), key=ROLE_RANK.__getitem__, default=None)

    async def listen(self, actor: Actor, changed: asyncio.Event) -> None:
        """Sets `changed` on every message about these credentials; subscribes again after a failure."""
        broadcast = self.context.services.broadcast
        channel = credentials_channel(actor.organization_id)
        while True:
            try:
                async with broadcast.subscribe(channel) as subscriber:
                    async for event in subscriber:
                        with suppress(ValueError, AttributeError):
                            if concerns(actor, orjson.loads(event.message)):
                                changed.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: the periodic check covers the gap until it is back
                log.debug("revocation channel unavailable", exc_info=True)
            await asyncio.sleep(self.context.services.recheck_seconds)
