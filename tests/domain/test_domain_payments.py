"""Payments against an invoice: allocation, refunds, status (integer minor units)."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import payments
from domain.errors import InvalidPaymentAmount, InvalidRefundAmount, PaymentCurrencyMismatch, RefundExceedsPaid
from domain.payments import (
    AllocationKind,
    AttemptOutcome,
    InvoicePaymentStatus,
    PaymentRecord,
    PaymentState,
)

quick = settings(max_examples=150, deadline=None, database=None)


def test_partial_payment_leaves_the_rest_due():
    allocation = payments.allocate_payment(amount_due=10_000, already_paid=0, payment=4_000)
    assert (allocation.applied, allocation.excess, allocation.remaining_due) == (4_000, 0, 6_000)
    assert allocation.kind is AllocationKind.PARTIAL


def test_exact_payment_settles_the_invoice():
    allocation = payments.allocate_payment(amount_due=10_000, already_paid=4_000, payment=6_000)
    assert (allocation.applied, allocation.excess, allocation.remaining_due) == (6_000, 0, 0)
    assert allocation.kind is AllocationKind.EXACT


def test_overpayment_excess_is_what_the_invoice_did_not_owe():
    allocation = payments.allocate_payment(amount_due=10_000, already_paid=4_000, payment=7_500)
    assert (allocation.applied, allocation.excess, allocation.remaining_due) == (6_000, 1_500, 0)
    assert allocation.kind is AllocationKind.OVERPAYMENT


def test_payment_on_a_settled_invoice_is_all_excess():
    allocation = payments.allocate_payment(amount_due=10_000, already_paid=10_000, payment=500)
    assert (allocation.applied, allocation.excess) == (0, 500)


@pytest.mark.parametrize("amount", [0, -1])
def test_payment_of_zero_or_less_is_refused(amount):
    with pytest.raises(InvalidPaymentAmount) as raised:
        payments.allocate_payment(amount_due=100, already_paid=0, payment=amount)
    assert raised.value.field == ("amount",)


def test_minor_units_must_be_int():
    with pytest.raises(TypeError):
        payments.allocate_payment(amount_due=100, already_paid=0, payment=D(5))
    with pytest.raises(TypeError):
        payments.check_refund(amount=1.0, paid=100, already_refunded=0)


@quick
@given(
    due=st.integers(0, 10**12),
    paid=st.integers(0, 10**12),
    payment=st.integers(1, 10**12),
)
def test_allocations_add_up(due, paid, payment):
    allocation = payments.allocate_payment(amount_due=due, already_paid=paid, payment=payment)
    assert allocation.applied + allocation.excess == payment
    assert 0 <= allocation.applied <= max(due - paid, 0)
    assert allocation.remaining_due == max(due - paid, 0) - allocation.applied
    assert allocation.excess == 0 or allocation.remaining_due == 0


@quick
@given(due=st.integers(1, 10**9), parts=st.lists(st.integers(1, 10**8), min_size=1, max_size=20))
def test_a_sequence_of_payments_never_applies_more_than_due(due, parts):
    applied = excess = 0
    for part in parts:
        allocation = payments.allocate_payment(amount_due=due, already_paid=applied, payment=part)
        applied += allocation.applied
        excess += allocation.excess
    assert applied == min(due, sum(parts))
    assert applied + excess == sum(parts)


def test_amount_to_minor_is_exact_and_refuses_extra_places():
    assert payments.amount_to_minor(D("12.34"), "USD") == 1234
    assert payments.amount_to_minor(D("1500"), "JPY") == 1500
    assert payments.amount_to_minor(D("1.250"), "KWD") == 1250
    with pytest.raises(InvalidPaymentAmount):
        payments.amount_to_minor(D("12.345"), "USD")
    with pytest.raises(InvalidPaymentAmount):
        payments.amount_to_minor(D("0"), "USD")


def test_payment_in_another_currency_is_refused():
    payments.check_currency("EUR", "eur")
    with pytest.raises(PaymentCurrencyMismatch) as raised:
        payments.check_currency("EUR", "USD")
    assert raised.value.code == "PAYMENT_CURRENCY_MISMATCH"


def test_refund_is_bounded_by_what_was_paid():
    assert payments.check_refund(amount=300, paid=1_000, already_refunded=0) == 300
    assert payments.check_refund(amount=700, paid=1_000, already_refunded=300) == 1_000
    with pytest.raises(RefundExceedsPaid) as raised:
        payments.check_refund(amount=1, paid=1_000, already_refunded=1_000)
    assert raised.value.code == "REFUND_EXCEEDS_PAID"
    with pytest.raises(InvalidRefundAmount):
        payments.check_refund(amount=0, paid=1_000, already_refunded=0)


@quick
@given(paid=st.integers(0, 10**9), requests=st.lists(st.integers(-5, 10**9), max_size=30))
def test_refunds_never_exceed_what_was_paid(paid, requests):
    refunded = 0
    for amount in requests:
        try:
            refunded = payments.check_refund(amount=amount, paid=paid, already_refunded=refunded)
        except InvalidRefundAmount:
            pass
        assert 0 <= refunded <= paid
    assert payments.refundable(paid=paid, already_refunded=refunded) == paid - refunded


def record(amount, state=PaymentState.SUCCEEDED, refunded=0):
    return PaymentRecord(amount, state, refunded)


@pytest.mark.parametrize(
    ("records", "latest", "expected"),
    [
        ([], None, InvoicePaymentStatus.PENDING),
        ([record(400)], None, InvoicePaymentStatus.PENDING),
        ([record(1_000)], AttemptOutcome.SUCCEEDED, InvoicePaymentStatus.SUCCEEDED),
        ([record(400), record(600)], None, InvoicePaymentStatus.SUCCEEDED),
        ([record(1_000, refunded=1_000)], None, InvoicePaymentStatus.SUCCEEDED),
        ([record(1_000, PaymentState.PROCESSING)], AttemptOutcome.PROCESSING, InvoicePaymentStatus.PROCESSING),
        ([], AttemptOutcome.REQUIRES_ACTION, InvoicePaymentStatus.REQUIRES_ACTION),
        ([], AttemptOutcome.FAILED, InvoicePaymentStatus.FAILED),
        ([record(400)], AttemptOutcome.FAILED, InvoicePaymentStatus.FAILED),
        ([record(1_000, PaymentState.RETURNED)], AttemptOutcome.SUCCEEDED, InvoicePaymentStatus.FAILED),
        ([record(1_000, PaymentState.FAILED)], None, InvoicePaymentStatus.PENDING),
    ],
)
def test_invoice_payment_status_from_payments_and_latest_attempt(records, latest, expected):
    assert payments.invoice_payment_status(total_due=1_000, payments=records, latest_attempt=latest) is expected


def test_an_invoice_owing_nothing_is_paid():
    assert payments.invoice_payment_status(total_due=0, payments=[]) is InvoicePaymentStatus.SUCCEEDED


def test_amount_paid_counts_settled_payments_less_refunds():
    records = [record(600, refunded=100), record(400, PaymentState.PROCESSING), record(300, PaymentState.RETURNED)]
    assert payments.amount_paid(records) == 500
