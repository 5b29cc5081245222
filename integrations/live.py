"""The live hub: messages published to Redis pub/sub, handed to this process's subscribers.

One Redis connection per process, however many subscribers it serves. The connection is owned by one
task that reconnects with backoff whenever it is lost (or cannot be made at start) and then subscribes
again to every channel that still has a local subscriber, so live pushes resume by themselves when
Redis returns. Each subscriber has its own bounded queue: one slow socket cannot grow memory without
limit (it is ended with `SubscriberLagged` instead), and never delays the others.

    async with hub.subscribe("usage.<org>.<customer>") as subscriber:
        async for event in subscriber:      # Event(channel, message: bytes)
            ...

Publishing goes through `integrations.pubsub.RedisPublisher` (what units of work use after commit), or
`hub.publish(channel, message)` for code that holds the hub. Pub/sub is not durable: a message published
while Redis is down is lost; subscribers that ask with `resync=True` get an empty `Event` (``resync``
set) after every reconnection, so they can re-read what they show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger("valueverse.live")

LIVE_CONNECTED = Gauge(
    "valueverse_live_connected",
    "API processes whose live hub is subscribed to Redis (1 per process while it is)",
    multiprocess_mode="livesum",
)
LIVE_CONNECTIONS = Counter("valueverse_live_connections_total", "Live hub connections made to Redis")
LIVE_LAGGED = Counter("valueverse_live_lagged_subscribers_total", "Subscribers ended because they fell behind")

# Subscribed for as long as the connection lives, so that the connection always reads (and a PING can be
# answered) even when no WebSocket subscribes to anything. Nothing publishes to it.
HUB_CHANNEL = "valueverse:live-hub"
QUEUE_LIMIT = 1000  # messages a subscriber may fall behind before it is ended
PING_INTERVAL = 5.0  # seconds of silence before the hub checks that the connection still answers
CONNECT_TIMEOUT = 2.0
BACKOFF_MIN, BACKOFF_MAX = 0.1, 5.0  # seconds between reconnection attempts, doubling, with jitter

Publish = Callable[[Sequence[tuple[str, bytes]]], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Event:
    channel: str
    message: bytes
    resync: bool = False  # not a message: the hub reconnected, and messages may have been missed


class Unsubscribed(Exception):
    """The hub stopped: the subscription ends (iterating a subscriber then simply stops)."""


class SubscriberLagged(Exception):
    """The subscriber fell `QUEUE_LIMIT` messages behind and was ended; subscribe again to continue."""


class Subscriber:
    """One subscription's queue: `await get()` or `async for event in subscriber`."""

    def __init__(self, channel: str, limit: int, resync: bool) -> None:
        self.channel = channel
        self.resync = resync
        self._limit = limit
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._end: Exception | None = None

    async def get(self) -> Event:
        """The next event; raises `SubscriberLagged` once it fell behind, `Unsubscribed` once the hub stopped."""
        while not self._events:
            if self._end is not None:
                raise self._end
            self._ready.clear()
            await self._ready.wait()
        return self._events.popleft()

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            while True:
                yield await self.get()
        except Unsubscribed:
            return

    def _deliver(self, event: Event) -> None:
        if self._end is not None:
            return
        if len(self._events) >= self._limit:
            self._events.clear()
            self._end = SubscriberLagged(f"live updates of {self.channel} fell {self._limit} messages behind")
            LIVE_LAGGED.inc()
        else:
            self._events.append(event)
        self._ready.set()

    def _close(self) -> None:
        if self._end is None:
            self._end = Unsubscribed()
        self._ready.set()


class LiveHub:
    """This process's subscriptions to Redis pub/sub; `start()` never fails, even with Redis down."""

    def __init__(
        self,
        url: str,
        *,
        publish: Publish | None = None,
        on_connect: Callable[[], None] | None = None,
        queue_limit: int = QUEUE_LIMIT,
        ping_interval: float = PING_INTERVAL,
    ) -> None:
        self._redis = Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT, socket_keepalive=True
        )
        self._publish = publish
        self._on_connect = on_connect
        self._queue_limit = queue_limit
        self._ping_interval = ping_interval
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._pubsub: PubSub | None = None  # set while the connection is up and subscribed
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()

    @property
    def connected(self) -> bool:
        """Whether live messages reach this process right now (what /readyz reports)."""
        return self._pubsub is not None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber._close()
        await self._redis.aclose()

    async def wait_connected(self, within: float) -> bool:
        """Wait (up to `within` seconds) for the outcome of the first connection attempt; whether connected."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._first_attempt.wait()
        return self.connected

    async def publish(self, channel: str, message: bytes) -> None:
        """Publish through the process's publisher (a failure is logged there, never raised)."""
        if self._publish is None:
            raise RuntimeError("this hub was built without a publisher")
        await self._publish([(channel, message)])

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str, *, resync: bool = False) -> AsyncIterator[Subscriber]:
        """Receive the messages published to `channel` while the block runs.

        Returns at once even while Redis is down: the subscription starts receiving when the hub reconnects.
        With `resync`, an `Event(resync=True)` follows every reconnection."""
        subscriber = Subscriber(channel, self._queue_limit, resync)
        local = self._subscribers.get(channel)
        if local is None:
            self._subscribers[channel] = {subscriber}
            await self._command("subscribe", channel)
        else:
            local.add(subscriber)
        try:
            yield subscriber
        finally:
            local = self._subscribers.get(channel)
            if local is not None:
                local.discard(subscriber)
                if not local:
                    del self._subscribers[channel]
                    await self._command("unsubscribe", channel)
            subscriber._close()

    async def _command(self, name: str, channel: str) -> None:
        """(Un)subscribe on the live connection, if there is one; without one, the next connection does it."""
        pubsub = self._pubsub
        if pubsub is None:
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await getattr(pubsub, name)(channel)
        except (RedisError, OSError, TimeoutError) as exc:
            # The reading task notices a broken connection and reconnects, subscribing to every local channel.
            log.info("live hub: %s %s not sent now (%s); the next connection will", name, channel, exc)

    async def _run(self) -> None:
        delay, lost_at, loop = BACKOFF_MIN, None, asyncio.get_running_loop()
        while True:
            pubsub = self._redis.pubsub()
            try:
                await self._connect(pubsub)
                LIVE_CONNECTED.set(1)
                LIVE_CONNECTIONS.inc()
                if lost_at is not None:
                    log.warning("live hub reconnected to Redis after %.1f s", loop.time() - lost_at)
                    lost_at = None
                self._first_attempt.set()
                if self._on_connect is not None:
                    self._on_connect()
                self._announce_resync()
                delay = BACKOFF_MIN
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if lost_at is None:
                    lost_at = loop.time()
                    log.warning(
                        "live hub lost Redis (%s: %s): live pushes pause until it reconnects",
                        type(exc).__name__,
                        exc,
                        exc_info=not isinstance(exc, RedisError | OSError | TimeoutError),
                    )
            finally:
                self._first_attempt.set()
                self._pubsub = None
                LIVE_CONNECTED.set(0)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, BACKOFF_MAX)

    async def _connect(self, pubsub: PubSub) -> None:
        """Subscribe to every channel that has a local subscriber, then take the connection into use."""
        channels = set(self._subscribers)
        async with asyncio.timeout(CONNECT_TIMEOUT * 2):
            await pubsub.subscribe(HUB_CHANNEL, *channels)
        self._pubsub = pubsub
        # Subscribers that came or went while we connected (they saw no connection): catch up.
        now = set(self._subscribers)
        for channel in now - channels:
            await self._command("subscribe", channel)
        for channel in channels - now:
            await self._command("unsubscribe", channel)

    def _announce_resync(self) -> None:
        for channel, subscribers in self._subscribers.items():
            for subscriber in subscribers:
                if subscriber.resync:
                    subscriber._deliver(Event(channel, b"", resync=True))

    async def _read(self, pubsub: PubSub) -> None:
        """Fan messages out until the connection fails; a connection silent for three PINGs counts as failed."""
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval)
            if message is None:
                if loop.time() - heard > 3 * self._ping_interval:
                    raise TimeoutError("Redis did not answer PING")
                await pubsub.ping()
                continue
            heard = loop.time()
            if message["type"] == "message":
                channel = message["channel"].decode()
                event = Event(channel, message["data"])
                for subscriber in list(self._subscribers.get(channel, ())):
                    subscriber._deliver(event)
