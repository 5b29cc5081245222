"""Which invoice belongs to which billing date: billing keys, built and read in one place.

A customer has at most one invoice per billing key (a unique index), which is what makes billing
idempotent: a second or concurrent run finds the key taken and makes nothing. The stored forms:

- `2026-03-01T00:00:00+00:00`: the subscription invoice of a billing date (UTC, ISO 8601);
- `2026-03-01T00:00:00+00:00:voided:<invoice id>`: a voided billing-date invoice that was regenerated
  (the date is free again for the new one);
- `upgrade:<subscription id>:<at>`: the invoice an upgrade makes at once (the new plan's fee in advance);
- `progressive:<subscription id>:<period start>:<threshold>`: an interim invoice, a usage threshold reached;
- `progressive:<subscription id>:<period start>:advance:<charge id>:<amount>`: an interim invoice of a
  pay-in-advance charge's usage up to `amount`.

The interim forms share the prefix `progressive:<subscription id>:<period start>:` so that what a period's
interim invoices billed is found by prefix (`BillingKey.progressive_prefix`).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

VOIDED = ":voided:"
UPGRADE = "upgrade:"
PROGRESSIVE = "progressive:"
ADVANCE = "advance:"
_UTC_OFFSET = "+00:00"  # how every time in a key ends (written in UTC)


class KeyKind(enum.StrEnum):
    BILLING_DATE = "BILLING_DATE"
    VOIDED = "VOIDED"
    UPGRADE = "UPGRADE"
    THRESHOLD = "THRESHOLD"
    ADVANCE = "ADVANCE"


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("a billing key's time needs a UTC offset")
    return at.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class BillingKey:
    """One invoice's place: what kind of invoice it is and which date, subscription, charge or amount it is for."""

    kind: KeyKind
    at: datetime  # the billing date, the upgrade's time, or the start of the interim invoice's period
    subscription_id: uuid.UUID | None = None
    charge_id: uuid.UUID | None = None
    amount: Decimal | None = None  # the threshold reached, or the pay-in-advance usage billed up to
    voided_invoice_id: uuid.UUID | None = None

    # --- building ------------------------------------------------------------------------------

    @classmethod
    def billing_date(cls, at: datetime) -> BillingKey:
        return cls(KeyKind.BILLING_DATE, at.astimezone(UTC))

    @classmethod
    def upgrade(cls, subscription_id: uuid.UUID, at: datetime) -> BillingKey:
        return cls(KeyKind.UPGRADE, at.astimezone(UTC), subscription_id)

    @classmethod
    def threshold(cls, subscription_id: uuid.UUID, period_start: datetime, threshold: Decimal) -> BillingKey:
        return cls(KeyKind.THRESHOLD, period_start.astimezone(UTC), subscription_id, amount=threshold)

    @classmethod
    def advance(
        cls, subscription_id: uuid.UUID, period_start: datetime, charge_id: uuid.UUID, amount: Decimal
    ) -> BillingKey:
        return cls(KeyKind.ADVANCE, period_start.astimezone(UTC), subscription_id, charge_id, amount)

    def voided(self, invoice_id: uuid.UUID) -> BillingKey:
        """Where a regenerated billing-date invoice's voided predecessor keeps its key."""
        if self.kind is not KeyKind.BILLING_DATE:
            raise ValueError("only a billing date's key is set aside when its invoice is regenerated")
        return BillingKey(KeyKind.VOIDED, self.at, voided_invoice_id=invoice_id)

    @staticmethod
    def progressive_prefix(subscription_id: uuid.UUID, period_start: datetime) -> str:
        """What the keys of every interim invoice of one subscription period start with."""
        return f"{PROGRESSIVE}{subscription_id}:{_iso(period_start)}:"

    @staticmethod
    def advance_prefix(subscription_id: uuid.UUID, period_start: datetime, charge_id: uuid.UUID) -> str:
        """What the keys of one pay-in-advance charge's interim invoices of a period start with."""
        return f"{BillingKey.progressive_prefix(subscription_id, period_start)}{ADVANCE}{charge_id}:"

    def __str__(self) -> str:
        match self.kind:
            case KeyKind.BILLING_DATE:
                return _iso(self.at)
            case KeyKind.VOIDED:
                return f"{_iso(self.at)}{VOIDED}{self.voided_invoice_id}"
            case KeyKind.UPGRADE:
                return f"{UPGRADE}{self.subscription_id}:{_iso(self.at)}"
            case KeyKind.THRESHOLD:
                assert self.subscription_id is not None
                return f"{self.progressive_prefix(self.subscription_id, self.at)}{self.amount}"
            case KeyKind.ADVANCE:
                assert self.subscription_id is not None and self.charge_id is not None
                return f"{self.advance_prefix(self.subscription_id, self.at, self.charge_id)}{self.amount}"
        raise AssertionError(self.kind)

    # --- reading -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> BillingKey:
        """The key a stored `billing_key` stands for; ValueError when it is none of the forms."""
        if text.startswith(UPGRADE):
            subscription, at = text[len(UPGRADE) :].split(":", 1)
            return cls.upgrade(uuid.UUID(subscription), _parse_time(at))
        if text.startswith(PROGRESSIVE):
            subscription, rest = text[len(PROGRESSIVE) :].split(":", 1)
            # the period start is a UTC time with colons of its own: it ends at its offset
            at, rest = rest.split(_UTC_OFFSET + ":", 1)
            period_start = _parse_time(at + _UTC_OFFSET)
            if rest.startswith(ADVANCE):
                charge, amount = rest[len(ADVANCE) :].split(":", 1)
                return cls.advance(uuid.UUID(subscription), period_start, uuid.UUID(charge), Decimal(amount))
            return cls.threshold(uuid.UUID(subscription), period_start, Decimal(rest))
        if VOIDED in text:
            date, invoice = text.split(VOIDED, 1)
            return cls.billing_date(_parse_time(date)).voided(uuid.UUID(invoice))
        return cls.billing_date(_parse_time(text))

    @classmethod
    def parse_or_none(cls, text: str | None) -> BillingKey | None:
        if text is None:
            return None
        try:
            return cls.parse(text)
        except (ValueError, ArithmeticError):
            return None


def _parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"a billing key's time needs a UTC offset: {text!r}")
    return at
