"""ASGI app assembly: /graphql (HTTP + WebSocket), /healthz, /readyz, /metrics, the portals (valueverse/frontend.py);
security headers, CORS."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from cross_web import HTTPException, StarletteRequestAdapter
from prometheus_client import Counter, Histogram
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from db.faults import storage_unavailable
from db.health import database_answers
from db.models import CreditNote as CreditNoteRow
from db.models import Invoice as InvoiceRow
from db.session import Database
from db.usage_writer import UsageWriter
from graph import limits
from graph.context import AppServices, Context
from graph.errors import RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, storage_was_unavailable
from graph.http_events import events_endpoint
from graph.http_webhooks import paypal_webhook_endpoint, stripe_webhook_endpoint
from graph.kept_responses import KeptResponse, KeptResponses
from graph.live_credentials import CredentialWatchingHandler
from graph.schema import schema
from integrations.clock import SYSTEM_CLOCK, Clock
from integrations.jobs import JobQueue
from integrations.live import LiveHub
from integrations.pubsub import RedisPublisher
from integrations.rate_limit import RedisLimitStore
from services.actors import Actor
from services.auth import Authenticator, SessionConfig
from services.documents import PdfRenderer, link_refusal, render_credit_note, render_invoice
from services.errors import Unauthenticated
from services.rate_limits import Limit, LoginGuard, LoginPolicy, RateLimitConfig, RateLimited, RateLimiter
from services.usage.ingestion import UsageIngestor
from services.wire import bank_details
from valueverse.frontend import DEFAULT_BUILD_DIR, GraphiQLInFront, StaticExport
from valueverse.logs import configure_logging
from valueverse.metrics import metrics_endpoint, watch_outbox
from valueverse.security import SecuredStarlette, cors_middleware
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


class LimitedRequestAdapter(StarletteRequestAdapter):
    """Reads a /graphql body only up to its limit (graph/limits.py): a bigger one is refused, not read."""

    async def get_body(self) -> bytes:
        request: Request = self._request
        limit, anonymous = limits.body_limit(request.headers.get("authorization"))
        try:
            return await limits.read_body(request.headers.get("content-length"), request.stream(), limit, anonymous)
        except limits.BodyTooLarge as exc:
            raise HTTPException(413, exc.reason) from None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None


class GraphQLApp(GraphQL):
    """Strawberry's ASGI view with our context, authentication, limits and JSON error bodies."""

    request_adapter_class = LimitedRequestAdapter

    graphql_transport_ws_handler_class = CredentialWatchingHandler  # sockets end with their credentials

    def __init__(self, services: AppServices) -> None:
        super().__init__(
            schema,
            graphql_ide=None,  # browsers get our offline GraphiQL page (valueverse/frontend.py) instead
            allow_queries_via_get=False,
            keep_alive=True,
            keep_alive_interval=15,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.services = services
        self.kept = KeptResponses(schema._schema, services.db)  # the portals' hottest reads (graph/kept_responses.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:  # (a client gone before its request was read: RequestMetrics counts it)
            code = {401: "UNAUTHENTICATED", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE",
                    503: "SERVICE_UNAVAILABLE"}.get(exc.status_code, "BAD_REQUEST")
            headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
            if exc.status_code == 503:
                headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            response = Response(
                error_body(exc.reason, code),
                status_code=exc.status_code,
                media_type="application/json",
                headers=headers,
            )
        await response(scope, receive, send)

    def encode_json(self, data: object) -> str:
        if isinstance(data, KeptResponse):
            return data.body
        # orjson, several times faster than json.dumps on a page of invoices; text, as WebSocket frames must be.
        try:
            return orjson.dumps(data).decode()
        except TypeError:  # what orjson refuses (an integer beyond 64 bits) json writes
            return super().encode_json(data).__str__()

    def decode_json(self, data: str | bytes) -> object:
        # Numbers are read exactly as written: 0.1 is one tenth, never a binary float. Bad UTF-8, bad
        # JSON and deep nesting raise limits.BadJSON (a JSONDecodeError: a WebSocket closes with 4400).
        return limits.decode_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            value = self.decode_json(data)
        except limits.BadJSON as exc:
            raise HTTPException(400, f"Unable to parse request body as JSON: {exc.reason}") from None
        if not isinstance(value, dict | list):  # a list is a batch, which the view refuses with its own reason
            raise HTTPException(400, 'a GraphQL request is a JSON object: {"query": "…", "variables": {…}}')
        return value

    async def execute_operation(self, request: Any, request_adapter: Any, request_data: Any, context: Context,
                                root_value: Any, sub_response: Any) -> Any:
        # Authentication before parsing and validation: an anonymous request may only log in.
        if context.actor is None:
            for data in request_data if isinstance(request_data, list) else [request_data]:
                if (reason := limits.anonymous_refusal(data.query)) is not None:
                    raise HTTPException(401, reason)
        pending = None
        if context.actor is not None and not isinstance(request_data, list) and request_data.query:
            found = await self.kept.look_up(context.actor, request_data.query, request_data.operation_name,
                                            request_data.variables, str(request.base_url), context.clock.now(),
                                            context.usage_lookups)
            if isinstance(found, KeptResponse):
                return found
            pending = found
        try:
            result = await super().execute_operation(
                request=request, request_adapter=request_adapter, request_data=request_data, context=context,
                root_value=root_value, sub_response=sub_response,
            )
        except BaseException:
            if pending is not None:
                self.kept.abandon(pending)
            raise
        if pending is not None:
            if isinstance(result, ExecutionResult) and not result.errors and not result.extensions:
                # Encoded once: the body kept is the body sent.
                kept = KeptResponse(self.encode_json({"data": result.data}))
                self.kept.keep(pending, kept.body, context.kept_until, context.usage_answered)
                return kept
            self.kept.abandon(pending)
        return result

    async def process_result(self, request: Any, result: Any) -> Any:
        if isinstance(result, KeptResponse):
            return result  # written as it is by encode_json
        return await super().process_result(request, result)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        if limits.refused_by_a_limit(response_data):
            response.status_code = 400  # nothing was validated or executed: a limit said no
        elif storage_was_unavailable(response_data):
            response.status_code = 503
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        if isinstance(request, WebSocket):
            return Context(self.services, None, None, request, response)  # authenticated in on_ws_connect
        try:
            actor = await self.services.authenticator.authenticate(request.headers.get("authorization"))
            if actor is not None and request.scope.get("state", {}).get(ADMITTED) != actor.bucket:
                await self.services.limiter.check_credential(actor)  # RateLimited: 429 (rate_limited_response)
        except Unauthenticated as exc:
            raise HTTPException(401, exc.reason) from exc
        except Exception as exc:
            if storage_unavailable(exc):  # the key or session cannot be read: neither good nor bad, unknown
                raise HTTPException(503, UNAVAILABLE_MESSAGE) from None
            raise
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
        await self.services.limiter.check_credential(actor)  # RateLimited: closed with 4429
        context.actor = actor
        context.authorization = header if isinstance(header, str) else None  # checked again while it lives
        return None


def server_error(_request: Request, exc: Exception) -> Response:
    """What no route answered itself: 503 with Retry-After when the database cannot be reached (a PDF link during
    an outage, say), else Starlette's own 500. The trace goes to the log either way, never into the response."""
    if storage_unavailable(exc):
        return Response(error_body(UNAVAILABLE_MESSAGE, "SERVICE_UNAVAILABLE"), 503, media_type="application/json",
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return PlainTextResponse("Internal Server Error", status_code=500)


def rate_limited_response(exc: RateLimited) -> Response:
    """429 with Retry-After and a body naming the limit."""
    body = orjson.dumps(
        {
            "errors": [
                {
                    "message": str(exc),
                    "extensions": {
                        "code": "RATE_LIMITED",
                        "limit": exc.limit,
                        "requestsPerSecond": exc.rule.per_second,
                        "burst": exc.rule.burst,
                        "retryAfter": exc.retry_after_seconds,
                    },
                }
            ]
        }
    )
    return Response(
        body, status_code=429, media_type="application/json", headers={"Retry-After": str(exc.retry_after_seconds)}
    )


class IpRateLimit:
    """The per-IP bucket, before any other work, for /graphql (HTTP and the WebSocket handshake) and /v1/…

    A GraphQL request over HTTP whose credentials this process keeps (services/auth.py) takes from its IP
    address's bucket and its credential's in one round trip to Redis; the view then does not take again
    (`ADMITTED`). Other requests take from the IP address's bucket here, before their credentials are read."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, authenticator: Authenticator) -> None:
        self.app = app
        self.limiter = limiter
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and (scope["path"] == "/graphql" or scope["path"].startswith("/v1/")):
            client = scope.get("client")
            ip = client[0] if client else None
            try:
                kept = None
                if scope["type"] == "http" and scope["path"] == "/graphql":
                    kept = self.authenticator.kept_actor(_header(scope, b"authorization"))
                if kept is not None:
                    await self.limiter.check_ip_and_credential(ip, kept)
                    scope.setdefault("state", {})[ADMITTED] = kept.bucket
                else:
                    await self.limiter.check_ip(ip)
            except RateLimited as exc:
                response = rate_limited_response(exc)
                if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
                    await response(scope, receive, send)
                else:
                    await send({"type": "websocket.close", "code": 1008, "reason": "rate limited"})
                return
        await self.app(scope, receive, send)


ADMITTED = "valueverse.admitted"  # scope["state"]: the credential bucket IpRateLimit already took from


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


# What a request counts as when its client closed the connection before the request was read (nginx's number).
CLIENT_WENT_AWAY = 499


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
        except ClientDisconnect:  # the client went away before its request was read (a closed tab): nobody to answer
            status = CLIENT_WENT_AWAY
        finally:
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
            HTTP_LATENCY.labels(route, scope["method"]).observe(elapsed)
            if status >= 400:  # successful requests are counted, not logged: the hot path stays quiet
                log.log(
                    logging.ERROR if status >= 500 else logging.INFO,
                    "client went away" if status == CLIENT_WENT_AWAY else "request failed",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


def create_app(settings: Settings, database_url: str, redis_url: str, clock: Clock = SYSTEM_CLOCK) -> Starlette:
    publish = RedisPublisher(redis_url)
    broadcast = LiveHub(redis_url, publish=publish, on_connect=publish.resume)
    jobs = JobQueue(redis_url)
    db = Database(database_url, pool_size=settings.db_pool_size, publish=publish, enqueue=jobs, clock=clock)
    session_config = SessionConfig(settings.resolved_secret_key(), settings.session_ttl_seconds,
                                   max(settings.session_max_age_seconds, settings.session_ttl_seconds))
    writer = UsageWriter(db.url)
    ingestor = UsageIngestor(db, writer, publish)
    # Credentials are kept only while this process hears of their changes (the ingestion cache's LISTEN).
    authenticator = Authenticator(db, session_config, listening=lambda: ingestor.cache.listening)
    limit_store = RedisLimitStore(redis_url)
    limiter = RateLimiter(
        limit_store,
        db,
        RateLimitConfig(
            per_credential=Limit(settings.rate_limit_per_second, settings.rate_limit_burst),
            per_ip=Limit(settings.rate_limit_ip_per_second, settings.rate_limit_ip_burst),
        ),
    )
    login_guard = LoginGuard(
        limit_store,
        LoginPolicy(
            account_delay_after=settings.login_delay_after,
            account_lock_after=settings.login_lock_after,
            ip_delay_after=settings.login_ip_delay_after,
            ip_lock_after=settings.login_ip_lock_after,
            first_delay_seconds=settings.login_delay_seconds,
            lock_seconds=settings.login_lock_seconds,
        ),
        limiter.fail_open,
    )
    services = AppServices(
        db,
        authenticator,
        session_config,
        broadcast,
        ingestor,
        limiter,
        login_guard,
        settings.socket_recheck_seconds,
        settings.payment_config(),
        settings.webhook_config(),
        settings.secret_box(),
    )

    async def admit(authorization: str | None) -> Actor | None:
        """Authenticate, then take from the caller's bucket (RateLimited: 429)."""
        actor = await authenticator.authenticate(authorization)
        if actor is not None:
            await limiter.check_credential(actor)
        return actor

    redis = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
    graphql_app = GraphQLApp(services)
    site = StaticExport(settings.frontend_dir or DEFAULT_BUILD_DIR)
    render_pdf = PdfRenderer()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        """ready: everything answers; degraded (still 200): Redis is away, so live pushes pause while requests
        keep working; not ready (503): the database is unreachable, so requests fail."""
        checks: dict[str, str] = {}
        try:
            await database_answers(db)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            async with asyncio.timeout(2):
                await redis.ping()
            checks["redis"] = "ok" if broadcast.connected else "reconnecting: live subscriptions are not back yet"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        if checks["database"] != "ok":
            return JSONResponse({"status": "not ready", "checks": checks}, status_code=503)
        return JSONResponse({"status": "ready" if checks["redis"] == "ok" else "degraded", "checks": checks})

    def refused_link(request: Request, document_id: uuid.UUID, kind: str) -> Response | None:
        """The answer to a signed link that does not open its document (None when it does)."""
        refusal = link_refusal(
            document_id,
            request.query_params.get("expires", ""),
            request.query_params.get("signature", ""),
            session_config.secret_key,
            kind=kind,
            now=db.clock.now().timestamp(),
        )
        if refusal is None:
            return None
        if refusal == "malformed":
            body = error_body("the link is malformed (expires: a Unix time; signature: as issued): "
                              "ask for a new pdfUrl", "BAD_REQUEST")
            return Response(body, 400, media_type="application/json")
        reason = "the link has expired" if refusal == "expired" else "the link's signature does not match"
        return Response(error_body(f"{reason}: ask for a new pdfUrl", "FORBIDDEN"), 403, media_type="application/json")

    async def invoice_pdf(request: Request) -> Response:
        """A signed link (see Invoice.pdfUrl): no Authorization header needed, valid for an hour."""
        try:
            invoice_id = uuid.UUID(request.path_params["invoice_id"])
        except ValueError:
            return Response(error_body("not an invoice id", "NOT_FOUND"), 404, media_type="application/json")
        if (refused := refused_link(request, invoice_id, "invoice")) is not None:
            return refused
        async with db.read() as session:
            invoice = await session.get(InvoiceRow, invoice_id)
            if invoice is None or invoice.number is None:
                return Response(
                    error_body("no finalized invoice with this id", "NOT_FOUND"), 404, media_type="application/json"
                )
            payment_config = services.payments
            bank = await bank_details(session, payment_config, invoice.organization_id) if payment_config else None
        pdf = await render_pdf(render_invoice, invoice, bank)  # off the event loop, the connection back in the pool
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
        if (refused := refused_link(request, note_id, "credit-note")) is not None:
            return refused
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

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await broadcast.start()
        await broadcast.wait_connected(within=2)  # no wait when Redis is away: the hub reconnects by itself
        await writer.start()
        await services.ingestor.cache.start()
        backlog = asyncio.create_task(watch_outbox(db), name="outbox backlog")
        try:
            yield
        finally:
            backlog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await backlog
            await services.ingestor.cache.stop()
            await writer.stop()
            render_pdf.close()
            await broadcast.stop()
            await redis.aclose()
            await limit_store.close()
            await publish.close()
            await jobs.close()
            await db.dispose()

    return SecuredStarlette(
        hsts=settings.hsts,
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint(settings.metrics_token)),
            Route("/v1/invoices/{invoice_id}/pdf", invoice_pdf),
            Route("/v1/credit-notes/{note_id}/pdf", credit_note_pdf),
            Route("/v1/events", events_endpoint(admit, services.ingestor, db.clock), methods=["POST"]),
            Route(
                "/webhooks/stripe/{organization_id}",
                stripe_webhook_endpoint(db, settings.payment_config()),
                methods=["POST"],
            ),
            Route(
                "/webhooks/paypal/{organization_id}",
                paypal_webhook_endpoint(db, settings.payment_config()),
                methods=["POST"],
            ),
            Route("/graphql", GraphiQLInFront(site, graphql_app), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            *site.routes(),
        ],
        middleware=[
            Middleware(CorrelationIdMiddleware, header_name="X-Request-ID", validator=valid_request_id),
            Middleware(RequestMetrics),
            *cors_middleware(settings.cors_origin_list()),
            Middleware(IpRateLimit, limiter=limiter, authenticator=authenticator),
        ],
        exception_handlers={RateLimited: lambda _request, exc: rate_limited_response(exc), Exception: server_error},
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
