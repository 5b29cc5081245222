"""Outbound webhooks: telling an organization's endpoints what changed.

What comes here: endpoints per organization (URL, secret, the events they want), one message per
committed change (invoice created, finalized, paid, voided; payment succeeded or failed; …)
written to the outbox in the change's transaction, and its delivery by a worker job with
backoff, signed and sent by `integrations/webhooks.py` (Standard Webhooks, no private targets).
A message id is deterministic, so a redelivery is recognisable by the receiver.

Endpoints are managed by the organization's ADMINs (`createWebhookEndpoint`, …); the signing secret is
sealed at rest (integrations/secrets.py) and shown once. Events are written with each change by
services/webhook_events.py; `deliver_due` (the worker's `deliver_webhook` and `sweep_webhooks`) sends the
attempts that are due by the clock, records each outcome and schedules the next attempt (`RETRY_DELAYS`).
An endpoint that answers 410, or fails for five days, is disabled and the organization told (its audit
trail). docs/webhooks.md says all of it for the organizations' developers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, update

from db.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from db.repositories.webhooks import WebhookDeliveryRepository, WebhookEndpointRepository, add_deliveries, claim
from db.session import Database, UnitOfWork
from integrations.clock import TestClockTime
from integrations.secrets import SecretBox
from integrations.webhooks import DeliveryResult, WebhookSender, check_target, generate_secret
from services import audit, staff_emails
from services.actors import Actor, system_actor
from services.errors import Invalid, NotFound
from services.webhook_events import DELIVER_JOB, EVENT_TYPES, delivery_job_id


def message_id(event_type: str, object_id: object, version: int | str) -> str:
    """One message per version of an object's event: `msg_<type>_<object>_<version>`."""
    return f"msg_{event_type.replace('.', '_')}_{object_id}_{version}"


def message_body(event_type: str, data: Mapping[str, Any], *, at: datetime) -> bytes:
    """`{"type", "timestamp", "data"}` as JSON (decimals and ids as strings, as the API shows them)."""
    if at.tzinfo is None:
        raise ValueError("the timestamp must carry a time zone")
    return orjson.dumps({"type": event_type, "timestamp": at.astimezone(UTC).isoformat(), "data": data}, default=str)


# --- endpoints, deliveries, retries ---------------------------------------------------------------------------




log = logging.getLogger("valueverse.webhooks")

# After attempt n fails, attempt n + 1 goes RETRY_DELAYS[n - 1] later (± JITTER); after the last, no more.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1  # each delay is stretched or shrunk by up to a tenth, the same for the same attempt
FAILING_LIMIT = timedelta(days=5)  # failing this long (no success in between): the endpoint is disabled
MAX_URL = 2048
MAX_DESCRIPTION = 500
CLAIM_STALE = timedelta(minutes=2)  # a SENDING attempt this old lost its worker: it is taken again
SWEEP_BATCH = 50
SEND_CONCURRENCY = 10


class WebhookCode:
    INVALID_URL = "INVALID_WEBHOOK_URL"
    INVALID_EVENT_TYPE = "INVALID_EVENT_TYPE"
    NO_EVENT_TYPES = "NO_EVENT_TYPES"
    ENDPOINT_DISABLED = "WEBHOOK_ENDPOINT_DISABLED"
    DESCRIPTION_TOO_LONG = "DESCRIPTION_TOO_LONG"


@dataclass(frozen=True)
class WebhookConfig:
    """What endpoints and deliveries need from settings."""

    box: SecretBox
    allow_private_targets: bool = False
    timeout_seconds: float = 10.0


def retry_delay(delivery_key: str, attempt: int) -> timedelta | None:
    """The wait after automatic attempt `attempt` failed (None: that was the last), with its jitter."""
    if attempt < 1 or attempt > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempt - 1]
    fraction = int.from_bytes(hashlib.sha256(f"{delivery_key}:{attempt}".encode()).digest()[:4], "big") / 2**32
    return base * (1 + JITTER * (2 * fraction - 1))


def check_url(url: str, *, allow_private_targets: bool) -> None:
    """https (any public host); http and private or loopback targets only when the setting allows them."""
    if len(url) > MAX_URL:
        raise Invalid(f"the URL is longer than {MAX_URL} characters", field=("url",), code=WebhookCode.INVALID_URL)
    problem = check_target(url, allow_private_targets=allow_private_targets)
    if problem is None and not allow_private_targets and not url.lower().startswith("https://"):
        problem = "the URL must start with https://"
    if problem is not None:
        raise Invalid(f"{problem} (WEBHOOK_ALLOW_PRIVATE_TARGETS is off)" if not allow_private_targets
                      and "public" in problem else problem, field=("url",), code=WebhookCode.INVALID_URL)


def check_event_types(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise Invalid("name at least one event type", field=("eventTypes",), code=WebhookCode.NO_EVENT_TYPES)
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if unknown:
        raise Invalid(
            f"unknown event type(s) {', '.join(repr(t) for t in unknown)}; known: {', '.join(EVENT_TYPES)}",
            field=("eventTypes",), code=WebhookCode.INVALID_EVENT_TYPE,
        )
    return sorted(set(event_types))


def _check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(f"the description is longer than {MAX_DESCRIPTION} characters", field=("description",),
                      code=WebhookCode.DESCRIPTION_TOO_LONG)
    return description


def endpoint_view(e: WebhookEndpoint) -> dict[str, object]:
    """What the audit trail keeps of an endpoint (never its secret)."""
    return {"url": e.url, "eventTypes": list(e.event_types), "description": e.description, "enabled": e.enabled,
            "disabledReason": e.disabled_reason}


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once, in the answer to createWebhookEndpoint


async def create_endpoint(
    uow: UnitOfWork, actor: Actor, config: WebhookConfig, *, url: str, event_types: Sequence[str],
    description: str = "",
) -> CreatedEndpoint:
    check_url(url, allow_private_targets=config.allow_private_targets)
    types = check_event_types(event_types)
    secret = generate_secret()
    endpoint_id = uuid.uuid4()
    endpoint = WebhookEndpoint(
        id=endpoint_id, url=url, event_types=types, description=_check_description(description), enabled=True,
        secret_sealed=config.box.seal(secret, context=f"webhook_endpoint:{endpoint_id}"),
    )
    await WebhookEndpointRepository(uow.session, actor.organization_id).add(endpoint)
    await audit.record(uow, actor, "webhook_endpoint.created", "webhook_endpoint", endpoint.id,
                       after=endpoint_view(endpoint))
    return CreatedEndpoint(endpoint, secret)


def _endpoint_missing() -> NotFound:
    return NotFound("no webhook endpoint with this id", field=("id",))


async def update_endpoint(
    uow: UnitOfWork, actor: Actor, config: WebhookConfig, endpoint_id: uuid.UUID, *, url: str | None = None,
    event_types: Sequence[str] | None = None, description: str | None = None, enabled: bool | None = None,
) -> WebhookEndpoint:
    repo = WebhookEndpointRepository(uow.session, actor.organization_id)
    endpoint = await repo.get_or(endpoint_id, _endpoint_missing(), for_update=True)
    before = endpoint_view(endpoint)
    if url is not None:
        check_url(url, allow_private_targets=config.allow_private_targets)
        endpoint.url = url
    if event_types is not None:
        endpoint.event_types = check_event_types(event_types)
    if description is not None:
        endpoint.description = _check_description(description)
    if enabled is not None:
        endpoint.enabled = enabled
        if enabled:  # enabled again: its past failures no longer count
            endpoint.disabled_reason = None
            endpoint.failing_since = None
        elif endpoint.disabled_reason is None:
            endpoint.disabled_reason = "disabled by the organization"
    await audit.record(uow, actor, "webhook_endpoint.updated", "webhook_endpoint", endpoint.id, before=before,
                       after=endpoint_view(endpoint))
    return endpoint


async def delete_endpoint(uow: UnitOfWork, actor: Actor, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    repo = WebhookEndpointRepository(uow.session, actor.organization_id)
    endpoint = await repo.get_or(endpoint_id, _endpoint_missing(), for_update=True)
    await audit.record(uow, actor, "webhook_endpoint.deleted", "webhook_endpoint", endpoint.id,
                       before=endpoint_view(endpoint))
    await repo.delete(endpoint)  # its delivery log goes with it
    return endpoint


async def redeliver(uow: UnitOfWork, actor: Actor, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again now, as a new attempt (the same `webhook-id`, so a receiver
    that already handled it recognises it). A redelivery that fails is not retried on the schedule."""
    org = actor.organization_id
    deliveries = WebhookDeliveryRepository(uow.session, org)
    original = await deliveries.get_or(delivery_id, NotFound("no webhook delivery with this id", field=("deliveryId",)))
    endpoint = await WebhookEndpointRepository(uow.session, org).get_or(original.endpoint_id, _endpoint_missing())
    if not endpoint.enabled:
        raise Invalid(f"the endpoint is disabled ({endpoint.disabled_reason}): enable it first",
                      field=("deliveryId",), code=WebhookCode.ENDPOINT_DISABLED)
    attempt = await deliveries.last_attempt(endpoint.id, original.event_id) + 1
    now = uow.clock.now()
    row = WebhookDelivery(
        id=uuid.uuid4(), endpoint_id=endpoint.id, event_id=original.event_id, event_type=original.event_type,
        attempt=attempt, manual=True, status="PENDING", next_attempt_at=now, created_at=now,
        response_body_excerpt="",
    )
    await deliveries.add(row)
    await audit.record(uow, actor, "webhook.redelivered", "webhook_delivery", row.id,
                       after={"eventId": row.event_id, "endpointId": str(endpoint.id), "attempt": attempt})
    uow.enqueue_after_commit(DELIVER_JOB, str(row.id), job_id=delivery_job_id(row.event_id, endpoint.id, attempt))
    return row


# --- delivery (the worker's) -------------------------------------------------------------------------------------


@dataclass
class _Send:
    delivery: WebhookDelivery
    url: str | None = None  # None: nothing to send (the endpoint is disabled or its secret unreadable)
    secret: str = ""
    body: bytes = b""
    skip_reason: str | None = None


@dataclass
class Swept:
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    disabled: list[uuid.UUID] = field(default_factory=list)


async def deliver_due(
    db: Database,
    sender: WebhookSender,
    config: WebhookConfig,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    organization_id: uuid.UUID | None = None,
    limit: int = SWEEP_BATCH,
    test_clock: TestClockTime | None = None,
) -> Swept:
    """Send the attempts that are due by the database's clock (only `ids`, when given; only one organization's,
    when given), at most `limit`, at most SEND_CONCURRENCY at once, each bounded by the sender's timeout: a
    receiver that hangs holds its own attempt, never the others'. Each outcome is recorded in its own
    transaction, with the next attempt when one is due. `test_clock`: the attempts raised during that test
    clock's advances instead, due by its time, their retries scheduled on it (the signature's timestamp stays
    real time: receivers check it against theirs)."""
    now = (test_clock or db.clock).now()
    sends: list[_Send] = []
    async with db.unit_of_work(clock=test_clock) as uow:
        claimed = await claim(uow.session, now=now, stale_before=now - CLAIM_STALE, limit=limit, ids=ids,
                              organization_id=organization_id,
                              test_clock_id=test_clock.test_clock_id if test_clock else None)
        if not claimed:
            return Swept()
        endpoints = {
            e.id: e for e in await uow.session.scalars(
                select(WebhookEndpoint).where(WebhookEndpoint.id.in_({d.endpoint_id for d in claimed}))
            )
        }
        events = {
            e.id: e for e in await uow.session.scalars(
                select(WebhookEvent).where(WebhookEvent.id.in_({d.event_id for d in claimed}))
            )
        }
        for delivery in claimed:
            endpoint, event = endpoints.get(delivery.endpoint_id), events.get(delivery.event_id)
            send = _Send(delivery)
            if endpoint is None or event is None:
                send.skip_reason = "the endpoint was deleted"
            elif not endpoint.enabled:
                send.skip_reason = f"the endpoint is disabled ({endpoint.disabled_reason})"
            else:
                try:
                    send.secret = config.box.open(endpoint.secret_sealed, context=f"webhook_endpoint:{endpoint.id}")
                    send.url, send.body = endpoint.url, event.body.encode()
                except ValueError as exc:
                    send.skip_reason = f"the endpoint's secret cannot be read: {exc}"
            sends.append(send)
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(send: _Send) -> tuple[_Send, DeliveryResult | None]:
        if send.url is None:
            return send, None
        async with gate:
            result = await sender.deliver(send.url, secret=send.secret, message_id=send.delivery.event_id,
                                          timestamp=db.clock.now(), body=send.body)
            return send, result

    swept = Swept()
    answered = await asyncio.gather(*(one(s) for s in sends))
    # Delivered and skipped attempts end here: all of them in one transaction. A failure plans its retry, may
    # disable its endpoint: each in its own, with the endpoint locked.
    settled = [(s, r) for s, r in answered if r is None or r.delivered]
    try:
        await _record_settled(db, settled, swept, test_clock)
    except Exception:  # the attempts stay SENDING and are taken again once stale
        log.exception("recording %d webhook deliveries failed", len(settled))
    for send, result in answered:
        if result is None or result.delivered:
            continue
        try:
            await _record(db, send, result, swept, test_clock)
        except Exception:  # the attempt stays SENDING and is taken again once stale
            log.exception("recording webhook delivery %s failed", send.delivery.id)
    return swept


async def _record_settled(
    db: Database,
    settled: Sequence[tuple[_Send, DeliveryResult | None]],
    swept: Swept,
    test_clock: TestClockTime | None,
) -> None:
    """Attempts that were delivered (2xx) or had nothing to send (skipped), in one transaction: an UPDATE by
    primary key for all of them, and the endpoints that were failing are failing no more. No endpoint is locked
    for a success: deliveries to one endpoint never wait for each other."""
    if not settled:
        return
    async with db.unit_of_work(clock=test_clock) as uow:
        now = uow.clock.now()
        rows: list[dict[str, object]] = []
        for send, result in settled:
            row: dict[str, object] = {"id": send.delivery.id, "attempted_at": now, "claimed_at": None,
                                      "next_attempt_at": None}
            if result is None:
                row.update(status="SKIPPED", error=send.skip_reason, response_status=None,
                           response_body_excerpt="", duration_ms=None)
            else:
                row.update(status="SUCCEEDED", error=result.error, response_status=result.status_code,
                           response_body_excerpt=result.response_excerpt, duration_ms=result.duration_ms)
            rows.append(row)
        await uow.session.execute(update(WebhookDelivery), rows)
        recovered = {s.delivery.endpoint_id for s, r in settled if r is not None}
        if recovered:
            await uow.session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id.in_(recovered), WebhookEndpoint.failing_since.is_not(None))
                .values(failing_since=None)
            )
    for _, result in settled:
        if result is None:
            swept.skipped += 1
        else:
            swept.sent += 1
            swept.succeeded += 1


async def _record(
    db: Database, send: _Send, result: DeliveryResult, swept: Swept, test_clock: TestClockTime | None
) -> None:
    """A failed attempt: its retry on the schedule, or its endpoint disabled (410, or failing for too long)."""
    d = send.delivery
    async with db.unit_of_work(clock=test_clock) as uow:
        now = uow.clock.now()
        values: dict[str, object] = {
            "attempted_at": now, "claimed_at": None, "status": "FAILED", "next_attempt_at": None,
            "response_status": result.status_code, "response_body_excerpt": result.response_excerpt,
            "error": result.error, "duration_ms": result.duration_ms,
        }
        swept.sent += 1
        swept.failed += 1
        endpoint = await uow.session.get(WebhookEndpoint, d.endpoint_id, with_for_update=True)
        reason: str | None = None
        if endpoint is not None:
            endpoint.failing_since = endpoint.failing_since or now
            if result.gone:
                reason = "the endpoint answered 410 Gone"
            elif now - endpoint.failing_since >= FAILING_LIMIT:
                since = f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
                reason = f"every delivery failed for {FAILING_LIMIT.days} days (since {since})"
        delay = None if (reason or d.manual) else retry_delay(f"{d.endpoint_id}:{d.event_id}", d.attempt)
        if endpoint is not None and endpoint.enabled and reason is not None:
            await _disable(uow, endpoint, reason)
            swept.disabled.append(endpoint.id)
        if delay is not None and endpoint is not None and endpoint.enabled:
            due = now + delay
            values["next_attempt_at"] = due
            new = await add_deliveries(uow.session, [{
                "id": uuid.uuid4(), "organization_id": d.organization_id, "endpoint_id": d.endpoint_id,
                "event_id": d.event_id, "event_type": d.event_type, "attempt": d.attempt + 1, "manual": False,
                "status": "PENDING", "next_attempt_at": due, "created_at": now, "response_body_excerpt": "",
                "test_clock_id": d.test_clock_id,
            }])
            if not new:
                values["next_attempt_at"] = None
        await uow.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == d.id).values(**values))


async def _disable(uow: UnitOfWork, endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable an endpoint that is gone or keeps failing, and tell the organization: its audit trail, and an email
    to its owners and admins (services/staff_emails.py). What was still to send to it is skipped."""
    before = endpoint_view(endpoint)
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    actor = system_actor(endpoint.organization_id, name="webhook deliveries", kind="job")
    await audit.record(uow, actor, "webhook_endpoint.disabled", "webhook_endpoint", endpoint.id, before=before,
                       after=endpoint_view(endpoint))
    await uow.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "PENDING")
        .values(status="SKIPPED", error=f"the endpoint was disabled: {reason}", next_attempt_at=None)
    )
    staff_emails.queue_endpoint_disabled(uow, endpoint)
    log.warning("webhook endpoint %s of organization %s disabled: %s", endpoint.id, endpoint.organization_id, reason)
