"""A test run claims its Redis db atomically, so that no other run (test or benchmark) shares it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.stack import CLAIM_KEY, claim_redis_db
from valueverse.embedded import EmbeddedRedis


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis server of this test alone: claims here touch no db of the shared server."""
    server = EmbeddedRedis(tmp_path, preferred_port=0)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


def _db(url: str, number: int) -> redis.Redis:
    return redis.Redis.from_url(f"{url.rsplit('/', 1)[0]}/{number}")


def test_claim_takes_the_highest_empty_db_and_marks_it_ours(private_redis: str) -> None:
    _db(private_redis, 15).set("someone:else", "data")
    _db(private_redis, 14).set("valueverse:bench-run", "4242")  # a benchmark's claim

    url, client = claim_redis_db(private_redis)

    assert url.endswith("/13")
    assert client.get(CLAIM_KEY) == str(os.getpid()).encode()
    assert client.dbsize() == 1
    assert _db(private_redis, 15).keys() == [b"someone:else"]
    assert _db(private_redis, 14).keys() == [b"valueverse:bench-run"]


def test_runs_claiming_at_the_same_moment_never_share_a_db(private_redis: str) -> None:
    """Fifteen runs with claim keys of their own (tests and benchmarks) start together: one db each."""
    runs = 15
    start = threading.Barrier(runs)
    claimed: dict[int, str] = {}
    failures: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            claimed[i] = claim_redis_db(private_redis, claim_key=f"valueverse:run-{i}")[0]
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    numbers = sorted(int(url.rsplit("/", 1)[1]) for url in claimed.values())
    assert numbers == list(range(1, 16))
    for i, url in claimed.items():
        assert _db(private_redis, int(url.rsplit("/", 1)[1])).keys() == [f"valueverse:run-{i}".encode()]
    with pytest.raises(RuntimeError, match="no empty Redis db"):
        claim_redis_db(private_redis, claim_key="valueverse:one-too-many")
