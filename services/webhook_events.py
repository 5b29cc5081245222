"""Outbound webhook events: written in the transaction of the change they tell of.

Every write use case already records its audit entry in its own transaction (services/audit.py); the
entries whose action an organization's endpoints can subscribe to (`FROM_AUDIT`) become events here, so no
use case has to remember to emit them. `audit.record` calls `note`; a before-commit hook then, once per
transaction: finds the enabled endpoints subscribed to the transaction's event types (one query per
organization; nothing more when there are none), renders each event's object as the GraphQL API shows it,
stores the event (`webhook_events`, its body the exact bytes that are signed), a first delivery attempt
per subscribed endpoint (`webhook_deliveries`), and one `deliver_webhook` job per attempt in the outbox.
So a rolled-back change sends nothing, and a committed one is delivered even if the process dies at COMMIT.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import inspect, select

from db.models import CreditNote, Customer, Invoice, Payment, PaymentAttempt, Subscription
from db.repositories.webhooks import WebhookEndpointRepository, add_deliveries, add_events
from db.session import UnitOfWork
from domain import money
from integrations.clock import test_clock_of

EVENT_TYPES: tuple[str, ...] = (
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.uncollectible",
    "payment.succeeded",
    "payment.failed",
    "payment.refunded",
    "credit_note.created",
    "subscription.created",
    "subscription.updated",
    "subscription.terminated",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.usage_alert_triggered",
    "usage.threshold_reached",
    "dunning.exhausted",
)

# Audit actions → the event types they are (an invoice action reaching PAID is invoice.paid as well).
FROM_AUDIT: dict[str, str] = {
    "invoice.created": "invoice.created",
    "invoice.finalized": "invoice.finalized",
    "invoice.paid": "invoice.paid",
    "invoice.voided": "invoice.voided",
    "invoice.uncollectible": "invoice.uncollectible",
    "invoice.reopened": "invoice.payment_failed",  # its payment taken back by the bank (ACH return)
    "credit_note.created": "credit_note.created",
    "customer.created": "customer.created",
    "customer.updated": "customer.updated",
    "customer.deleted": "customer.deleted",
    "subscription.created": "subscription.created",
    "subscription.updated": "subscription.updated",
    "subscription.plan_changed": "subscription.updated",
    "subscription.upgraded": "subscription.updated",
    "subscription.downgrade_scheduled": "subscription.updated",
    "subscription.downgrade_canceled": "subscription.updated",
    "subscription.canceled": "subscription.updated",
    "subscription.terminated": "subscription.terminated",
    # Collection and dunning (services/payments.py, services/dunning.py).
    "payment_attempt.failed": "invoice.payment_failed",
    "payment.webhook.payment_failed": "invoice.payment_failed",  # an ACH debit that failed to settle
    "payment_attempt.requires_action": "invoice.payment_action_required",
    "payment_attempt.succeeded": "payment.succeeded",
    "payment.recorded": "payment.succeeded",
    "payment.refunded": "payment.refunded",
    "dunning.exhausted": "dunning.exhausted",
    "usage_alert.triggered": "customer.usage_alert_triggered",  # services/usage_alerts.py
}
# Audit actions that are a second event type as well: a failed attempt is the invoice's payment_failed and the
# payment's failure (its data: the attempt, as `PaymentAttempt` shows it, with its invoice's id).
ALSO_FROM_AUDIT: dict[str, str] = {
    "payment_attempt.failed": "payment.failed",
    "payment.webhook.payment_failed": "payment.failed",
}
_PAYMENT_EVENTS = frozenset({"payment.succeeded", "payment.failed", "payment.refunded"})
USAGE_ALERT_EVENT = "customer.usage_alert_triggered"
THRESHOLD_EVENT = "usage.threshold_reached"

DELIVER_JOB = "deliver_webhook"


def delivery_job_id(event_id: str, endpoint_id: uuid.UUID | str, attempt: int) -> str:
    """One job per attempt of one event at one endpoint: a second dispatch of the outbox row is not queued again."""
    return f"{DELIVER_JOB}:{event_id}:{endpoint_id}:{attempt}"


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


@dataclass
class _Pending:
    organization_id: uuid.UUID
    type: str
    target_type: str
    target_id: str
    status: str | None  # an invoice's status at the event (a later step of the same transaction moves it on)
    number: str | None = None  # credit_note.created names its invoice and the note's number
    detail: dict[str, Any] | None = None  # payment events: the audit entry's `after` (attempt, payment id)


def note(uow: UnitOfWork, organization_id: uuid.UUID, action: str, target_type: str, target_id: str | None,
         before: Any, after: Any) -> None:
    """What `audit.record` tells: the events an audit entry is (none for most actions)."""
    event_type = FROM_AUDIT.get(action)
    if event_type is None or target_id is None:
        return
    status = after.get("status") if isinstance(after, dict) else None
    if action.startswith(("payment_attempt.", "payment.webhook.")):  # the attempt's status, not the invoice's
        status = None
    number = after.get("number") if isinstance(after, dict) else None
    for kind in (event_type, ALSO_FROM_AUDIT.get(action)):
        if kind == USAGE_ALERT_EVENT:
            detail = dict(after) if isinstance(after, dict) else {}
            firing = str(detail.get("firingId"))
            _add(uow, _Pending(organization_id, kind, target_type, target_id, None, firing, detail))
        elif kind in _PAYMENT_EVENTS:
            detail = after if isinstance(after, dict) else {}
            tag = str(detail.get("attempt") or detail.get("paymentId") or detail.get("refundedMinor") or "")
            _add(uow, _Pending(organization_id, kind, target_type, target_id, None, tag, dict(detail)))
        elif kind is not None:
            _add(uow, _Pending(organization_id, kind, target_type, target_id, status, number))
    was = before.get("status") if isinstance(before, dict) else None
    if target_type == "invoice" and event_type != "invoice.paid" and status == "PAID" and was != "PAID":
        _add(uow, _Pending(organization_id, "invoice.paid", target_type, target_id, status))


def threshold_reached(
    uow: UnitOfWork, invoice: Invoice, *, threshold: str, used: str, subscription_external_id: str
) -> None:
    """Progressive billing issued `invoice` because a subscription's usage reached `threshold` this period."""
    detail = {"threshold": threshold, "usage": used, "subscriptionExternalId": subscription_external_id}
    _add(uow, _Pending(invoice.organization_id, THRESHOLD_EVENT, "invoice", str(invoice.id), None, threshold, detail))


def invoice_moved(uow: UnitOfWork, invoice: Invoice, was: str) -> None:
    """An invoice moved as part of another change (a credit note that leaves nothing due): its own events."""
    kinds = {"PAID": "invoice.paid", "VOID": "invoice.voided", "UNCOLLECTIBLE": "invoice.uncollectible"}
    event_type = kinds.get(invoice.status)
    if event_type is not None and invoice.status != was:
        _add(uow, _Pending(invoice.organization_id, event_type, "invoice", str(invoice.id), invoice.status))


def _add(uow: UnitOfWork, event: _Pending) -> None:
    pending: list[_Pending] = uow.pending.setdefault("webhook_events", [])
    key = (event.organization_id, event.type, event.target_id, event.number)
    seen = {(p.organization_id, p.type, p.target_id, p.number) for p in pending}
    if event.type.endswith(".updated") or key not in seen:
        pending.append(event)
    uow.before_commit("webhook_events", lambda: _write(uow))


async def _write(uow: UnitOfWork) -> None:
    pending: list[_Pending] = uow.pending.pop("webhook_events", [])
    by_org: dict[uuid.UUID, list[_Pending]] = {}
    for event in pending:
        by_org.setdefault(event.organization_id, []).append(event)
    now = uow.clock.now()
    test_clock_id = test_clock_of(uow.clock)  # raised in a test clock's advance: its attempts go by its time
    flushed = False
    for org, events in by_org.items():
        endpoints = await WebhookEndpointRepository(uow.session, org).subscribed(sorted({e.type for e in events}))
        if not endpoints:
            continue
        if not flushed:  # what the transaction staged (and the database's defaults) is there to read
            await uow.session.flush()
            flushed = True
        event_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        for event in events:
            targets = [e for e in endpoints if event.type in e.event_types]
            if not targets:
                continue
            data = await _render(uow, event, now)
            if data is None:
                continue
            event_id = new_event_id()
            body = event_body(event_id, event.type, org, now, data)
            event_rows.append({"id": event_id, "organization_id": org, "type": event.type, "body": body.decode(),
                               "created_at": now})
            for endpoint in targets:
                delivery_rows.append({
                    "id": uuid.uuid4(), "organization_id": org, "endpoint_id": endpoint.id, "event_id": event_id,
                    "event_type": event.type, "attempt": 1, "status": "PENDING", "next_attempt_at": now,
                    "created_at": now, "response_body_excerpt": "", "manual": False, "test_clock_id": test_clock_id,
                })
        await add_events(uow.session, event_rows)
        for row_id in await add_deliveries(uow.session, delivery_rows):
            if test_clock_id is not None:
                continue  # the advance sends it, at the moment it was raised
            row = next(r for r in delivery_rows if r["id"] == row_id)
            uow.enqueue_after_commit(DELIVER_JOB, str(row_id),
                                     job_id=delivery_job_id(row["event_id"], row["endpoint_id"], 1))


def event_body(event_id: str, event_type: str, organization_id: uuid.UUID, at: datetime, data: dict[str, Any]) -> bytes:
    """`{"id", "type", "createdAt", "organizationId", "data"}`: what every endpoint receives, byte for byte."""
    return orjson.dumps(
        {
            "id": event_id,
            "type": event_type,
            "createdAt": at.astimezone(UTC).isoformat(),
            "organizationId": str(organization_id),
            "data": data,
        },
        default=str,
    )


_MODELS: dict[str, type[Any]] = {
    "invoice": Invoice, "customer": Customer, "subscription": Subscription, "credit_note": CreditNote,
}


async def _render(uow: UnitOfWork, event: _Pending, now: datetime) -> dict[str, Any] | None:
    if event.type in _PAYMENT_EVENTS:
        return await _render_payment(uow, event)
    if event.type == USAGE_ALERT_EVENT:
        return await _render_usage_alert(uow, event)
    if event.type == THRESHOLD_EVENT:
        return await _render_threshold(uow, event)
    model = _MODELS.get(event.target_type)
    row: Any
    if event.type == "credit_note.created" and event.target_type == "invoice":
        model = CreditNote
        row = await uow.session.scalar(
            select(CreditNote).where(
                CreditNote.organization_id == event.organization_id,
                CreditNote.invoice_id == uuid.UUID(event.target_id),
                CreditNote.number == event.number,
            )
        )
    elif model is None:
        return None
    else:
        row = await uow.session.get(model, uuid.UUID(event.target_id))
    if row is None:
        return None
    await _load(uow, row, _RELATIONS[model])
    if model is Subscription:
        for phase in row.phases:
            await _load(uow, phase, ("plan",))
    render: Callable[..., dict[str, Any]] = _VIEWS[model]
    data = render(row, now) if model is Subscription else render(row)
    if event.status is not None and model is Invoice:
        data["status"] = event.status
    return data


async def _render_payment(uow: UnitOfWork, event: _Pending) -> dict[str, Any] | None:
    """payment.succeeded / payment.refunded: the `Payment`; payment.failed: the failed `PaymentAttempt`."""
    detail = event.detail or {}
    org = event.organization_id
    if event.type == "payment.failed":
        attempt = await uow.session.scalar(
            select(PaymentAttempt).where(
                PaymentAttempt.organization_id == org,
                PaymentAttempt.invoice_id == uuid.UUID(event.target_id),
                PaymentAttempt.number == int(detail.get("attempt") or 0),
            )
        )
        return attempt_data(attempt) if attempt is not None else None
    payment: Payment | None
    if event.target_type == "payment":
        payment = await uow.session.get(Payment, uuid.UUID(event.target_id))
    elif detail.get("paymentId"):
        payment = await uow.session.get(Payment, uuid.UUID(str(detail["paymentId"])))
    else:
        payment = await uow.session.scalar(
            select(Payment).where(
                Payment.organization_id == org,
                Payment.invoice_id == uuid.UUID(event.target_id),
                Payment.provider_payment_id == detail.get("providerPaymentId"),
            )
        )
    if payment is None or payment.organization_id != org:
        return None
    await _load(uow, payment, ())
    return payment_data(payment)


async def _render_usage_alert(uow: UnitOfWork, event: _Pending) -> dict[str, Any] | None:
    """The alert as the GraphQL `UsageAlert` shows it, what crossed its threshold in which period, the customer."""
    detail = event.detail or {}
    customer = await uow.session.get(Customer, uuid.UUID(str(detail.get("customerId"))))
    if customer is None or customer.organization_id != event.organization_id:
        return None
    return {
        "alert": {
            "id": event.target_id, "name": detail.get("name") or "", "customerExternalId": customer.external_id,
            "metricCode": detail.get("metricCode"), "thresholdType": detail.get("thresholdType"),
            "threshold": detail.get("threshold"),
        },
        "value": detail.get("value"), "currency": detail.get("currency"),
        "subscriptionExternalId": detail.get("subscriptionExternalId"),
        "periodStart": detail.get("periodStart"), "periodEnd": detail.get("periodEnd"),
        "customer": customer_data(customer),
    }


async def _render_threshold(uow: UnitOfWork, event: _Pending) -> dict[str, Any] | None:
    """The threshold reached, the usage amount that reached it, and the interim invoice it issued."""
    invoice = await uow.session.get(Invoice, uuid.UUID(event.target_id))
    if invoice is None:
        return None
    await _load(uow, invoice, _RELATIONS[Invoice])
    detail = event.detail or {}
    return {
        "threshold": detail.get("threshold"), "usageAmount": detail.get("usage"), "currency": invoice.currency,
        "subscriptionExternalId": detail.get("subscriptionExternalId"), "invoice": invoice_data(invoice),
    }


def payment_data(p: Payment) -> dict[str, Any]:
    """A payment as the GraphQL `Payment` shows it."""
    return {
        "id": str(p.id), "provider": p.provider, "method": p.method, "status": p.status,
        "amount": _decimal(p.amount_minor, p.currency), "refundedAmount": _decimal(p.refunded_minor, p.currency),
        "currency": p.currency, "providerPaymentId": p.provider_payment_id, "reference": p.reference,
        "invoiceId": str(p.invoice_id) if p.invoice_id else None, "createdAt": _iso(p.paid_at or p.created_at),
    }


def attempt_data(a: PaymentAttempt) -> dict[str, Any]:
    """A collection attempt as the GraphQL `PaymentAttempt` shows it, with its invoice's id."""
    return {
        "id": str(a.id), "number": a.number, "status": a.status, "amount": _decimal(a.amount_minor, a.currency),
        "currency": a.currency, "declineCode": a.decline_code, "hardDecline": a.hard_decline,
        "failureMessage": a.failure_message, "providerPaymentId": a.provider_payment_id,
        "invoiceId": str(a.invoice_id), "createdAt": _iso(a.finished_at or a.created_at),
    }


def _decimal(minor: int, currency: str) -> str:
    return format(money.from_minor_units(minor, currency), "f")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def customer_data(c: Customer) -> dict[str, Any]:
    """A customer as the GraphQL `Customer` shows it (without its subscriptions)."""
    return {
        "id": str(c.id), "externalId": c.external_id, "name": c.name, "legalName": c.legal_name, "email": c.email,
        "addressLine1": c.address_line1, "addressLine2": c.address_line2, "city": c.city, "state": c.state,
        "postalCode": c.postal_code, "country": c.country, "currency": c.currency, "timezone": c.timezone,
        "taxIdentificationNumber": c.tax_identification_number, "taxExempt": c.tax_exempt,
        "metadata": c.metadata_ or {}, "createdAt": _iso(c.created_at),
    }


def invoice_data(i: Invoice) -> dict[str, Any]:
    """An invoice as the GraphQL `Invoice` shows it: amounts as decimal strings, its lines, its customer."""
    cur = i.currency
    return {
        "id": str(i.id), "number": i.number, "status": i.status, "kind": i.kind, "currency": cur,
        "periodStart": _iso(i.period_start), "periodEnd": _iso(i.period_end), "issuedAt": _iso(i.issued_at),
        "dueAt": _iso(i.due_at), "subtotalAmount": _decimal(i.subtotal_minor, cur),
        "discountAmount": _decimal(i.discount_minor, cur),
        "progressiveBillingCreditAmount": _decimal(i.progressive_credit_minor or 0, cur),
        "taxAmount": _decimal(i.tax_minor, cur), "totalAmount": _decimal(i.total_minor, cur),
        "creditNotesAmount": _decimal(i.credit_notes_minor, cur), "creditsAmount": _decimal(i.credits_minor, cur),
        "amountDue": _decimal(i.amount_due_minor, cur), "reverseCharge": i.reverse_charge, "notes": i.notes,
        "lines": [
            {
                "id": str(line.id), "kind": line.kind, "description": line.description,
                "subscriptionExternalId": line.subscription_external_id,
                "billableMetricCode": line.billable_metric_code,
                "units": format(line.units.normalize(), "f") if line.units is not None else None,
                "periodStart": _iso(line.period_start), "periodEnd": _iso(line.period_end),
                "amount": _decimal(line.amount_minor, cur), "discountAmount": _decimal(line.discount_minor, cur),
                "taxAmount": _decimal(line.tax_minor, cur),
            }
            for line in i.lines
        ],
        "customer": customer_data(i.customer),
    }


def credit_note_data(n: CreditNote) -> dict[str, Any]:
    cur = n.currency
    return {
        "id": str(n.id), "number": n.number, "kind": n.kind, "reason": n.reason, "currency": cur,
        "amount": _decimal(n.amount_minor, cur), "remainingCredit": _decimal(n.remaining_minor, cur),
        "createdAt": _iso(n.created_at), "invoiceId": str(n.invoice_id),
        "items": [
            {"invoiceLineId": str(item.invoice_line_id), "amount": _decimal(item.amount_minor, cur),
             "taxAmount": _decimal(item.tax_minor, cur)}
            for item in n.items
        ],
    }


def subscription_data(s: Subscription, now: datetime) -> dict[str, Any]:
    from services import subscriptions as rules

    phase = rules.phase_at(s, now) if s.phases else None
    return {
        "id": str(s.id), "externalId": s.external_id, "name": s.name, "billingTime": s.billing_time,
        "startedAt": _iso(s.started_at), "trialEndsAt": _iso(s.trial_ends_at), "endingAt": _iso(s.ending_at),
        "terminatedAt": _iso(s.terminated_at), "cancelAtPeriodEnd": s.cancel_at_period_end,
        "status": str(rules.status_now(s, now)),
        "plan": {"id": str(phase.plan.id), "code": phase.plan.code, "name": phase.plan.name} if phase else None,
        "customer": customer_data(s.customer),
    }


_VIEWS: dict[type[Any], Callable[..., dict[str, Any]]] = {
    Invoice: invoice_data, Customer: customer_data, Subscription: subscription_data, CreditNote: credit_note_data,
}
_RELATIONS: dict[type[Any], tuple[str, ...]] = {
    Invoice: ("customer", "lines"), Customer: (), Subscription: ("customer", "phases"), CreditNote: ("items",),
}


async def _load(uow: UnitOfWork, row: Any, relations: tuple[str, ...]) -> None:
    """Load what is not loaded yet (server defaults after the flush, relationships of a row staged by id): in an
    async session nothing may load lazily."""
    state: Any = inspect(row)
    columns = set(state.mapper.column_attrs.keys())
    missing = [name for name in state.unloaded if name in columns or name in relations]
    if missing:
        await uow.session.refresh(row, attribute_names=missing)
