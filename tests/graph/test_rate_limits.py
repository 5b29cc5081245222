"""Rate limits: token buckets per credential (with an organization's override) and per IP address,
429 with Retry-After, and a limiter that fails open when Redis is away."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import aiohttp
import orjson
import pytest
import websockets

from tests.client import LiveSubscription
from tests.stack import ApiProcess, start_api

LIMITS = """mutation($rate: Int, $burst: Int) { updateRateLimits(input: {requestsPerSecond: $rate, burst: $burst}) {
  organization { rateLimit { requestsPerSecond burst isDefault } } userErrors { field code message } } }"""
VIEWER = '{"query": "{ viewer { name } }"}'


async def post(url: str, token: str | None, body: str = VIEWER, *, ip: str | None = None,
               path: str = "/graphql") -> tuple[int, dict, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if ip:
        headers["X-Forwarded-For"] = ip
    async with aiohttp.ClientSession() as http, http.post(url + path, data=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.json(content_type=None)


async def test_an_organizations_override_spends_its_keys_bucket_then_429(stack, tenant, other_tenant) -> None:
    assert (await tenant.api("{ organization { rateLimit { requestsPerSecond burst isDefault } } }"))[
        "organization"]["rateLimit"] == {"requestsPerSecond": 500, "burst": 1000, "isDefault": True}
    changed = (await tenant.api(LIMITS, rate=1, burst=3))["updateRateLimits"]
    assert changed == {"organization": {"rateLimit": {"requestsPerSecond": 1, "burst": 3, "isDefault": False}},
                       "userErrors": []}
    base = stack.api_url
    statuses = []
    for _ in range(6):
        status, headers, body = await post(base, tenant.api_key)
        statuses.append(status)
        if status == 429:
            break
    assert statuses[:3] == [200, 200, 200] and statuses[-1] == 429, statuses
    assert 1 <= int(headers["Retry-After"]) <= 2
    error = body["errors"][0]
    assert error["extensions"] == {"code": "RATE_LIMITED", "limit": "credential", "requestsPerSecond": 1,
                                   "burst": 3, "retryAfter": int(headers["Retry-After"])}
    assert "rate limit" in error["message"] and "retry in" in error["message"]
    # The same bucket for /v1/events and for opening a WebSocket.
    status, headers, body = await post(base, tenant.api_key, "[]", path="/v1/events")
    assert status == 429 and body["errors"][0]["extensions"]["limit"] == "credential" and "Retry-After" in headers
    async with LiveSubscription(stack.ws_url, tenant.api_key, "subscription { auditTrail { action } }") as live:
        closed = await live.wait_closed(within=10)
    assert closed.code == 4429 and "rate limit" in (closed.reason or "")
    # Another organization is not affected.
    assert (await post(base, other_tenant.api_key))[0] == 200
    reset_body = orjson.dumps({"query": LIMITS, "variables": {"rate": None, "burst": None}}).decode()
    deadline = time.monotonic() + 10
    while (reset := await post(base, tenant.api_key, reset_body))[0] == 429:  # once the bucket has a token again
        assert time.monotonic() < deadline, "the bucket never refilled"
        await asyncio.sleep(0.1)
    assert reset[2]["data"]["updateRateLimits"]["organization"]["rateLimit"]["isDefault"] is True
    for _ in range(10):
        assert (await post(base, tenant.api_key))[0] == 200
    audited = await tenant.api('{ auditLogs(action: "organization.rate_limits_updated") { totalCount } }')
    assert audited["auditLogs"]["totalCount"] == 2


async def test_an_override_only_tightens_the_servers_limit(tenant) -> None:
    for rate, burst, field in [(10_000, None, "requestsPerSecond"), (0, None, "requestsPerSecond"),
                               (10, 5000, "burst"), (None, 5, "requestsPerSecond")]:
        errors = (await tenant.api(LIMITS, rate=rate, burst=burst))["updateRateLimits"]["userErrors"]
        assert errors and errors[0]["field"] == ["input", field], (rate, burst, errors)
    default_burst = (await tenant.api(LIMITS, rate=100, burst=None))["updateRateLimits"]
    assert default_burst["organization"]["rateLimit"] == {"requestsPerSecond": 100, "burst": 200, "isDefault": False}
    await tenant.api(LIMITS, rate=None, burst=None)


async def test_a_viewer_cannot_change_the_limits(stack, tenant) -> None:
    created = await tenant.api('mutation { createApiKey(input: {name: "ro", role: VIEWER}) { secret } }')
    status, _, body = await post(
        stack.api_url, created["createApiKey"]["secret"],
        '{"query": "mutation { updateRateLimits(input: {requestsPerSecond: 1}) { userErrors { code } } }"}',
    )
    assert status == 200 and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.fixture(scope="module")
def narrow_api(stack) -> Iterator[ApiProcess]:
    """An API process allowing 5 requests at once per IP address, then one per second."""
    api = start_api(stack, "api-ip-limit", RATE_LIMIT_IP_PER_SECOND="1", RATE_LIMIT_IP_BURST="5", WEB_CONCURRENCY="1")
    try:
        yield api
    finally:
        api.stop()


async def test_each_ip_address_has_its_own_bucket(tenant, narrow_api) -> None:
    ip, other = "198.51.100.7", "198.51.100.8"
    statuses = [(await post(narrow_api.url, tenant.api_key, ip=ip))[0] for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    status, headers, body = await post(narrow_api.url, None, ip=ip)  # anonymous requests count as well
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert body["errors"][0]["extensions"]["limit"] == "ip"
    assert (await post(narrow_api.url, tenant.api_key, ip=other))[0] == 200
    # The WebSocket handshake from the spent address is refused with the same 429.
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(narrow_api.ws_url, subprotocols=["graphql-transport-ws"],
                                      additional_headers={"X-Forwarded-For": ip}):
            pass
    assert refused.value.response.status_code == 429
    assert "Retry-After" in refused.value.response.headers


class RedisServer:
    """A redis-server of this test's own, on a free port, that the test can stop."""

    def __init__(self, directory) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api_on_own_redis(stack, own_redis) -> Iterator[ApiProcess]:
    """One API process on `own_redis`, with a tiny limit per credential (2 at once, 1 a second)."""
    api = start_api(stack, "api-own-redis", REDIS_URL=own_redis.url, RATE_LIMIT_PER_SECOND="1",
                    RATE_LIMIT_BURST="2", WEB_CONCURRENCY="1")
    try:
        yield api
    finally:
        api.stop()


async def test_the_limiter_fails_open_when_redis_is_unreachable(tenant, own_redis, api_on_own_redis) -> None:
    api = api_on_own_redis
    # With Redis, the (tiny) limit holds.
    statuses = [(await post(api.url, tenant.api_key))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    own_redis.stop()
    # Without it, every request is served: the limiter fails open, never closed.
    started = time.perf_counter()
    statuses = [(await post(api.url, tenant.api_key))[0] for _ in range(20)]
    elapsed = time.perf_counter() - started
    assert statuses == [200] * 20
    print(f"20 requests with Redis gone: {elapsed * 1000 / 20:.1f} ms each")
    deadline = time.monotonic() + 10
    while "rate limiter unavailable: failing open" not in api.log_text():
        assert time.monotonic() < deadline, api.log_text()[-2000:]
        await asyncio.sleep(0.1)
    assert api.log_text().count("rate limiter unavailable: failing open") == 1  # one line, not one per request
    # Login brakes fail open too: a login is answered, not refused.
    query = 'mutation($e: String!) { login(input: {email: $e, password: "wrong password!"}) { userErrors { code } } }'
    body = orjson.dumps({"query": query, "variables": {"e": f"{uuid.uuid4().hex}@x.y"}}).decode()
    status, _, answer = await post(api.url, None, body)
    assert status == 200 and answer["data"]["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
