"""ASGI app assembly: /graphql (HTTP + WebSocket), /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from broadcaster import Broadcast
from cross_web import HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from redis.asyncio import Redis
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from db.models import CreditNote as CreditNoteRow
from db.models import Invoice as InvoiceRow
from db.session import Database
from db.usage_writer import UsageWriter
from graph.context import AppServices, Context
from graph.http_events import events_endpoint
from graph.schema import schema
from integrations.pubsub import RedisPublisher
from services.auth import Authenticator, SessionConfig
from services.documents import PdfRenderer, link_is_valid, render_credit_note, render_invoice
from services.errors import Unauthenticated
from services.usage import UsageIngestor
from valueverse.logs import configure_logging
from valueverse.settings import Settings

HTTP_REQUESTS = Counter("valueverse_http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_LATENCY = Histogram("valueverse_http_request_seconds", "HTTP request latency", ["route", "method"])
KNOWN_ROUTES = {"/graphql", "/healthz", "/readyz", "/metrics", "/v1/events"}
# Request ids come from load balancers and clients in many shapes (UUIDs, nginx/OTel hex, ULIDs,
# "svc-123"); accept any short token that cannot break a log line or a header.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
log = logging.getLogger("valueverse.http")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def valid_request_id(value: str) -> bool:
    return REQUEST_ID.fullmatch(value) is not None


def error_body(message: str, code: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


class GraphQLApp(GraphQL):
    """Strawberry's ASGI view with our context, authentication and JSON error bodies."""

    def __init__(self, services: AppServices) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=False,
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            code = {401: "UNAUTHENTICATED", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "BAD_REQUEST")
            headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
            response = Response(
                error_body(exc.reason, code),
                status_code=exc.status_code,
                media_type="application/json",
                headers=headers,
            )
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        # Numbers are read exactly as written: 0.1 is one tenth, never a binary float.
        return json.loads(data, parse_float=Decimal)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        if isinstance(request, WebSocket):
            return Context(self.services, None, None, request, response)  # authenticated in on_ws_connect
        try:
            actor = await self.services.authenticator.authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            raise HTTPException(401, exc.reason) from exc
        return Context(self.services, actor, correlation_id.get(), request, response)

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        header = params.get("authorization") or params.get("Authorization")
        try:
            actor = await self.services.authenticator.authenticate(header if isinstance(header, str) else None)
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED", "reason": exc.reason}) from exc
        if actor is None:
            raise ConnectionRejectionError(
                {"code": "UNAUTHENTICATED", "reason": 'send {"authorization": "Bearer …"} in connection_init'}
            )
        context.actor = actor
        return None


def metrics_exposition() -> bytes:
    """The figures /metrics shows. With several API processes (`serve` sets PROMETHEUS_MULTIPROC_DIR) each process
    writes its own into that directory and this sums them up, whichever process answers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


class RequestMetrics:
    """Counts and times every HTTP request by route (unknown paths share one label); logs failed ones.

    Runs inside CorrelationIdMiddleware so that its log lines carry the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in KNOWN_ROUTES else "other"
        started, status = time.perf_counter(), 500

        async def send_with_status(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
            HTTP_LATENCY.labels(route, scope["method"]).observe(elapsed)
            if status >= 400:  # successful requests are counted, not logged: the hot path stays quiet
                log.log(
                    logging.ERROR if status >= 500 else logging.INFO,
                    "request failed",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


def create_app(settings: Settings, database_url: str, redis_url: str) -> Starlette:
    broadcast = Broadcast(redis_url)
    publish = RedisPublisher(redis_url)
    db = Database(database_url, pool_size=settings.db_pool_size, publish=publish)
    session_config = SessionConfig(settings.resolved_secret_key(), settings.session_ttl_seconds)
    writer = UsageWriter(db.url)
    authenticator = Authenticator(db, session_config)
    services = AppServices(db, authenticator, session_config, broadcast, UsageIngestor(db, writer, publish))
    redis = Redis.from_url(redis_url)
    graphql_app = GraphQLApp(services)
    render_pdf = PdfRenderer()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2), db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            async with asyncio.timeout(2):
                await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    async def invoice_pdf(request: Request) -> Response:
        """A signed link (see Invoice.pdfUrl): no Authorization header needed, valid for an hour."""
        try:
            invoice_id = uuid.UUID(request.path_params["invoice_id"])
        except ValueError:
            return Response(error_body("not an invoice id", "NOT_FOUND"), 404, media_type="application/json")
        if not link_is_valid(
            invoice_id,
            request.query_params.get("expires", ""),
            request.query_params.get("signature", ""),
            session_config.secret_key,
        ):
            return Response(
                error_body("the link is invalid or has expired: ask for a new pdfUrl", "FORBIDDEN"),
                403,
                media_type="application/json",
            )
        async with db.read() as session:
            invoice = await session.get(InvoiceRow, invoice_id)
            if invoice is None or invoice.number is None:
                return Response(
                    error_body("no finalized invoice with this id", "NOT_FOUND"), 404, media_type="application/json"
                )
        pdf = await render_pdf(render_invoice, invoice)  # off the event loop, the connection back in the pool
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'},
        )

    async def credit_note_pdf(request: Request) -> Response:
        try:
            note_id = uuid.UUID(request.path_params["note_id"])
        except ValueError:
            return Response(error_body("not a credit note id", "NOT_FOUND"), 404, media_type="application/json")
        if not link_is_valid(
            note_id,
            request.query_params.get("expires", ""),
            request.query_params.get("signature", ""),
            session_config.secret_key,
            kind="credit-note",
        ):
            return Response(
                error_body("the link is invalid or has expired: ask for a new pdfUrl", "FORBIDDEN"),
                403,
                media_type="application/json",
            )
        async with db.read() as session:
            note = await session.get(CreditNoteRow, note_id)
            invoice = await session.get(InvoiceRow, note.invoice_id) if note else None
            if note is None or invoice is None:
                return Response(
                    error_body("no credit note with this id", "NOT_FOUND"), 404, media_type="application/json"
                )
        pdf = await render_pdf(render_credit_note, note, invoice)
        return Response(
            pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{note.number}.pdf"'}
        )

    async def metrics(_: Request) -> Response:
        return Response(metrics_exposition(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await broadcast.connect()
        await writer.start()
        await services.ingestor.cache.start()
        try:
            yield
        finally:
            await services.ingestor.cache.stop()
            await writer.stop()
            render_pdf.close()
            await broadcast.disconnect()
            await redis.aclose()
            await publish.close()
            await db.dispose()

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/v1/invoices/{invoice_id}/pdf", invoice_pdf),
            Route("/v1/credit-notes/{note_id}/pdf", credit_note_pdf),
            Route("/v1/events", events_endpoint(authenticator.authenticate, services.ingestor), methods=["POST"]),
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
        ],
        middleware=[
            Middleware(CorrelationIdMiddleware, header_name="X-Request-ID", validator=valid_request_id),
            Middleware(RequestMetrics),
        ],
        lifespan=lifespan,
    )


def _end_with_serve() -> None:
    """An API process that `serve` spawned ends when `serve` does, even when `serve` was killed outright (kill -9,
    the OOM killer): left alone it would keep the port and go on serving. Linux tells it with SIGTERM
    (PR_SET_PDEATHSIG), which it handles as a graceful shutdown."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):  # one process: this is `serve` itself
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent.pid:  # `serve` was gone before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def app_from_environment() -> Starlette:
    """One API process of `serve` (uvicorn's app factory): settings, database and Redis from the environment, which
    `serve` completes with the URLs of the servers it started. Every process has its own pools, usage writer and
    live hub."""
    _end_with_serve()
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (valueverse serve sets them)")
    return create_app(settings, settings.database_url, settings.redis_url)
