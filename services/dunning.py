"""Dunning: what collection does after a failed attempt, on a schedule.

What comes here: after a failed charge (`services/payments.py`), plan the next attempt by the
organization's retry schedule, or wait for a new payment method after a hard decline, or apply
the final action (mark the invoice uncollectible, cancel the subscription) once the schedule is
spent; each step a job queued after commit with a deterministic id, its time from the injected
clock, and the customer told by email (`integrations/email.py`). The rules are in
`domain/dunning.py` (schedule, hard vs soft declines, final actions).

For now: the step after one failed attempt, from the provider's answer, and the id of the job
that makes the next attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from domain.dunning import DunningStep, FinalAction, RetrySchedule, after_failed_attempt, classify_decline
from domain.payments import PaymentProvider
from integrations.payments.base import ChargeResult, ChargeStatus


def retry_job_id(invoice_id: uuid.UUID, attempt: int) -> str:
    """The job that makes attempt `attempt` of an invoice: queued twice, it runs once."""
    return f"retry_invoice_payment:{invoice_id}:{attempt}"


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
