"""The live hub (integrations/live.py) against the run's real Redis: one Redis subscription per channel and
process, bounded per-subscriber queues."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis.asyncio as aioredis

from integrations.live import LiveHub, SubscriberLagged
from integrations.pubsub import RedisPublisher


async def _subscribers_in_redis(url: str, channel: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        return dict(await client.pubsub_numsub(channel))[channel.encode()]
    finally:
        await client.aclose()


async def _until(condition, within: float = 10) -> None:
    async with asyncio.timeout(within):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.02)


async def test_one_redis_subscription_per_channel_however_many_subscribers(stack) -> None:
    channel = f"test.hub.{secrets.token_hex(6)}"
    hub = LiveHub(stack.redis_url)
    publish = RedisPublisher(stack.redis_url)
    await hub.start()
    try:
        assert await hub.wait_connected(within=5)
        async with hub.subscribe(channel) as first, hub.subscribe(channel) as second:
            assert await _subscribers_in_redis(stack.redis_url, channel) == 1
            await publish([(channel, b"one")])
            assert (await asyncio.wait_for(first.get(), 5)).message == b"one"
            assert (await asyncio.wait_for(second.get(), 5)).message == b"one"

        async def unsubscribed() -> bool:
            return await _subscribers_in_redis(stack.redis_url, channel) == 0

        await _until(unsubscribed)
    finally:
        await hub.stop()
        await publish.close()


async def test_a_subscriber_that_falls_behind_is_ended_and_the_others_keep_receiving(stack) -> None:
    channel = f"test.hub.{secrets.token_hex(6)}"
    hub = LiveHub(stack.redis_url, queue_limit=5)
    publish = RedisPublisher(stack.redis_url)
    await hub.start()
    try:
        assert await hub.wait_connected(within=5)
        async with hub.subscribe(channel) as slow, hub.subscribe(channel) as reader:
            received = []
            for i in range(20):
                await publish([(channel, str(i).encode())])
                received.append((await asyncio.wait_for(reader.get(), 5)).message)
            assert received == [str(i).encode() for i in range(20)]
            with pytest.raises(SubscriberLagged):
                await asyncio.wait_for(slow.get(), 5)
    finally:
        await hub.stop()
        await publish.close()
