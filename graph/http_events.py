"""POST /v1/events: usage for high-volume senders, without GraphQL's per-field cost.

Same semantics and answer as the ingestUsage mutation. The body is a JSON array of events
(`application/json`) or a CloudEvents 1.0 batch (`application/cloudevents-batch+json`: `id` is
the transaction id, `subject` the customer, `type` the metric code, `time` the timestamp,
`data` the properties). Numbers are decoded as decimals, exactly as written.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from db.faults import storage_unavailable
from db.models import Role
from db.usage_writer import WriterUnavailable
from domain.errors import DomainError
from domain.usage_events import PROPERTIES_MAX_DEPTH, batch_size
from integrations.clock import Clock
from services.errors import Unauthenticated
from services.usage.ingestion import NOT_AN_EVENT, EventInput, UsageIngestor

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Checked on Content-Length and while the body streams in: a larger body is never read whole."""
RETRY_AFTER_SECONDS = 1
"""Told with 503: when storage is back, the events (same transaction ids) can be sent again safely."""


def _exact(text: str) -> Decimal:
    """A JSON number with a fraction or exponent, exactly as written; one Decimal cannot hold
    (an exponent beyond ±10^18) becomes NaN, which that event's checks reject by itself."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")


_decoder = msgspec.json.Decoder(float_hook=_exact)
_encoder = msgspec.json.Encoder()


def _error(status: int, code: str, message: str) -> Response:
    body = _encoder.encode({"errors": [{"message": message, "extensions": {"code": code}}]})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _unavailable() -> Response:
    return _error(503, "SERVICE_UNAVAILABLE", "usage cannot be stored right now: nothing was accepted, retry")


def _too_large() -> Response:
    limit = f"{MAX_BODY_BYTES // 2**20} MiB ({MAX_BODY_BYTES:,} bytes)"
    return _error(413, "PAYLOAD_TOO_LARGE", f"a body of POST /v1/events holds at most {limit}")


def _plain(item: Any) -> EventInput:
    if not isinstance(item, dict):
        return EventInput(NOT_AN_EVENT, None)
    return EventInput(item.get("transactionId"), item.get("metricCode"), item.get("customerExternalId"),
                      item.get("subscriptionExternalId"), item.get("timestamp"), item.get("properties"))


def _cloud_event(item: Any) -> EventInput:
    if not isinstance(item, dict) or item.get("specversion") != "1.0":
        return EventInput(NOT_AN_EVENT, None)
    return EventInput(item.get("id"), item.get("type"), item.get("subject"), None, item.get("time"),
                      item.get("data"))


def events_endpoint(authenticate: Any, ingestor: UsageIngestor, clock: Clock) -> Any:
    async def post_events(request: Request) -> Response:
        try:
            actor = await authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            return _error(401, "UNAUTHENTICATED", exc.reason)
        except Exception as exc:
            if storage_unavailable(exc):
                return _unavailable()
            raise
        if actor is None:
            return _error(401, "UNAUTHENTICATED", "send 'Authorization: Bearer <API key>'")
        if not actor.has_role(Role.FINANCE):
            return _error(403, "FORBIDDEN", f"sending usage needs the FINANCE role or stronger, not {actor.role}")
        media_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media_type not in ("application/json", "application/cloudevents-batch+json"):
            return _error(415, "UNSUPPORTED_MEDIA_TYPE",
                          "send application/json (an array of events) or application/cloudevents-batch+json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _too_large()
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _too_large()
        try:
            items = _decoder.decode(body)
        except msgspec.DecodeError as exc:
            return _error(400, "INVALID_JSON", f"the body is not JSON: {exc}")
        except UnicodeDecodeError:
            return _error(400, "INVALID_JSON", "the body is not UTF-8")
        except RecursionError:
            return _error(400, "INVALID_JSON", "the body is nested too deeply to be read "
                          f"(event properties may nest {PROPERTIES_MAX_DEPTH} levels)")
        if not isinstance(items, list):
            return _error(400, "INVALID_BODY", "the body must be a JSON array of events")
        convert = _cloud_event if media_type == "application/cloudevents-batch+json" else _plain
        try:
            batch_size(len(items))  # before any work per item
            result = await ingestor.ingest(actor, [convert(item) for item in items], clock.now())
        except DomainError as exc:
            return _error(400 if exc.code != "BATCH_TOO_LARGE" else 413, exc.code, exc.message)
        except WriterUnavailable:
            return _unavailable()
        return Response(_encoder.encode({
            "accepted": result.accepted, "duplicates": result.duplicates,
            "rejected": [{"index": r.index, "transactionId": r.transaction_id, "code": r.code, "message": r.message}
                         for r in result.rejected]}), media_type="application/json")

    return post_events
