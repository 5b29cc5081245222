"""What a test run and a benchmark both need to run a throw-away stack beside others on one machine.

* `free_port()`: a loopback port nobody listens on now;
* `claim_redis_db(base_url, key)`: an empty Redis db number, made ours in one atomic step (the db
  must be empty and `SET key owner NX EX ttl` must succeed, both inside one Lua script, so two runs
  starting at the same moment never share a db); the claim's expiry is renewed while the run lives
  and `release()` ends it (flushing the db, which was empty when we took it);
* `wait_ready(url, process, log)`: poll `/readyz` of an API process until it answers 200;
* `admin_sql(url, statement)`: one statement on a PostgreSQL maintenance database (CREATE/DROP DATABASE).

Used by tests/stack.py and bench/common.py; nothing in the product imports it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis

# Empty db and no claim yet: take it, with an expiry, in one step on the server.
CLAIM_IF_EMPTY = (
    "if redis.call('DBSIZE') == 0 then return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) end return false"
)
# Renew or drop the claim only while it is still ours (an expired claim may have been taken since).
RENEW_IF_OURS = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0"
)
DROP_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
CLAIM_TTL_S = 900  # a run that died without releasing frees its claim after this long
DB_NUMBERS = range(15, 0, -1)  # db 0 is the default of `make run` and of anyone else's tools


class NoFreeRedisDb(RuntimeError):
    pass


class NotReady(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_base(url: str) -> str:
    """redis://host:port of a URL with or without a db number."""
    return url.rsplit("/", 1)[0] if url.count("/") > 2 else url


@dataclass
class RedisClaim:
    """A Redis db number that this run owns until `release()`."""

    url: str
    client: redis.Redis
    key: str
    owner: str
    ttl_s: int = CLAIM_TTL_S
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def renew(self) -> bool:
        """Push the expiry back; False when the claim is no longer ours."""
        return bool(self.client.eval(RENEW_IF_OURS, 1, self.key, self.owner, str(self.ttl_s)))

    def keep_alive(self) -> None:
        """Renew the claim from a daemon thread every third of its expiry, until released."""

        def run() -> None:
            while not self._stop.wait(self.ttl_s / 3):
                try:
                    self.renew()
                except redis.RedisError:
                    pass  # the next renewal tries again; the run itself will notice a Redis outage

        threading.Thread(target=run, name=f"redis-claim:{self.key}", daemon=True).start()

    def release(self, *, flush: bool = True) -> None:
        """End the claim; `flush` empties the db first (all of it is ours: it was empty when claimed)."""
        self._stop.set()
        if flush:
            self.client.flushdb()
        else:
            self.client.eval(DROP_IF_OURS, 1, self.key, self.owner)
        self.client.close()


def claim_redis_db(base_url: str, key: str, *, owner: str | None = None, ttl_s: int = CLAIM_TTL_S) -> RedisClaim:
    """The highest empty db number on the server of `base_url`, claimed as `key` = `owner` (default: our pid)."""
    base = redis_base(base_url)
    owner = owner or str(os.getpid())
    for number in DB_NUMBERS:
        client = redis.Redis.from_url(f"{base}/{number}", socket_connect_timeout=3)
        if client.eval(CLAIM_IF_EMPTY, 1, key, owner, str(ttl_s)):
            return RedisClaim(f"{base}/{number}", client, key, owner, ttl_s)
        client.close()
    raise NoFreeRedisDb(f"no empty Redis db number to claim on {base}")


def wait_ready(url: str, process: subprocess.Popen, log: Path | Callable[[], str], *, timeout_s: float = 60.0) -> None:
    """Poll `url`/readyz until it answers 200; NotReady (with the log's tail) if the process exits or time is up."""

    def tail() -> str:
        text = log() if callable(log) else (log.read_text(errors="replace") if log.exists() else "")
        return text[-4000:]

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotReady(f"the API exited during start-up:\n{tail()}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310 (our own http URL)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise NotReady(f"the API did not become ready:\n{tail()}")


async def admin_sql(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def reachable_postgres(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception:
        return False
    await conn.close()
    return True
