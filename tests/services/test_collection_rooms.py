"""The first pieces of payments, dunning and outbound webhooks (pure: no server needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from domain.dunning import DunningStepKind, FinalAction, RetrySchedule
from domain.payments import AttemptOutcome, PaymentProvider
from integrations.payments.base import ChargeResult, ChargeStatus
from services import dunning, payments, webhooks

INVOICE = uuid.UUID("00000000-0000-0000-0000-00000000abcd")
FIRST = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_an_attempt_sends_the_same_idempotency_key_every_time() -> None:
    first = payments.charge_request(
        INVOICE, 2, customer_id="cus_1", payment_method_id="pm_1", amount_minor=1250, currency="EUR"
    )
    again = payments.charge_request(
        INVOICE, 2, customer_id="cus_1", payment_method_id="pm_1", amount_minor=1250, currency="EUR"
    )
    assert first == again and first.idempotency_key == f"charge_invoice:{INVOICE}:2"
    assert first.metadata == {"invoice_id": str(INVOICE), "attempt": "2"}
    with pytest.raises(ValueError):
        payments.charge_request(INVOICE, 1, customer_id="c", payment_method_id="p", amount_minor=0, currency="EUR")


def test_a_provider_answer_is_an_attempt_outcome() -> None:
    for status in ChargeStatus:
        assert payments.attempt_outcome(ChargeResult(status, 100, "EUR")) is AttemptOutcome(status.value)


def test_a_soft_decline_retries_on_the_schedule_and_a_hard_one_waits_for_a_new_method() -> None:
    schedule = RetrySchedule.parse(["P1D", "P2D"], 3)
    soft = ChargeResult(ChargeStatus.FAILED, 100, "USD", decline_code="insufficient_funds")
    step = dunning.step_after(
        soft,
        provider=PaymentProvider.STRIPE,
        schedule=schedule,
        first_attempt_at=FIRST,
        attempts_made=1,
        final_action=FinalAction.MARK_UNCOLLECTIBLE,
    )
    assert (step.kind, step.at) == (DunningStepKind.RETRY, FIRST + timedelta(days=1))
    hard = ChargeResult(ChargeStatus.FAILED, 100, "USD", decline_code="stolen_card")
    step = dunning.step_after(
        hard,
        provider=PaymentProvider.STRIPE,
        schedule=schedule,
        first_attempt_at=FIRST,
        attempts_made=1,
        final_action=FinalAction.BOTH,
    )
    assert (step.kind, step.at) == (DunningStepKind.AWAIT_NEW_METHOD, FIRST + timedelta(days=3))
    assert dunning.retry_job_id(INVOICE, 2) == f"retry_invoice_payment:{INVOICE}:2"


def test_a_webhook_message_has_a_stable_id_and_a_json_body() -> None:
    assert webhooks.message_id("invoice.paid", INVOICE, 3) == f"msg_invoice_paid_{INVOICE}_3"
    body = orjson.loads(webhooks.message_body("invoice.paid", {"id": INVOICE}, at=FIRST))
    assert body == {"type": "invoice.paid", "timestamp": "2026-03-01T09:00:00+00:00", "data": {"id": str(INVOICE)}}
