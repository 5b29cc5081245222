"""What an operator relies on: health and readiness probes, metrics, request ids, JSON logs, a live worker."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import aiohttp
from arq import create_pool
from arq.connections import RedisSettings
from multidict import CIMultiDict

from tests.client import Api
from tests.stack import ROOT, Stack
from workers.settings import QUEUE_NAME


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, CIMultiDict[str], str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, response.headers.copy(), await response.text()


async def _post_graphql(
    stack: Stack, query: str, *, token: str | None = None, request_id: str | None = None
) -> tuple[int, CIMultiDict[str], dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if request_id:
        headers["X-Request-ID"] = request_id
    async with (
        aiohttp.ClientSession() as http,
        http.post(stack.graphql_url, data=json.dumps({"query": query}), headers=headers) as response,
    ):
        return response.status, response.headers.copy(), await response.json(content_type=None)


def _log_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.strip()]


async def _log_records_mentioning(log: Path, needle: str) -> list[dict]:
    """The JSON records of `log` that mention `needle`; waits, since a request is logged after its response."""
    async with asyncio.timeout(5):
        while True:
            ours = [r for r in map(json.loads, _log_lines(log)) if needle in json.dumps(r)]
            if ours:
                return ours
            await asyncio.sleep(0.05)


async def test_healthz_answers_ok(stack) -> None:
    status, _, body = await _get(f"{stack.api_url}/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


async def test_readyz_checks_the_database_and_redis(stack) -> None:
    status, _, body = await _get(f"{stack.api_url}/readyz")
    assert status == 200
    assert json.loads(body) == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_metrics_count_graphql_operations_by_name_and_http_requests(stack, tenant) -> None:
    assert (await tenant.api("query ViewerProbe { viewer { name } }"))["viewer"] is not None
    status, headers, text = await _get(
        f"{stack.api_url}/metrics", headers={"Authorization": f"Bearer {stack.env['METRICS_TOKEN']}"}
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    operations = [line for line in text.splitlines() if line.startswith("valueverse_graphql_operations_total{")]
    assert any('operation="ViewerProbe"' in line and 'type="query"' in line for line in operations), operations
    assert any(
        line.startswith("valueverse_http_requests_total{") and 'route="/graphql"' in line for line in text.splitlines()
    )


async def test_every_response_carries_a_request_id(stack, anonymous: Api) -> None:
    for path in ["/healthz", "/readyz", "/metrics", "/nowhere"]:
        _, headers, _ = await _get(f"{stack.api_url}{path}")
        assert headers.get("x-request-id"), path
    status, headers, _ = await _post_graphql(stack, "{ __typename }")
    assert status == 200 and headers.get("x-request-id")
    status, headers, _ = await _post_graphql(stack, "{ viewer { name } }", token="vv_not_a_key")
    assert status == 401 and headers.get("x-request-id")


async def test_an_incoming_request_id_is_echoed(stack) -> None:
    for request_id in [secrets.token_hex(16), f"lb-{secrets.token_hex(4)}"]:
        _, headers, _ = await _get(f"{stack.api_url}/healthz", headers={"X-Request-ID": request_id})
        assert headers["x-request-id"] == request_id
        _, headers, _ = await _post_graphql(stack, "{ viewer { name } }", request_id=request_id)
        assert headers["x-request-id"] == request_id


async def test_an_unsafe_request_id_is_replaced(stack) -> None:
    _, headers, _ = await _get(f"{stack.api_url}/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert headers["x-request-id"] and " " not in headers["x-request-id"]
    assert len(headers["x-request-id"]) <= 128


async def test_the_api_log_is_json_lines_and_a_failed_request_carries_its_id(stack) -> None:
    request_id = f"ops-{secrets.token_hex(8)}"
    status, _, body = await _post_graphql(stack, "{ viewer { name } }", token="vv_not_a_key", request_id=request_id)
    assert status == 401 and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    ours = await _log_records_mentioning(stack.log_dir / "api.log", request_id)
    lines = _log_lines(stack.log_dir / "api.log")
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(r, dict) and "event" in r and "level" in r and "timestamp" in r for r in records)
    assert all(r.get("request_id") == request_id for r in ours)
    assert any(r.get("status") == 401 and r.get("path") == "/graphql" for r in ours)
    assert not any("Traceback" in line for line in lines)


async def test_the_worker_answers_a_ping(stack) -> None:
    pool = await create_pool(RedisSettings.from_dsn(stack.redis_url))
    try:
        job = await pool.enqueue_job("ping", _queue_name=QUEUE_NAME)
        assert job is not None
        assert await job.result(timeout=20) == "pong"
    finally:
        await pool.aclose()


def test_env_example_documents_every_setting() -> None:
    from valueverse.settings import Settings

    documented = {
        line.lstrip("# ").split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()
    }
    assert {name.upper() for name in Settings.model_fields} <= documented


async def test_a_client_gone_before_its_request_was_read_is_no_server_error(stack, tenant) -> None:
    """A body promised and not sent, then the connection closed (a tab closed mid-upload, a client's timeout): the
    request counts as 499 and is logged at INFO as the client's doing; never a 500 or a traceback (GraphQL and
    POST /v1/events alike)."""
    host, port = stack.api_url.removeprefix("http://").split(":")
    log = stack.log_dir / "api.log"
    for path in ("/graphql", "/v1/events"):
        request_id = f"gone-{secrets.token_hex(6)}"
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {tenant.api_key}\r\nX-Request-ID: {request_id}\r\nContent-Length: 5000\r\n\r\n"
            '{"query": "{ viewer'.encode()
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        [record] = await _log_records_mentioning(log, request_id)
        assert (record["event"], record["level"], record["status"], record["path"]) == (
            "client went away", "info", 499, path)
    status, _, text = await _get(f"{stack.api_url}/metrics",
                                 headers={"Authorization": f"Bearer {stack.env['METRICS_TOKEN']}"})
    assert status == 200
    counted = {line.split(" ")[0] for line in text.splitlines()
               if line.startswith("valueverse_http_requests_total{") and 'status="499"' in line}
    assert any('route="/graphql"' in c for c in counted) and any('route="/v1/events"' in c for c in counted)
    assert not any("Traceback" in line for line in _log_lines(log))
