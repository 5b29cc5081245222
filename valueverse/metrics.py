"""Prometheus metrics: who may read them, and where.

On the API port, `GET /metrics` answers only with `Authorization: Bearer <METRICS_TOKEN>` (404 when no
token is configured: the route does not exist for the public). `METRICS_ADDRESS` adds a listener of its
own (e.g. 127.0.0.1:9100, reachable only from where the scraper runs), started once by `serve`, not by
each API process. With several API processes in Prometheus multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR` set), both read every process's metrics from that directory.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import Awaitable, Callable

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from db import outbox
from db.session import Database
from valueverse.settings import listen_address

log = logging.getLogger("valueverse.metrics")

# Every API process reads the same table: in multiprocess mode the largest live figure is the latest one.
OUTBOX_BACKLOG = Gauge(
    "valueverse_outbox_backlog",
    "Outbox rows committed and not yet dispatched (jobs and live messages waiting for Redis or the worker's drain)",
    multiprocess_mode="livemax",
)
OUTBOX_OLDEST = Gauge(
    "valueverse_outbox_oldest_seconds",
    "Age of the oldest undispatched outbox row (a few seconds at most while the worker drains)",
    multiprocess_mode="livemax",
)
OUTBOX_EVERY = 15.0  # seconds between two readings of the backlog, per API process


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


async def watch_outbox(db: Database, every: float = OUTBOX_EVERY) -> None:
    """Keep the outbox backlog gauges current (one small indexed query per reading) until cancelled."""
    while True:
        try:
            async with db.read() as session:
                backlog = await outbox.backlog(session)
            OUTBOX_BACKLOG.set(backlog.rows)
            OUTBOX_OLDEST.set(backlog.oldest_seconds)
        except Exception as exc:  # the database away: /readyz says so; the gauges keep their last reading
            log.debug("reading the outbox backlog failed: %s", exc)
        await asyncio.sleep(every)
