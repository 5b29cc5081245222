"""Dunning: what collection does after a failed attempt, on the organization's schedule.

After every answer of a charge (`services/payments.py` → `settle` → `after_settle`):

- a FAILED attempt with a soft decline plans the next attempt by the campaign's schedule
  (`domain/dunning.py`, counted from the first failed attempt): `Invoice.nextPaymentAttemptAt`, and the
  `retry_invoice_payment` job queued after commit with a deterministic id, deferred to that time;
- a hard decline stops the retries: the customer is asked for a new payment method and the final action
  waits for the end of the window (the `dunning_final_action` job, deferred to it);
- the last attempt of the schedule failing applies the final action at once (mark the invoice
  UNCOLLECTIBLE and/or cancel its subscriptions) and records `dunning.exhausted`;
- while an invoice is in dunning its subscriptions are PAST_DUE; any successful payment recovers it
  (subscriptions ACTIVE again, the jobs still queued find nothing to do).

A customer on a test clock gets no deferred jobs: the clock's advance runs what falls due
(`services/test_clocks.py`, `Collection`). Emails go out through `services/notifications.py`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from db.models import Customer, Invoice, PaymentAttempt
from db.models import DunningCampaign as CampaignRow
from db.repositories.billing import InvoiceRepository
from db.repositories.dunning import DunningRepository
from db.repositories.payments import PaymentRepository
from db.session import Database, UnitOfWork
from domain.dunning import (
    ACTIVE_STATUSES,
    DEFAULT_CAMPAIGN,
    DeclineKind,
    DunningCampaign,
    DunningStatus,
    DunningStep,
    DunningStepKind,
    FinalAction,
    RetrySchedule,
    after_failed_attempt,
    classify_decline,
)
from domain.numbering import InvoiceStatus
from domain.payments import AttemptOutcome, PaymentProvider
from domain.subscriptions import SubscriptionStatus
from integrations.clock import Clock
from integrations.payments.base import ChargeResult, ChargeStatus
from services import audit, notifications
from services.actors import Actor
from services.clocks import customer_now
from services.invoice_state import move_invoice

RETRY_JOB = "retry_invoice_payment"
FINAL_JOB = "dunning_final_action"


def retry_job_id(invoice_id: uuid.UUID, attempt: int) -> str:
    """The job that makes attempt `attempt` of an invoice: queued twice, it runs once."""
    return f"{RETRY_JOB}:{invoice_id}:{attempt}"


def final_job_id(invoice_id: uuid.UUID) -> str:
    return f"{FINAL_JOB}:{invoice_id}"


def step_after(
    result: ChargeResult,
    *,
    provider: PaymentProvider,
    schedule: RetrySchedule,
    first_attempt_at: datetime,
    attempts_made: int,
    final_action: FinalAction,
) -> DunningStep:
    """What to do after attempt `attempts_made` came back FAILED (a hard decline stops the retries)."""
    if result.status is not ChargeStatus.FAILED:
        raise ValueError(f"a {result.status} attempt did not fail")
    return after_failed_attempt(
        schedule,
        first_attempt_at=first_attempt_at,
        attempts_made=attempts_made,
        decline=classify_decline(provider, result.decline_code),
        final_action=final_action,
    )


# --- the campaign ---------------------------------------------------------------------------------


def campaign_of(row: CampaignRow | None) -> DunningCampaign:
    if row is None:
        return DEFAULT_CAMPAIGN
    return DunningCampaign.parse(
        enabled=row.enabled,
        retry_intervals=list(row.retry_intervals),
        max_attempts=row.max_attempts,
        reminder_emails=row.reminder_emails,
        final_action=row.final_action,
    )


def campaign_view(campaign: DunningCampaign) -> dict[str, object]:
    return {
        "enabled": campaign.enabled,
        "retryIntervals": list(campaign.retry_intervals),
        "maxAttempts": campaign.schedule.max_attempts,
        "reminderEmails": campaign.reminder_emails,
        "finalAction": campaign.final_action.value,
    }


@dataclass(frozen=True)
class CampaignChange:
    """What `updateDunningCampaign` takes: an unset field keeps its current value."""

    enabled: bool | None = None
    retry_intervals: list[str] | None = None
    max_attempts: int | None = None
    reminder_emails: bool | None = None
    final_action: FinalAction | None = None


async def read_campaign(db: Database, organization_id: uuid.UUID) -> DunningCampaign:
    async with db.read() as session:
        return campaign_of(await DunningRepository(session, organization_id).campaign())


async def update_campaign(uow: UnitOfWork, actor: Actor, change: CampaignChange) -> DunningCampaign:
    """Validate the whole campaign first (bad intervals, 0 or more than 20 attempts: nothing written), then store it."""
    repo = DunningRepository(uow.session, actor.organization_id)
    row = await repo.campaign(for_update=True)
    current = campaign_of(row)
    intervals = change.retry_intervals if change.retry_intervals is not None else list(current.retry_intervals)
    attempts: int | None
    if change.max_attempts is not None:
        attempts = change.max_attempts
    elif change.retry_intervals is not None:
        attempts = None if row is None else current.schedule.max_attempts
    else:
        attempts = current.schedule.max_attempts
    campaign = DunningCampaign.parse(
        enabled=current.enabled if change.enabled is None else change.enabled,
        retry_intervals=intervals,
        max_attempts=attempts,
        reminder_emails=current.reminder_emails if change.reminder_emails is None else change.reminder_emails,
        final_action=change.final_action or current.final_action,
    )
    before = None if row is None else campaign_view(current)
    if row is None:
        row = CampaignRow(organization_id=actor.organization_id)
        uow.session.add(row)
    else:
        row.updated_at = uow.clock.now()
    row.enabled, row.retry_intervals = campaign.enabled, list(campaign.retry_intervals)
    row.max_attempts, row.reminder_emails = campaign.schedule.max_attempts, campaign.reminder_emails
    row.final_action = campaign.final_action.value
    await uow.session.flush()
    await audit.record(
        uow, actor, "dunning_campaign.updated", "dunning_campaign", row.id, before=before, after=campaign_view(campaign)
    )
    return campaign


# --- after an attempt's answer ---------------------------------------------------------------------


def _on_test_clock(invoice: Invoice) -> bool:
    return invoice.customer.test_clock_id is not None


async def after_settle(uow: UnitOfWork, actor: Actor, invoice: Invoice, latest: AttemptOutcome | None) -> None:
    """What dunning does once an invoice's payments and latest attempt are known (called by `payments.settle`)."""
    if invoice.status == InvoiceStatus.PAID.value or invoice.paid_minor >= invoice.amount_due_minor:
        await _recover(uow, actor, invoice)
        if invoice.status == InvoiceStatus.PAID.value:
            notifications.queue(uow, notifications.EmailKind.PAYMENT_RECEIPT, invoice)
        return
    if latest is AttemptOutcome.REQUIRES_ACTION:
        attempt = await _latest_attempt(uow, invoice)
        if attempt is not None:
            notifications.queue(uow, notifications.EmailKind.ACTION_REQUIRED, invoice, attempt.number)
        return
    if latest is not AttemptOutcome.FAILED or invoice.status != InvoiceStatus.OPEN.value:
        return
    attempt = await _latest_attempt(uow, invoice)
    if attempt is None or attempt.status != "FAILED":
        return
    campaign = campaign_of(await DunningRepository(uow.session, invoice.organization_id).campaign())
    now = uow.clock.now()
    if not campaign.enabled:
        notifications.queue(uow, notifications.EmailKind.PAYMENT_FAILED, invoice, attempt.number)
        return
    first = invoice.dunning_started_at or now
    invoice.dunning_started_at = first
    decline = DeclineKind.HARD if attempt.hard_decline else classify_decline(attempt.provider, attempt.decline_code)
    if attempt.retryable:  # the provider was not reached: no decline at all, retried like a soft one
        decline = DeclineKind.SOFT
    step = after_failed_attempt(
        campaign.schedule,
        first_attempt_at=first,
        attempts_made=attempt.number,
        decline=decline,
        final_action=campaign.final_action,
    )
    before = invoice.dunning_status
    await _mark_past_due(uow, actor, invoice, True)
    if step.kind is DunningStepKind.RETRY:
        assert step.at is not None
        at = max(step.at, now)
        invoice.dunning_status, invoice.next_payment_attempt_at = DunningStatus.RETRYING.value, at
        if not _on_test_clock(invoice):
            uow.enqueue_after_commit(
                RETRY_JOB,
                str(invoice.organization_id),
                str(invoice.id),
                attempt.number + 1,
                job_id=retry_job_id(invoice.id, attempt.number + 1),
                defer_until=at,
            )
        kind = (
            notifications.EmailKind.PAYMENT_FAILED
            if attempt.number == 1 or before is None
            else notifications.EmailKind.DUNNING_REMINDER
        )
        if kind is notifications.EmailKind.PAYMENT_FAILED or campaign.reminder_emails:
            notifications.queue(uow, kind, invoice, attempt.number)
    elif step.kind is DunningStepKind.AWAIT_NEW_METHOD:
        assert step.at is not None
        invoice.dunning_status, invoice.next_payment_attempt_at = DunningStatus.AWAITING_METHOD.value, None
        invoice.dunning_ends_at = max(step.at, now)
        if not _on_test_clock(invoice):
            uow.enqueue_after_commit(
                FINAL_JOB,
                str(invoice.organization_id),
                str(invoice.id),
                job_id=final_job_id(invoice.id),
                defer_until=invoice.dunning_ends_at,
            )
        notifications.queue(uow, notifications.EmailKind.PAYMENT_FAILED, invoice, attempt.number)
    else:
        await _final_action(uow, actor, invoice, campaign.final_action, attempts=attempt.number)
    if invoice.dunning_status != before:
        await audit.record(
            uow,
            actor,
            "dunning.step",
            "invoice",
            invoice.id,
            before={"dunningStatus": before},
            after={
                "dunningStatus": invoice.dunning_status,
                "attempt": attempt.number,
                "decline": decline.value,
                "nextPaymentAttemptAt": invoice.next_payment_attempt_at,
                "finalActionAt": invoice.dunning_ends_at,
            },
        )


async def retry_with_new_method(uow: UnitOfWork, actor: Actor, customer: Customer) -> int:
    """A new default payment method after a hard decline: each of the customer's invoices that waited for one is
    retried at once (as the next attempt of its schedule), instead of waiting for the end of its window. Called in
    the transaction that saves the method; returns the invoices planned."""
    invoices = await DunningRepository(uow.session, customer.organization_id).awaiting_method(customer.id)
    now = await customer_now(uow, customer)  # a test clock's customer: its next advance charges it
    for invoice in invoices:
        attempt = await _latest_attempt(uow, invoice)
        number = (attempt.number if attempt else 0) + 1
        invoice.dunning_status, invoice.next_payment_attempt_at = DunningStatus.RETRYING.value, now
        if not _on_test_clock(invoice):  # a test clock's advance charges it at the clock's time
            uow.enqueue_after_commit(
                RETRY_JOB,
                str(invoice.organization_id),
                str(invoice.id),
                number,
                job_id=retry_job_id(invoice.id, number),
            )
        await audit.record(
            uow, actor, "dunning.step", "invoice", invoice.id,
            before={"dunningStatus": DunningStatus.AWAITING_METHOD.value},
            after={"dunningStatus": invoice.dunning_status, "attempt": number, "reason": "new payment method",
                   "nextPaymentAttemptAt": now},
        )
    return len(invoices)


async def _latest_attempt(uow: UnitOfWork, invoice: Invoice) -> PaymentAttempt | None:
    attempts = await PaymentRepository(uow.session, invoice.organization_id).attempts(invoice.id)
    return attempts[-1] if attempts else None


async def _recover(uow: UnitOfWork, actor: Actor, invoice: Invoice) -> None:
    was = invoice.dunning_status
    invoice.next_payment_attempt_at = None
    if was is None or was == DunningStatus.RECOVERED.value:
        return
    invoice.dunning_status = DunningStatus.RECOVERED.value
    invoice.dunning_ends_at = None
    await _mark_past_due(uow, actor, invoice, False)
    await audit.record(
        uow, actor, "dunning.recovered", "invoice", invoice.id,
        before={"dunningStatus": was}, after={"dunningStatus": invoice.dunning_status},
    )


async def _mark_past_due(uow: UnitOfWork, actor: Actor, invoice: Invoice, past_due: bool) -> None:
    """PAST_DUE while the invoice is in dunning; back when no other invoice of the subscription is."""
    repo = DunningRepository(uow.session, invoice.organization_id)
    for subscription in await repo.subscriptions_of_invoice(invoice.id, for_update=True):
        if subscription.ended_status is not None or subscription.past_due == past_due:
            continue
        if not past_due and await repo.other_invoice_in_dunning(subscription.external_id, invoice.id):
            continue
        subscription.past_due = past_due
        await audit.record(
            uow, actor, "subscription.updated", "subscription", subscription.id,
            before={"pastDue": not past_due}, after={"pastDue": past_due, "invoiceId": str(invoice.id)},
        )


async def _final_action(uow: UnitOfWork, actor: Actor, invoice: Invoice, action: FinalAction, *, attempts: int) -> None:
    """The schedule is spent: the campaign's final action, `dunning.exhausted`, the final notice."""
    invoice.dunning_status, invoice.next_payment_attempt_at = DunningStatus.EXHAUSTED.value, None
    if action.cancels_subscription:
        now = uow.clock.now()
        repo = DunningRepository(uow.session, invoice.organization_id)
        for subscription in await repo.subscriptions_of_invoice(invoice.id, for_update=True):
            if subscription.ended_status is not None:
                continue
            from services import subscriptions as subscription_rules

            before = subscription_rules.subscription_view(subscription)
            subscription.terminated_at = now
            subscription.ended_status = SubscriptionStatus.CANCELED.value
            subscription.past_due = False
            for phase in subscription.phases:
                if phase.ends_at is None or phase.ends_at > now:
                    phase.ends_at = max(now, phase.starts_at)
            await uow.session.flush()
            await audit.record(
                uow, actor, "subscription.canceled", "subscription", subscription.id,
                before=before, after={**subscription_rules.subscription_view(subscription), "reason": "dunning"},
            )
    if action.marks_uncollectible and invoice.status == InvoiceStatus.OPEN.value:
        await move_invoice(uow, actor, invoice, InvoiceStatus.UNCOLLECTIBLE, action="invoice.uncollectible")
    await audit.record(
        uow,
        actor,
        "dunning.exhausted",
        "invoice",
        invoice.id,
        after={"status": invoice.status, "finalAction": action.value, "attempts": attempts},
    )
    notifications.queue(uow, notifications.EmailKind.FINAL_NOTICE, invoice, attempts)


# --- the jobs (and the test clock's advance) ---------------------------------------------------------


async def retry_is_due(
    db: Database, actor: Actor, invoice_id: uuid.UUID, attempt: int, *, clock: Clock | None = None
) -> bool:
    """Whether attempt `attempt` is still the one planned (open, retrying, the previous attempt the last one);
    the caller then charges it (`payments.collect(attempt=…)`). A recovered invoice, a manual retry that came
    first, or a second run of the job: False, nothing charged."""
    async with db.read() as session:
        invoice = await InvoiceRepository(session, actor.organization_id).get(invoice_id)
        if invoice is None or invoice.status != InvoiceStatus.OPEN.value:
            return False
        if invoice.dunning_status != DunningStatus.RETRYING.value or invoice.next_payment_attempt_at is None:
            return False
        if clock is not None and invoice.next_payment_attempt_at > clock.now():
            return False
        attempts = await PaymentRepository(session, actor.organization_id).attempts(invoice_id)
    return bool(attempts) and attempts[-1].number == attempt - 1 and attempts[-1].status == "FAILED"


async def apply_final_action(uow: UnitOfWork, actor: Actor, invoice_id: uuid.UUID) -> bool:
    """The end of a hard decline's window: the final action, unless the invoice was paid (or moved) meanwhile."""
    invoice = await InvoiceRepository(uow.session, actor.organization_id).get(invoice_id, for_update=True)
    if invoice is None or invoice.dunning_status != DunningStatus.AWAITING_METHOD.value:
        return False
    if invoice.status != InvoiceStatus.OPEN.value or invoice.paid_minor >= invoice.amount_due_minor:
        return False
    if invoice.dunning_ends_at is not None and invoice.dunning_ends_at > uow.clock.now():
        return False
    campaign = campaign_of(await DunningRepository(uow.session, invoice.organization_id).campaign())
    attempt = await _latest_attempt(uow, invoice)
    await _final_action(uow, actor, invoice, campaign.final_action, attempts=attempt.number if attempt else 0)
    return True


def in_dunning(status: str | None) -> bool:
    return status is not None and DunningStatus(status) in ACTIVE_STATUSES
