import re
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import numbering
from domain.errors import InvalidInvoiceNumber, InvalidInvoicePrefix, InvalidInvoiceTransition
from domain.numbering import InvoiceStatus

quick = settings(max_examples=80, deadline=None, database=None)

DRAFT, OPEN, PAID, VOID, UNCOLLECTIBLE = InvoiceStatus


# --- numbers --------------------------------------------------------------------------


def test_invoice_number_is_prefix_year_month_and_four_digit_sequence():
    assert numbering.invoice_number("ACME", 2024, 3, 1) == "ACME-202403-0001"
    assert numbering.invoice_number("VV01", 2025, 12, 9999) == "VV01-202512-9999"


def test_invoice_number_grows_past_9999():
    assert numbering.invoice_number("ACME", 2024, 3, 10000) == "ACME-202403-10000"
    assert numbering.invoice_number("ACME", 2024, 3, 1234567) == "ACME-202403-1234567"


@pytest.mark.parametrize("prefix", ["", "A", "acme", "AC-ME", "ABCDEFGHIJKLM", "ACME "])
def test_invoice_prefix_is_2_to_12_capital_letters_or_digits(prefix):
    with pytest.raises(InvalidInvoicePrefix) as caught:
        numbering.invoice_number(prefix, 2024, 1, 1)
    assert caught.value.code == "INVALID_INVOICE_PREFIX" and caught.value.field == ("invoicePrefix",)


@pytest.mark.parametrize(
    ("year", "month", "sequence", "field"),
    [
        (2024, 1, 0, "sequence"),
        (2024, 1, -3, "sequence"),
        (2024, 0, 1, "month"),
        (2024, 13, 1, "month"),
        (0, 1, 1, "year"),
    ],
)
def test_invoice_number_parts_must_be_in_range(year, month, sequence, field):
    with pytest.raises(InvalidInvoiceNumber) as caught:
        numbering.invoice_number("ACME", year, month, sequence)
    assert caught.value.field == (field,)


def test_invoice_number_parts_must_be_ints():
    with pytest.raises(TypeError):
        numbering.invoice_number("ACME", 2024, 1, 1.0)
    with pytest.raises(TypeError):
        numbering.invoice_number("ACME", 2024, True, 1)


def test_credit_notes_are_numbered_after_their_invoice():
    assert numbering.credit_note_number("ACME-202403-0001", 1) == "ACME-202403-0001-CN1"
    assert numbering.credit_note_number("ACME-202403-0001", 12) == "ACME-202403-0001-CN12"
    with pytest.raises(InvalidInvoiceNumber):
        numbering.credit_note_number("ACME-202403-0001", 0)
    with pytest.raises(InvalidInvoiceNumber):
        numbering.credit_note_number("", 1)


@quick
@given(
    prefix=st.from_regex(r"[A-Z0-9]{2,12}", fullmatch=True),
    year=st.integers(1000, 9999),
    month=st.integers(1, 12),
    sequence=st.integers(1, 10**8),
)
def test_invoice_numbers_parse_back_and_sort_by_sequence_within_a_month(prefix, year, month, sequence):
    number = numbering.invoice_number(prefix, year, month, sequence)
    match = re.fullmatch(r"([A-Z0-9]{2,12})-(\d{4})(\d{2})-(\d{4,})", number)
    assert match and match.groups() == (prefix, f"{year:04d}", f"{month:02d}", match[4])
    assert int(match[4]) == sequence
    if sequence < 9999:
        assert numbering.invoice_number(prefix, year, month, sequence + 1) > number


# --- statuses -------------------------------------------------------------------------

ALLOWED = {
    (DRAFT, OPEN),
    (DRAFT, VOID),
    (OPEN, PAID),
    (OPEN, VOID),
    (OPEN, UNCOLLECTIBLE),
    (UNCOLLECTIBLE, PAID),
    (UNCOLLECTIBLE, VOID),
}


@pytest.mark.parametrize(("source", "target"), list(product(InvoiceStatus, InvoiceStatus)))
def test_invoice_status_transitions(source, target):
    assert numbering.can_transition(source, target) == ((source, target) in ALLOWED)
    if (source, target) in ALLOWED:
        assert numbering.transition(source, target) is target
    else:
        with pytest.raises(InvalidInvoiceTransition) as caught:
            numbering.transition(source, target)
        assert caught.value.code == "INVALID_INVOICE_TRANSITION" and caught.value.field == ("status",)


def test_paid_and_void_invoices_are_final():
    assert not any(numbering.can_transition(PAID, target) for target in InvoiceStatus)
    assert not any(numbering.can_transition(VOID, target) for target in InvoiceStatus)


def test_statuses_are_read_from_their_names():
    assert numbering.transition("DRAFT", "OPEN") is OPEN
    with pytest.raises(ValueError):
        numbering.can_transition("SENT", "OPEN")


def test_only_a_payment_taken_back_reopens_a_paid_invoice():
    assert numbering.transition(PAID, OPEN, payment_taken_back=True) is OPEN
    assert not numbering.can_transition(PAID, OPEN)
    for target in InvoiceStatus:
        if target is not OPEN:
            assert not numbering.can_transition(PAID, target, payment_taken_back=True)
    assert not numbering.can_transition(VOID, OPEN, payment_taken_back=True)
