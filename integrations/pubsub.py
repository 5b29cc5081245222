"""Live messages to Redis pub/sub, where each API process's live hub (integrations/live.py) hands them to
WebSocket subscribers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("valueverse.pubsub")

LIVE_DROPPED = Counter(
    "valueverse_live_messages_dropped_total",
    "Live messages not published at once because Redis was unreachable (those of the outbox are sent by the drain)",
)
TIMEOUT = 1.0  # seconds for one connection attempt and for one publish round trip
RETRY_MIN, RETRY_MAX = 0.5, 5.0  # seconds without attempts after a failure, doubling while Redis stays down


class RedisPublisher:
    """`Publish` for a unit of work: every message of a transaction goes out in one pipeline.

    Never raises for an unreachable Redis and never holds a request for long: an attempt is bounded by
    `TIMEOUT`, and after a failure the messages of the next seconds are refused without trying (one
    attempt per `RETRY_MIN`…`RETRY_MAX` seconds, not one per request). A unit of work's messages then wait
    in the outbox for the worker's drain (db/outbox.py); usage pushes are simply missed (subscribers
    re-read on reconnection). Returns True when Redis took the messages."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
        self._clock = clock
        self._retry_at = 0.0
        self._delay = RETRY_MIN
        self._down_since: float | None = None

    async def __call__(self, messages: Sequence[tuple[str, bytes]]) -> bool:
        """True when Redis took the messages."""
        now = self._clock()
        if now < self._retry_at:
            LIVE_DROPPED.inc(len(messages))
            return False
        try:
            async with asyncio.timeout(2 * TIMEOUT):
                await self._send(messages)
        except (RedisError, OSError, TimeoutError) as exc:
            LIVE_DROPPED.inc(len(messages))
            if self._down_since is None:
                self._down_since = now
                log.warning(
                    "Redis unreachable (%s: %s): live messages are not published until it answers again",
                    type(exc).__name__,
                    exc,
                )
            self._retry_at = now + self._delay
            self._delay = min(self._delay * 2, RETRY_MAX)
            return False
        if self._down_since is not None:
            log.warning("Redis answers again after %.1f s: live messages are published", now - self._down_since)
            self._down_since = None
        self._retry_at, self._delay = 0.0, RETRY_MIN
        return True

    def resume(self) -> None:
        """Redis is known to be back (the live hub reconnected): try the next message at once."""
        self._retry_at = 0.0

    async def _send(self, messages: Sequence[tuple[str, bytes]]) -> None:
        if len(messages) == 1:
            await self.redis.publish(*messages[0])
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(channel, message)
            await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()
