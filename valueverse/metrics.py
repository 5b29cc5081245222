"""Prometheus metrics: who may read them, and where.

On the API port, `GET /metrics` answers only with `Authorization: Bearer <METRICS_TOKEN>` (404 when no
token is configured: the route does not exist for the public). `METRICS_ADDRESS` adds a listener of its
own (e.g. 127.0.0.1:9100, reachable only from where the scraper runs), started once by `serve`, not by
each API process. With several API processes in Prometheus multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR` set), both read every process's metrics from that directory.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from valueverse.settings import listen_address


def registry() -> CollectorRegistry:
    """This process's metrics, or every API process's when they share a multiprocess directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        MultiProcessCollector(collected)
        return collected
    return REGISTRY


def _error(message: str, code: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


def metrics_endpoint(token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """`GET /metrics` on the API port: 404 without a configured token, 401 without the right one."""

    async def metrics(request: Request) -> Response:
        if not token:
            return Response(_error("not found", "NOT_FOUND"), 404, media_type="application/json")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return Response(
                _error("metrics need Authorization: Bearer <METRICS_TOKEN>", "UNAUTHENTICATED"),
                401,
                media_type="application/json",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics


def serve_metrics(address: str | None) -> None:
    """Start the separate metrics listener of `METRICS_ADDRESS` (a daemon thread), if one is configured."""
    if not address:
        return
    host, port = listen_address(address)
    try:
        start_http_server(port, addr=host, registry=registry())
    except OSError as exc:
        raise SystemExit(f"METRICS_ADDRESS {address}: cannot listen there ({exc.strerror or exc})") from None
