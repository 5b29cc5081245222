"""Live messages to Redis pub/sub, where the API's broadcaster hands them to WebSocket subscribers."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis


class RedisPublisher:
    """`Publish` for a unit of work: every message of a transaction goes out in one pipeline."""

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url)

    async def __call__(self, messages: Sequence[tuple[str, bytes]]) -> None:
        if len(messages) == 1:
            await self.redis.publish(*messages[0])
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(channel, message)
            await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()
