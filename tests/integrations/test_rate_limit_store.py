"""The rate-limit store's buckets on the test stack's Redis: one round trip takes a token from each or from none."""

from __future__ import annotations

import uuid

from integrations.rate_limit import RedisLimitStore


async def test_a_token_is_taken_from_every_bucket_or_from_none(stack) -> None:
    store = RedisLimitStore(stack.redis_url)
    wide, narrow = f"test-wide-{uuid.uuid4()}", f"test-narrow-{uuid.uuid4()}"
    try:
        assert await store.take([(wide, 0.001, 5), (narrow, 0.001, 1)]) == (-1, 0.0)
        empty, wait = await store.take([(wide, 0.001, 5), (narrow, 0.001, 1)])
        assert empty == 1 and wait > 1  # the second bucket is spent: nothing was taken from the first either
        assert [await store.take([(wide, 0.001, 5)]) for _ in range(4)] == [(-1, 0.0)] * 4
        empty, _ = await store.take([(wide, 0.001, 5)])
        assert empty == 0
    finally:
        await store.redis.delete(*(f"valueverse:rl:bucket:{key}" for key in (wide, narrow)))
        await store.close()
