"""The dev-stack helpers shared by the tests and the benchmarks: Redis claims, readiness."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from valueverse import devstack
from valueverse.embedded import EmbeddedRedis


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path, preferred_port=0)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


def test_a_claim_expires_unless_renewed_and_is_renewed_only_by_its_owner(private_redis: str) -> None:
    claim = devstack.claim_redis_db(private_redis, "valueverse:a-run", owner="run-a", ttl_s=300)
    assert claim.url.endswith("/15")
    assert 0 < claim.client.ttl("valueverse:a-run") <= 300
    claim.client.expire("valueverse:a-run", 10)
    assert claim.renew() is True and claim.client.ttl("valueverse:a-run") > 10

    claim.client.set("valueverse:a-run", "run-b")  # as if it had expired and another run had taken it
    assert claim.renew() is False
    assert claim.client.ttl("valueverse:a-run") == -1  # the other run's claim is left as it is


def test_release_flushes_the_db_so_the_next_run_can_claim_it(private_redis: str) -> None:
    first = devstack.claim_redis_db(private_redis, "valueverse:first")
    first.client.set("arq:queue", "jobs of the first run")
    second = devstack.claim_redis_db(private_redis, "valueverse:second")
    assert second.url != first.url

    first.release()
    third = devstack.claim_redis_db(private_redis, "valueverse:third")
    assert third.url == first.url
    assert third.client.keys() == [b"valueverse:third"]


def test_release_without_flush_drops_only_our_own_claim(private_redis: str) -> None:
    claim = devstack.claim_redis_db(private_redis, "valueverse:kept", owner="me")
    other = redis.Redis.from_url(claim.url)
    other.set("data", "1")
    claim.release(flush=False)
    assert other.keys() == [b"data"]


def test_wait_ready_reports_a_process_that_exits_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    log.write_text("boom: the settings are wrong\n")
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(devstack.NotReady, match="exited during start-up:\nboom"):
        devstack.wait_ready(f"http://127.0.0.1:{devstack.free_port()}", process, log)
