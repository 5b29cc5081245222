"""Billing keys: each form is built and read back by `BillingKey`, exactly as stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.billing_keys import BillingKey, KeyKind

SUB = uuid.UUID("6f1c6f59-0a8e-4d8e-9d43-6d0c1f7a4b11")
CHARGE = uuid.UUID("0b9a2a61-0a8e-4d8e-9d43-6d0c1f7a4b22")
INVOICE = uuid.UUID("9e6e1d0c-0a8e-4d8e-9d43-6d0c1f7a4b33")
MARCH = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_billing_date_key_is_the_date_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    key = BillingKey.billing_date(datetime(2026, 3, 1, 1, 0, tzinfo=paris))
    assert str(key) == "2026-03-01T00:00:00+00:00"
    assert BillingKey.parse(str(key)) == key and key.kind is KeyKind.BILLING_DATE


def test_a_voided_key_keeps_its_date_and_names_the_invoice() -> None:
    key = BillingKey.billing_date(MARCH).voided(INVOICE)
    assert str(key) == f"2026-03-01T00:00:00+00:00:voided:{INVOICE}"
    parsed = BillingKey.parse(str(key))
    assert parsed.kind is KeyKind.VOIDED and parsed.at == MARCH and parsed.voided_invoice_id == INVOICE


def test_only_a_billing_date_key_is_set_aside() -> None:
    with pytest.raises(ValueError):
        BillingKey.upgrade(SUB, MARCH).voided(INVOICE)


def test_an_upgrade_key_names_the_subscription_and_moment() -> None:
    at = datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
    key = BillingKey.upgrade(SUB, at)
    assert str(key) == f"upgrade:{SUB}:2026-03-14T09:26:53.589793+00:00"
    assert BillingKey.parse(str(key)) == key


def test_interim_keys_share_their_period_prefix() -> None:
    start = datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)
    prefix = BillingKey.progressive_prefix(SUB, start)
    assert prefix == f"progressive:{SUB}:2026-03-01T08:30:00.123456+00:00:"
    threshold = BillingKey.threshold(SUB, start, Decimal("20"))
    advance = BillingKey.advance(SUB, start, CHARGE, Decimal("12.50"))
    assert str(threshold) == prefix + "20"
    assert str(advance) == f"{prefix}advance:{CHARGE}:12.50"
    assert str(advance).startswith(BillingKey.advance_prefix(SUB, start, CHARGE))
    assert BillingKey.parse(str(threshold)) == threshold and BillingKey.parse(str(advance)) == advance


@pytest.mark.parametrize("text", ["", "upgrade:x", "progressive:nope", "2026-03-01T00:00:00", "voided", "a:b"])
def test_what_is_no_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        BillingKey.parse(text)
    assert BillingKey.parse_or_none(text) is None
    assert BillingKey.parse_or_none(None) is None


moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2999, 12, 30), timezones=st.just(UTC)
)


@given(at=moments, amount=st.decimals(min_value=0, max_value=10**9, places=4), sub=st.uuids(), charge=st.uuids())
def test_every_key_reads_back_as_built(at: datetime, amount: Decimal, sub: uuid.UUID, charge: uuid.UUID) -> None:
    for key in (
        BillingKey.billing_date(at),
        BillingKey.billing_date(at).voided(charge),
        BillingKey.upgrade(sub, at),
        BillingKey.threshold(sub, at, amount),
        BillingKey.advance(sub, at, charge, amount),
    ):
        assert BillingKey.parse(str(key)) == key
        assert str(BillingKey.parse(str(key))) == str(key)
